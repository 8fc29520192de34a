import { afterEach, vi } from "vitest";
import { runCli } from "../src/program.js";

/** What the last in-process run wrote. */
export const output = { stdout: [] as string[], stderr: [] as string[] };

/**
 * Runs `pubsub ...args` in this process, capturing stdout and stderr: for
 * what a child process cannot show, such as mem:// shared with the test.
 */
export async function cli(...args: string[]): Promise<number> {
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

afterEach(() => vi.restoreAllMocks());
