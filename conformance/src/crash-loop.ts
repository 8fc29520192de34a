import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Message, Subscription } from "@portable-pubsub/core";
import { expect } from "vitest";

/** What {@link crashLoop} runs. */
export interface CrashLoopOptions {
  /** The subscription URL each child opens. */
  url: string;
  /** Its options (JSON only): the server, `redelivery`, and a `deadLetter` URL. */
  options: Record<string, unknown>;
  /** Where the driver package resolves from: the child runs there (the URL mux resolves drivers from the working directory). */
  cwd: string;
  /** Reads the dead-letter topic. */
  deadLetters: Subscription;
  /** Most children to start before giving up. Default 30. */
  maxRuns?: number;
  /** Most time one child may take to receive and die, in ms. Default 20,000. */
  runTimeoutMs?: number;
}

/** What a crash loop saw. */
export interface CrashLoopResult {
  /** The `deliveryAttempt` of each delivery a handler got (each then killed its process). */
  deliveries: (number | undefined)[];
  /** The dead letter, once one arrived (acked). */
  deadLetter: Message;
  /** Children started. */
  runs: number;
}

const CHILD = fileURLToPath(new URL("./crash-child.js", import.meta.url));

/**
 * A crash loop: starts a child process that opens `url` and is killed
 * (SIGKILL) inside its handler, again and again, until a dead letter
 * arrives on `deadLetters`; then stops the last child. Rejects if no dead
 * letter came after `maxRuns` children, or a child neither died nor saw one
 * within `runTimeoutMs`.
 */
export async function crashLoop(options: CrashLoopOptions): Promise<CrashLoopResult> {
  const { maxRuns = 30, runTimeoutMs = 20_000 } = options;
  const deliveries: (number | undefined)[] = [];
  const stop = new AbortController();
  let deadLetter: Message | undefined;
  const arrived = options.deadLetters.receive({ signal: stop.signal }).then((message) => {
    message.ack();
    deadLetter = message;
  });
  arrived.catch(() => {});
  try {
    for (let run = 1; run <= maxRuns; run++) {
      const child = spawn(process.execPath, [CHILD, JSON.stringify({ url: options.url, options: options.options })], {
        cwd: options.cwd,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.stdout.on("data", (chunk: Buffer) => {
        for (const line of chunk.toString().split("\n")) {
          const match = /^delivery (\S+)$/.exec(line);
          if (match) deliveries.push(match[1] === "undefined" ? undefined : Number(match[1]));
        }
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), runTimeoutMs);
      });
      const outcome = await Promise.race([
        exited.then(() => "exited" as const),
        arrived.then(() => "dead" as const),
        timedOut,
      ]);
      clearTimeout(timer);
      if (outcome === "dead") {
        // This run dead-lettered the message: let it shut down, which sends the ack of the dead-lettered
        // message it may still hold (acks are batched); killed now, the message would stay pending.
        child.kill("SIGTERM");
        const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(kill);
      } else if (outcome === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
      if (deadLetter) return { deliveries, deadLetter, runs: run };
      if (outcome === "timeout")
        throw new Error(
          `crash loop: run ${run} neither died nor dead-lettered within ${runTimeoutMs} ms; its stderr: ${stderr}`,
        );
      if (child.signalCode !== "SIGKILL")
        throw new Error(`crash loop: run ${run} exited by itself (${child.exitCode}); its stderr: ${stderr}`);
    }
    throw new Error(`crash loop: no dead letter after ${maxRuns} runs; deliveries seen: ${deliveries.join(", ")}`);
  } finally {
    stop.abort();
  }
}

/**
 * Checks that a crash loop ended as `redelivery.maxDeliveries` says: the
 * handler ran on deliveries 1 to `maxDeliveries`, each killing its process,
 * and delivery `maxDeliveries + 1` was dead-lettered without it, with no
 * failure counted and the error that says why.
 */
export function expectEndedAtMaxDeliveries(result: CrashLoopResult, maxDeliveries: number): void {
  expect(result.deliveries).toEqual(Array.from({ length: maxDeliveries }, (_, i) => i + 1));
  const metadata = result.deadLetter.metadata;
  expect([metadata["deadletter.attempts"], metadata["deadletter.deliveries"]]).toEqual([
    "0",
    String(maxDeliveries + 1),
  ]);
  expect(metadata["deadletter.error"]).toBe(
    `delivered ${maxDeliveries + 1} times without an ack or a failure, past redelivery.maxDeliveries (${maxDeliveries}): did the process die in its handler?`,
  );
}
