import { parseDurationMs } from "@portable-pubsub/core/driver";
import { InvalidArgumentError } from "commander";

/** Commander parsers for option values; a bad value becomes one clear InvalidArgument line. */

/** A whole number ≥ `min`. */
export function integer(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected a whole number of at least ${min}, got "${value}"`);
    }
    return n;
  };
}

const SIZE = /^(\d+)\s*(b|kb|kib|k|mb|mib|m)?$/i;
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1 << 20,
  mb: 1_000_000,
  mib: 1 << 20,
};

/** A size in bytes: "128", "4KiB", "1MiB", "2kb". */
export function byteSize(min: number): (value: string) => number {
  return (value) => {
    const match = SIZE.exec(value.trim());
    const n = match ? Number(match[1]) * (SIZE_UNITS[(match[2] ?? "b").toLowerCase()] ?? 1) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(
        `expected a size of at least ${min} bytes, such as 128, 4KiB or 1MiB, got "${value}"`,
      );
    }
    return n;
  };
}

/** A positive duration, in ms: "500ms", "5s", "2m", or a number of ms. */
export function duration(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms <= 0) {
    throw new InvalidArgumentError(`expected a duration such as 500ms, 5s or 2m, got "${value}"`);
  }
  return ms;
}

/** Collects repeated `-m key=value` flags into one record. */
export function metadataEntry(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  const key = value.slice(0, eq);
  if (Object.hasOwn(previous, key)) throw new InvalidArgumentError(`metadata key "${key}" is given twice`);
  return { ...previous, [key]: value.slice(eq + 1) };
}
