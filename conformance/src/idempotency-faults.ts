/**
 * The run that drivers' fault tests of the idempotent consumer share (issue
 * 25, must 2): messages with ids of their own, handled by `process` on a
 * Subscription opened with an idempotency store, while faults are injected
 * at steady points of the progress; it counts how often each id's handler ran.
 */
import { randomUUID } from "node:crypto";
import type { LogEvent, Logger, Subscription, Topic } from "@portable-pubsub/core/driver";
import { expect } from "vitest";

/** Counts the duplicates an idempotent Subscription acked without their handler: give it its `logger`. */
export class DuplicateLog {
  readonly events: LogEvent[] = [];
  readonly logger: Logger = {
    info: (e) => this.events.push(e),
    warn: (e) => this.events.push(e),
    error: (e) => this.events.push(e),
  };

  /** How many copies were acked as duplicates of done ids. */
  get duplicates(): number {
    return this.events.filter((e) => e.event === "pubsub.duplicate").length;
  }

  /** Events that say the store failed (`pubsub.idempotency_failed`). */
  get storeFailures(): LogEvent[] {
    return this.events.filter((e) => e.event === "pubsub.idempotency_failed");
  }
}

/** Options of {@link runUnderFaults}. */
export interface RunUnderFaultsOptions {
  topic: Topic;
  /** Opened with `idempotency`; processed here, and shut down by the caller. */
  subscription: Subscription;
  /** Messages to send, each with an id of its own. Default 2000. */
  total?: number;
  /** Handlers at once. Default 16. */
  concurrency?: number;
  /** Faults to inject, one each time another `total / (faults + 2)` handlers ran (a fault that hit nothing is tried again at the next run). */
  faults: number;
  /** Injects one fault (cuts connections, kills clients); resolves true if it hit anything. */
  inject(): boolean | Promise<boolean>;
  /** How long each handler takes, so that faults catch some mid-way. Default 2 ms. */
  handlerMs?: number;
  /** How long to wait for every id to run, in ms. Default 90,000. */
  timeoutMs?: number;
  /** How long no further handler may run after the last id ran, in ms: late duplicates show up in it. Default 3000. */
  quietMs?: number;
}

/** What {@link runUnderFaults} saw. */
export interface RunUnderFaultsResult {
  /** The ids sent, in order. */
  readonly ids: readonly string[];
  /** How many times each id's handler ran. */
  readonly runs: ReadonlyMap<string, number>;
  /** Faults that hit something. */
  readonly faults: number;
  /** Handler runs beyond the first of each id: what the test asserts is 0. */
  readonly duplicateRuns: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `total` messages with ids, then processes them while injecting
 * faults; resolves once every id ran and no handler ran for `quietMs`, or
 * rejects, with the counts, once `timeoutMs` passed without every id running.
 */
export async function runUnderFaults(options: RunUnderFaultsOptions): Promise<RunUnderFaultsResult> {
  const { topic, subscription, faults, inject } = options;
  const total = options.total ?? 2000;
  const handlerMs = options.handlerMs ?? 2;
  const run = randomUUID().slice(0, 8);
  const ids = Array.from({ length: total }, (_, i) => `pps-test-${run}-${i}`);
  for (let i = 0; i < total; i += 200) {
    await Promise.all(ids.slice(i, i + 200).map((id) => topic.send({ id, body: id })));
  }
  const runs = new Map<string, number>();
  // Spaced for one more fault than asked: a fault that hits nothing at first is tried again, later.
  const every = Math.floor(total / (faults + 2));
  let handled = 0;
  let lastRunAt = Date.now();
  let hits = 0;
  let nextAt = every;
  let injecting: Promise<void> | undefined;
  const processing = subscription.process(
    async (message) => {
      runs.set(message.id, (runs.get(message.id) ?? 0) + 1);
      lastRunAt = Date.now();
      // A fault that hit nothing (the connection was still being re-established) is tried again at the next run.
      if (++handled >= nextAt && hits < faults && !injecting) {
        injecting = Promise.resolve(inject())
          .then(
            (hit) => {
              if (!hit) return;
              hits++;
              nextAt = handled + every;
            },
            () => {},
          )
          .finally(() => {
            injecting = undefined;
          });
      }
      await sleep(handlerMs);
    },
    { concurrency: options.concurrency ?? 16 },
  );
  processing.catch(() => {});
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  while (runs.size < total || Date.now() - lastRunAt < (options.quietMs ?? 3000)) {
    if (Date.now() > deadline) {
      throw new Error(`after ${options.timeoutMs ?? 90_000} ms, ${runs.size} of ${total} ids ran (${hits} faults)`);
    }
    await sleep(50);
  }
  await injecting;
  let duplicateRuns = 0;
  for (const count of runs.values()) duplicateRuns += count - 1;
  return { ids, runs, faults: hits, duplicateRuns };
}

/**
 * Prints what a run saw, as `[label]`, and asserts the bar: at least
 * `minFaults` faults hit, every id ran, none ran twice, and the store never failed.
 */
export function expectEachIdRanOnce(
  result: RunUnderFaultsResult,
  log: DuplicateLog,
  label: string,
  minFaults = 5,
): void {
  console.info(
    `[${label}] ${result.ids.length} ids, ${result.faults} faults, ${log.duplicates} copies acked as duplicates, ` +
      `${result.duplicateRuns} duplicate handler runs`,
  );
  expect(result.faults).toBeGreaterThanOrEqual(minFaults);
  expect([...result.runs.keys()].sort()).toEqual([...result.ids].sort());
  expect(result.duplicateRuns).toBe(0);
  expect(log.storeFailures).toEqual([]);
}
