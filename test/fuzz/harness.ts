/**
 * What every fuzzed call must do: settle within a second, and either succeed
 * or reject (or throw) a PubSubError with a portable code whose every text is
 * free of the passwords planted in its input. And what the whole run must
 * not do: leave an unhandled rejection or emit a process warning.
 */
import { ErrorCode, PubSubError } from "@portable-pubsub/core";
import type fc from "fast-check";
import { errorTexts, leakedSecret } from "../leaks.js";

/** The longest any one call may take. */
export const CALL_LIMIT_MS = 1000;

const codes = new Set<string>(Object.values(ErrorCode));

/** A call's outcome: its value, or the PubSubError it failed with. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: PubSubError };

/**
 * Runs `work` (sync or async) and checks the call contract; throws, failing
 * the property, when it is broken. `label` names the call in the failure.
 */
export async function bounded<T>(
  label: string,
  secrets: readonly string[],
  work: () => T | Promise<T>,
): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), CALL_LIMIT_MS);
  });
  const settled = Promise.resolve()
    .then(work)
    .then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  const result = await Promise.race([settled, late]).finally(() => clearTimeout(timer));
  if (result === "late") throw new Error(`${label}: did not settle within ${CALL_LIMIT_MS} ms`);
  if (result.ok) return result;
  const { error } = result;
  if (!(error instanceof PubSubError)) {
    throw new Error(`${label}: failed with ${errorTexts(error)[0]} instead of a PubSubError`);
  }
  if (!codes.has(error.code)) throw new Error(`${label}: code ${String(error.code)} is not portable`);
  const leaked = leakedSecret(error, secrets);
  if (leaked !== undefined)
    throw new Error(`${label}: the error shows the password ${JSON.stringify(leaked)}:\n${errorTexts(error)[0]}`);
  return { ok: false, error };
}

/**
 * Collects unhandled rejections and process warnings while a property runs.
 * `check()` lets pending callbacks run first, then throws if anything came.
 */
export class ProcessWatch {
  readonly #seen: string[] = [];
  readonly #onRejection = (reason: unknown) => this.#seen.push(`unhandled rejection: ${errorTexts(reason)[0]}`);
  readonly #onWarning = (warning: Error) => this.#seen.push(`warning: ${warning.name}: ${warning.message}`);

  start(): void {
    process.on("unhandledRejection", this.#onRejection);
    process.on("warning", this.#onWarning);
  }

  stop(): void {
    process.off("unhandledRejection", this.#onRejection);
    process.off("warning", this.#onWarning);
  }

  async check(): Promise<void> {
    // An unhandled rejection is reported after the microtasks of its turn; a warning on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    if (this.#seen.length > 0) throw new Error(this.#seen.splice(0).join("\n"));
  }
}

/** How long one fuzz test may take: a minute in CI, more in proportion with FUZZ_LONG. */
export const FUZZ_TEST_TIMEOUT_MS = 60_000 * Math.max(1, Number(process.env.FUZZ_LONG ?? 0) || 1);

/**
 * fast-check parameters: a fixed seed and `runs` in CI; with FUZZ_LONG set
 * (`pnpm fuzz`), `runs` × FUZZ_LONG runs on a random seed (or FUZZ_SEED),
 * printed so that a failure can be replayed. A failure ends the run at once
 * (no shrinking, which retries slow calls for minutes) unless FUZZ_SHRINK is set.
 */
export function fuzzParameters(name: string, runs: number): fc.Parameters<unknown> & { numRuns: number } {
  const factor = Number(process.env.FUZZ_LONG ?? 0);
  const endOnFailure = !process.env.FUZZ_SHRINK;
  if (!factor) return { seed: 20_261_130, numRuns: runs, endOnFailure };
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
  console.log(`fuzz ${name}: seed ${seed}, ${runs * factor} runs (replay with FUZZ_SEED=${seed})`);
  return { seed, numRuns: runs * factor, endOnFailure };
}

/** Counts of what the cases did, so that a test can show it was not vacuous. */
export class Coverage {
  readonly #counts = new Map<string, number>();

  count(what: string): void {
    this.#counts.set(what, this.get(what) + 1);
  }

  get(what: string): number {
    return this.#counts.get(what) ?? 0;
  }

  toString(): string {
    return [...this.#counts]
      .sort()
      .map(([what, n]) => `${what}: ${n}`)
      .join("\n");
  }
}
