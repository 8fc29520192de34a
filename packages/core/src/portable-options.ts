/**
 * The portable options of Topic, Subscription and `process`, validated once
 * when they are given. A value of the wrong type or out of range (NaN, a
 * negative size, a timeout beyond what a timer can hold) is InvalidArgument
 * naming the option, never a batcher that loops for ever or a timer that
 * fires at once. Keys the portable layer does not know are left to the
 * driver, which received the same object.
 */
import { z } from "zod";
import { isStandardSchema } from "./codecs/schema.js";
import { parseOptions } from "./driver/params.js";
import { MAX_TIMER_MS } from "./driver/timers.js";
import { invalidArgument } from "./errors.js";
import { describeValue as describe } from "./outgoing-message.js";

const count = z.number().int("must be a whole number").min(1, "must be at least 1").max(Number.MAX_SAFE_INTEGER);
const delay = z.number().min(0, "must not be negative").max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms`);

const retry = z
  .object({
    initialDelayMs: delay.optional(),
    maxDelayMs: delay.optional(),
    maxAttempts: z.union([count, z.literal(Number.POSITIVE_INFINITY)]).optional(),
  })
  .strict();

const batching = z
  .object({
    maxBatchSize: count.optional(),
    maxBatchBytes: count.optional(),
    maxConcurrentBatches: count.optional(),
    lingerMs: delay.optional(),
  })
  .strict();

const logger = z.custom<unknown>(
  (value) =>
    typeof value === "object" &&
    value !== null &&
    ["info", "warn", "error"].every((level) => typeof (value as Record<string, unknown>)[level] === "function"),
  { message: "must have info, warn and error methods (pino, winston and console fit)" },
);

const schema = z.custom<unknown>(isStandardSchema, {
  message: "must be a Standard Schema v1 (a zod 4, valibot or arktype schema, for instance)",
});

const codec = z.custom<unknown>(
  (value) => {
    const c = value as Partial<Record<"contentType" | "encode" | "decode", unknown>> | null;
    return (
      typeof c === "object" &&
      c !== null &&
      typeof c.contentType === "string" &&
      c.contentType.length > 0 &&
      typeof c.encode === "function" &&
      typeof c.decode === "function"
    );
  },
  { message: "must be a codec: { contentType, encode(data), decode(body, metadata) }, such as json()" },
);

const shared = {
  schema: schema.optional(),
  codec: codec.optional(),
  retry: retry.optional(),
  logger: logger.optional(),
  shutdownTimeoutMs: delay.min(1, "must be at least 1").optional(),
};

const topicOptions = z.object({
  ...shared,
  tracing: z.object({ propagate: z.boolean().optional() }).strict().optional(),
  batching: batching.optional(),
  maxPendingSends: count.optional(),
  deadLetterTarget: z.boolean().optional(),
});

const redelivery = retry.extend({ maxDeliveries: retry.shape.maxAttempts }).strict();

/** True for an open Topic (or anything that sends and shuts down like one). */
function isTopicLike(value: unknown): boolean {
  const candidate = value as { send?: unknown; shutdown?: unknown } | null;
  return typeof candidate?.send === "function" && typeof candidate.shutdown === "function";
}

const deadLetter = z.custom<unknown>((value) => (typeof value === "string" && value.length > 0) || isTopicLike(value), {
  message: "must be a topic URL (such as rabbit://dead-letters) or an open Topic",
});

/** The longest idempotency window: a year, past which a done-mark is a record, not a dedup window. */
const MAX_WINDOW_MS = 366 * 24 * 60 * 60 * 1000;

const idempotencyStore = z.custom<unknown>(
  (value) => {
    const store = value as Partial<Record<"claim" | "complete" | "release", unknown>> | null;
    return (
      typeof store === "object" &&
      store !== null &&
      typeof store.claim === "function" &&
      typeof store.complete === "function" &&
      typeof store.release === "function"
    );
  },
  {
    message:
      "must be an idempotency store with claim, complete and release (memoryIdempotencyStore(), redisIdempotencyStore() from @portable-pubsub/driver-redis, pgIdempotencyStore() from @portable-pubsub/driver-postgres)",
  },
);

const idempotency = z
  .object({
    store: idempotencyStore,
    windowMs: z
      .number()
      .int("must be a whole number of ms")
      .min(1000, "must be at least 1000 ms")
      .max(MAX_WINDOW_MS, `must be at most ${MAX_WINDOW_MS} ms (a year)`)
      .optional(),
    leaseMs: delay.int("must be a whole number of ms").min(100, "must be at least 100 ms").optional(),
  })
  .strict();

const subscriptionOptions = z.object({
  ...shared,
  redelivery: redelivery.optional(),
  deadLetter: deadLetter.optional(),
  maxExtensionMs: delay.min(1, "must be at least 1").optional(),
  tracing: z
    .object({ propagate: z.boolean().optional(), keepContextMetadata: z.boolean().optional() })
    .strict()
    .optional(),
  ackBatching: batching.optional(),
  maxReceiveBatchSize: count.optional(),
  // Checked on its own (checkSubscriptionOptions), so that an unknown key is told among idempotency's own.
  idempotency: z
    .custom<unknown>((value) => typeof value === "object" && value !== null && !Array.isArray(value), {
      message: "must be an object: { store, windowMs?, leaseMs? }",
    })
    .optional(),
});

/** Most handlers `process` runs at once: each is a worker, and more than this is a mistake, not a workload. */
export const MAX_CONCURRENCY = 100_000;

const processOptions = z.object({
  concurrency: count.max(MAX_CONCURRENCY, `must be at most ${MAX_CONCURRENCY}`).optional(),
  onHandlerError: z.function().optional(),
});

/** Checks a Topic's portable options; throws InvalidArgument naming the bad one. */
export function checkTopicOptions(options: unknown): void {
  parseOptions(topicOptions, options, "topic");
}

/** Checks a Subscription's portable options; throws InvalidArgument naming the bad one. */
export function checkSubscriptionOptions(options: unknown): void {
  const checked = parseOptions(subscriptionOptions, options, "subscription");
  if (checked.idempotency !== undefined) parseOptions(idempotency, checked.idempotency, "subscription idempotency");
  const { maxAttempts, maxDeliveries } = checked.redelivery ?? {};
  for (const [name, limit] of [
    ["maxAttempts", maxAttempts],
    ["maxDeliveries", maxDeliveries],
  ] as const) {
    if (limit !== undefined && Number.isFinite(limit) && checked.deadLetter === undefined) {
      throw invalidArgument(
        `subscription: redelivery.${name} needs deadLetter (a topic URL or an open Topic): a message past its last attempt must go somewhere`,
      );
    }
  }
  if (
    maxAttempts !== undefined &&
    Number.isFinite(maxAttempts) &&
    maxDeliveries !== undefined &&
    maxDeliveries < maxAttempts
  ) {
    throw invalidArgument(
      `subscription: redelivery.maxDeliveries (${maxDeliveries}) must be at least redelivery.maxAttempts (${maxAttempts}): every failure is a delivery, so a message would never fail maxAttempts times`,
    );
  }
}

const nackOptions = z.object({ delayMs: delay.optional() }).strict();

/** Checks the options of `Message.nack`; throws InvalidArgument naming the bad one. */
export function checkNackOptions(options: unknown): number | undefined {
  if (options === undefined) return undefined;
  return parseOptions(nackOptions, options, "nack").delayMs;
}

/** Checks the options of `Subscription.process`; throws InvalidArgument naming the bad one. */
export function checkProcessOptions(options: unknown): void {
  parseOptions(processOptions, options, "process");
  checkSignal(options, "process");
}

/**
 * Checks the `{ signal }` of one call: a signal that is not an AbortSignal
 * would otherwise fail later, as a TypeError, after the work had started.
 */
export function checkSignal(options: unknown, operation: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) {
    throw invalidArgument(`${operation}: options must be an object such as { signal }, got ${describe(options)}`);
  }
  const signal = (options as { signal?: unknown }).signal;
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw invalidArgument(
    `${operation}: signal must be an AbortSignal (from an AbortController), got ${describe(signal)}`,
  );
}
