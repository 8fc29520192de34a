import { describeUrl, invalidArgument } from "@portable-pubsub/core/driver";
import { aboutOf, openTopicAt, parseUrl, schemeOf } from "../drivers.js";
import { aloneInProcess, inProcessNote } from "../hints.js";
import { note, readStdin, withShutdown, writeOut } from "../io.js";

export interface SendOptions {
  metadata: Record<string, string>;
  lines: boolean;
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
  const bodies = await bodiesToSend(bodyArg, options.lines);
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
        return t.send({ body, metadata: options.metadata }, { signal });
      }),
    ),
  );
  const caution = inProcessNote(schemeOf(url), about);
  if (caution) note(`pubsub: note: ${caution}`);
  const count = bodies.length === 1 ? "1 message" : `${bodies.length} messages`;
  await writeOut(`sent ${count} (${bytes} bytes) to ${describeUrl(url)}\n`);
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
