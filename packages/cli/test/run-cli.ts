import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built command: tests run it as a user would, as a child process. */
export const CLI = fileURLToPath(new URL("../dist/main.js", import.meta.url));

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Starts `pubsub ...args` with `input` on stdin (closed when absent); `result` settles when it exits. */
export function startPubsub(
  args: string[],
  options: { input?: string | Uint8Array; env?: NodeJS.ProcessEnv } = {},
): { child: ChildProcessWithoutNullStreams; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const result = new Promise<CliResult>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ stdout, stderr, code }));
  });
  child.stdin.end(options.input ?? "");
  return { child, result };
}

/** Runs `pubsub ...args` to the end and collects its output. */
export function pubsub(args: string[], options: { input?: string | Uint8Array; env?: NodeJS.ProcessEnv } = {}) {
  return startPubsub(args, options).result;
}
