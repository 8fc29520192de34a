/**
 * fast-check generators of the values a caller hands over: option values
 * right and wrong, portable options, bodies, metadata and call options.
 */
import * as vm from "node:vm";
import fc from "fast-check";

/** What an option may be given as, right or wrong. */
export const optionValue = fc.constantFrom<unknown>(
  undefined,
  1,
  0,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  "5",
  "1s",
  "",
  null,
  true,
  {},
  [],
);

/** Values valid for a count or delay option, small enough to keep calls quick. */
const validValue = fc.constantFrom<unknown>(undefined, 1, 2, 5, 100);

type Shape = Record<string, fc.Arbitrary<unknown>>;

const portableShape = (value: fc.Arbitrary<unknown>): Record<"topic" | "subscription" | "both", Shape> => ({
  topic: {
    batching: fc.record(
      { maxBatchSize: value, maxBatchBytes: value, maxConcurrentBatches: value, lingerMs: value },
      { requiredKeys: [] },
    ),
    maxPendingSends: value,
  },
  subscription: {
    ackBatching: fc.record({ maxBatchSize: value, lingerMs: value }, { requiredKeys: [] }),
    maxReceiveBatchSize: value,
  },
  both: {
    retry: fc.record({ initialDelayMs: value, maxDelayMs: value, maxAttempts: value }, { requiredKeys: [] }),
    shutdownTimeoutMs: value,
  },
});

/**
 * Portable options of a Topic or Subscription: mostly valid ones (so that
 * what follows the open is exercised too), otherwise any value anywhere, and
 * now and then the other kind's options, which the driver must reject.
 */
export function portableOptions(kind: "topic" | "subscription"): fc.Arbitrary<Record<string, unknown>> {
  const valid = portableShape(validValue);
  const hostile = portableShape(optionValue);
  const other = kind === "topic" ? "subscription" : "topic";
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ ...valid[kind], ...valid.both }, { requiredKeys: [] }) },
    {
      weight: 2,
      arbitrary: fc.record(
        { ...hostile[kind], ...hostile.both, tracing: fc.constantFrom<unknown>({}, { propagate: "yes" }, null) },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: fc.record(valid[other], { requiredKeys: [] }) },
  );
}

const otherRealm = vm.runInNewContext("new Uint8Array([1, 2, 3])") as Uint8Array;

/** Bodies of every kind a caller could pass. */
export const body = fc.oneof(
  { weight: 3, arbitrary: fc.string() },
  { weight: 3, arbitrary: fc.string({ unit: "binary" }) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  fc.constantFrom<unknown>(
    "",
    "\ud800",
    null,
    undefined,
    42,
    {},
    [],
    Buffer.from("buffer"),
    new ArrayBuffer(4),
    new DataView(new ArrayBuffer(2)),
    new SharedArrayBuffer(4),
    new Uint16Array([1, 2]),
    otherRealm,
    new String("boxed"),
  ),
);

const throwing = Object.defineProperty({}, "k", {
  enumerable: true,
  get() {
    throw new Error("getter threw");
  },
});

/** Metadata of every kind a caller could pass. */
export const metadata = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 4 }),
  },
  fc.dictionary(fc.string({ unit: "binary", maxLength: 4 }), fc.string({ unit: "binary", maxLength: 4 }), {
    maxKeys: 2,
  }),
  fc.constantFrom<unknown>(
    undefined,
    null,
    "text",
    [],
    new Map([["k", "v"]]),
    new Date(0),
    new String("s"),
    { "": "empty key" },
    { k: 1 },
    { k: null },
    { k: "\udc00" },
    Object.assign(Object.create(null), { k: "v" }),
    throwing,
  ),
);

/** The options of one call (send, receive, shutdown): mostly right, sometimes wrong. */
export const callOptions = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom<() => unknown>(
      () => undefined,
      () => ({}),
      () => ({ signal: undefined }),
      () => ({ signal: AbortSignal.timeout(500) }),
    ),
  },
  fc.constantFrom<() => unknown>(
    () => ({ signal: {} }),
    () => ({ signal: "x" }),
    () => null,
    () => 5,
    () => ({ signal: AbortSignal.abort() }),
    () => ({ signal: AbortSignal.timeout(1) }),
  ),
);
