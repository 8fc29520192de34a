/** Small helpers for the command's streams and signals. */
import { setMaxListeners } from "node:events";
import { visibleControls } from "./format.js";

/**
 * Thrown when the reader of stdout went away (`pubsub receive ... | head -1`):
 * the command stops as a normal end, without an error line.
 */
export class OutputClosed extends Error {
  override readonly name = "OutputClosed";
}

/** Writes to stdout and resolves once the bytes are handed to the OS, so that exiting right after loses nothing. */
export function writeOut(chunk: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(chunk, (err) => {
      if (!err) resolve();
      else reject((err as NodeJS.ErrnoException).code === "EPIPE" ? new OutputClosed("stdout was closed") : err);
    });
  });
}

/**
 * Untrusted text as `stream` should get it: on a terminal, with control and invisible characters shown as
 * escapes ({@link visibleControls}; `lineBreaks` keeps `\n`), so that what a message or a broker says cannot drive
 * the operator's terminal; piped or redirected, unchanged, so that `pubsub receive > file` keeps the data.
 */
export function forTerminal(stream: { isTTY?: boolean }, text: string, options: { lineBreaks?: boolean } = {}): string {
  return stream.isTTY === true ? visibleControls(text, options) : text;
}

/** Writes one line to stderr. */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Reads all of stdin as bytes. */
export async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** An AbortSignal that fires on Ctrl-C or SIGTERM, until disposed. */
export interface Interrupt extends Disposable {
  readonly signal: AbortSignal;
}

/**
 * Listens for the first Ctrl-C (SIGINT) or SIGTERM so that a command can shut
 * down cleanly; a second one exits at once. Dispose it when the command ends
 * (`using interrupt = onInterrupt()`), so that embedding runs leave no listeners.
 */
export function onInterrupt(): Interrupt {
  const controller = new AbortController();
  // Every pending send and receive listens to it: many at once is normal here.
  setMaxListeners(0, controller.signal);
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/**
 * Runs `work` with `resource`, then shuts the resource down within
 * `timeoutMs`. A shutdown failure is reported (it may mean unsent messages or
 * acks) unless `work` already failed, whose error then wins.
 */
export async function withShutdown<R extends { shutdown(options: { signal: AbortSignal }): Promise<void> }, T>(
  resource: R,
  work: (resource: R) => Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  let result: T;
  try {
    result = await work(resource);
  } catch (err) {
    await resource.shutdown({ signal: AbortSignal.timeout(timeoutMs) }).catch(() => {});
    throw err;
  }
  await resource.shutdown({ signal: AbortSignal.timeout(timeoutMs) });
  return result;
}
