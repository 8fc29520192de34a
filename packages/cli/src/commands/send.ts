import { readFile } from "node:fs/promises";
import { CONTENT_TYPE_KEY, describeUrl, invalidArgument, JSON_CONTENT_TYPE } from "@portable-pubsub/core/driver";
import { aboutOf, openTopicAt, parseUrl, schemeOf } from "../drivers.js";
import { aloneInProcess, inProcessNote } from "../hints.js";
import { note, readStdin, withShutdown, writeOut } from "../io.js";

export interface SendOptions {
  /** --id: the message's id; one message only. */
  id?: string;
  metadata: Record<string, string>;
  lines: boolean;
  /** --json: the body is this JSON value, sent with content type application/json. */
  json?: string;
  /** --data-file: the body is this file's JSON, sent with content type application/json. */
  dataFile?: string;
  timeout: number;
  /** The command is alone in its process: an in-process broker is refused (see CliOptions). */
  standalone?: boolean;
}

/**
 * `pubsub send URL [BODY]`: sends BODY, or stdin when there is no BODY (all of
 * it as one message, or one message per line with --lines), and returns once
 * the broker confirmed every message.
 */
export async function send(urlText: string, bodyArg: string | undefined, options: SendOptions): Promise<void> {
  const url = parseUrl(urlText);
  const data = await jsonData(bodyArg, options);
  const bodies = data === undefined ? await bodiesToSend(bodyArg, options.lines) : [data];
  const { id } = options;
  if (id !== undefined && bodies.length !== 1) {
    throw invalidArgument(
      `send: --id names one message, and --lines read ${bodies.length}; send them without --id (each gets an id of its own)`,
    );
  }
  const metadata =
    data === undefined ? options.metadata : { ...options.metadata, [CONTENT_TYPE_KEY]: JSON_CONTENT_TYPE };
  const topic = await openTopicAt(url);
  const about = await aboutOf(url, "openTopic");
  // Checked once the URL proved valid, so that a bad one is reported as such first.
  const alone = options.standalone ? aloneInProcess("send", url, about) : undefined;
  if (alone) {
    await topic.shutdown();
    throw alone;
  }
  const signal = AbortSignal.timeout(options.timeout);
  let bytes = 0;
  await withShutdown(topic, (t) =>
    Promise.all(
      bodies.map((body) => {
        bytes += body.byteLength;
        return t.send({ id, body, metadata }, { signal });
      }),
    ),
  );
  const caution = inProcessNote(schemeOf(url), about);
  if (caution) note(`pubsub: note: ${caution}`);
  const count = bodies.length === 1 ? "1 message" : `${bodies.length} messages`;
  await writeOut(`sent ${count} (${bytes} bytes) to ${describeUrl(url)}\n`);
}

/**
 * The body of `--json VALUE` or `--data-file PATH`: the JSON value, checked,
 * as compact UTF-8 JSON (what a typed topic's json() codec sends); undefined
 * without either option.
 */
async function jsonData(bodyArg: string | undefined, options: SendOptions): Promise<Uint8Array | undefined> {
  const { json, dataFile } = options;
  if (json === undefined && dataFile === undefined) return undefined;
  const flag = json !== undefined ? "--json" : "--data-file";
  if (json !== undefined && dataFile !== undefined) throw invalidArgument("give --json or --data-file, not both");
  if (bodyArg !== undefined) throw invalidArgument(`${flag} is the body; it cannot be used with a BODY argument`);
  if (options.lines) throw invalidArgument(`${flag} sends one message; it cannot be used with --lines`);
  let text = json;
  if (dataFile !== undefined) {
    try {
      text = await readFile(dataFile, "utf8");
    } catch (err) {
      throw invalidArgument(`--data-file: cannot read ${dataFile}: ${(err as Error).message}`, err);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text as string);
  } catch (err) {
    throw invalidArgument(
      `${flag}: not valid JSON (${(err as Error).message}); quote a string value as JSON, such as '"text"'`,
      err,
    );
  }
  return new TextEncoder().encode(JSON.stringify(value));
}

async function bodiesToSend(body: string | undefined, lines: boolean): Promise<Uint8Array[]> {
  if (body !== undefined) {
    if (lines) throw invalidArgument("--lines splits stdin into messages; it cannot be used with a BODY argument");
    return [new TextEncoder().encode(body)];
  }
  if (process.stdin.isTTY) {
    throw invalidArgument("no BODY given and stdin is a terminal; pass BODY as an argument or pipe the body in");
  }
  const input = await readStdin();
  if (!lines) return [input];
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= input.length; i++) {
    if (i === input.length || input[i] === 0x0a) {
      let end = i;
      if (end > start && input[end - 1] === 0x0d) end--;
      if (end > start) out.push(input.subarray(start, end));
      start = i + 1;
    }
  }
  if (out.length === 0) throw invalidArgument("--lines: stdin has no non-empty line to send");
  return out;
}
