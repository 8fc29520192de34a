import { Readable } from "node:stream";
import { afterEach, vi } from "vitest";
import { runCli } from "../src/program.js";

/** What the last in-process run wrote. */
export const output = { stdout: [] as string[], stderr: [] as string[] };

/**
 * Runs `pubsub ...args` in this process, capturing stdout and stderr: for
 * what a child process cannot show, such as mem:// shared with the test.
 */
export async function cli(...args: string[]): Promise<number> {
  return cliWithInput(undefined, ...args);
}

/** As {@link cli}, with `input` as the command's stdin (a pipe that ends after it). */
export async function cliWithInput(input: string | Uint8Array | undefined, ...args: string[]): Promise<number> {
  if (input !== undefined) {
    const stdin = Readable.from([typeof input === "string" ? Buffer.from(input) : Buffer.from(input)]);
    vi.spyOn(process, "stdin", "get").mockReturnValue(stdin as typeof process.stdin);
  }
  output.stdout = [];
  output.stderr = [];
  const out = vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array, cb?: () => void) => {
    output.stdout.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("latin1"));
    if (typeof cb === "function") cb();
    return true;
  }) as typeof process.stdout.write);
  const err = vi.spyOn(process.stderr, "write").mockImplementation(((chunk: string | Uint8Array) => {
    output.stderr.push(String(chunk));
    return true;
  }) as typeof process.stderr.write);
  try {
    return await runCli(["node", "pubsub", ...args]);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/**
 * Runs `run` with stdout and stderr taken for terminals (`isTTY`), as they are when a person runs the command,
 * with the capture of {@link cli}.
 */
export async function onTerminal<T>(run: () => Promise<T>): Promise<T> {
  const streams = [process.stdout, process.stderr];
  const before = streams.map((stream) => Object.getOwnPropertyDescriptor(stream, "isTTY"));
  for (const stream of streams) Object.defineProperty(stream, "isTTY", { value: true, configurable: true });
  try {
    return await run();
  } finally {
    streams.forEach((stream, i) => {
      const descriptor = before[i];
      if (descriptor) Object.defineProperty(stream, "isTTY", descriptor);
      else delete (stream as { isTTY?: boolean }).isTTY;
    });
  }
}

afterEach(() => vi.restoreAllMocks());
