/**
 * The one vocabulary of URL query parameters: a name that means the same
 * thing on every driver that has it, with the same values. Durations are
 * given as durations (`ackDeadline=30s`, `linger=5ms`; bare digits are
 * milliseconds) under a name without a unit; the portable option that a
 * parameter sets, if any, has the same name with `Ms` and takes a number
 * (`linger=5ms` in a URL, `batching: { lingerMs: 5 }` in options).
 */
import type { z } from "zod";

/** Every name of the vocabulary, with what it means on every driver that has it. */
export const VOCABULARY = {
  declare:
    "true: create what the URL names (and what it needs) when opening, if missing; false: it must exist, NotFound otherwise",
  ackDeadline: "how long a delivered message may stay unacked before the broker delivers it again (a duration)",
  start: "where a subscription created when opening starts: new (messages sent from now on) or all (every stored one)",
  prefetch: "how many messages the broker hands over ahead of the application's acks",
  maxWait: "how long one receive waits for messages before it returns what it has (a duration)",
  subscription: "the name of a subscription, whose consumers compete for its messages",
  maxBatchSize: "the most messages in one send batch (the portable option batching.maxBatchSize)",
  maxBatchBytes: "the most bytes in one send batch (the portable option batching.maxBatchBytes)",
  maxConcurrentBatches: "how many send batches may be in flight at once (batching.maxConcurrentBatches)",
  linger: "how long a send batch that is not full waits for more (a duration; the portable option batching.lingerMs)",
  maxReceiveBatchSize: "the most messages one receive asks the broker for (the portable option maxReceiveBatchSize)",
} as const;

/** A name of the {@link VOCABULARY}. */
export type VocabularyName = keyof typeof VOCABULARY;

/** The values of `start`, the same on every driver. */
export const START_VALUES = ["new", "all"] as const;

/**
 * What a driver's URLs take, declared once beside its schemas, so that a
 * test can hold every driver to the vocabulary: each query schema must use
 * only names of the {@link VOCABULARY} and the driver's `own` ones.
 */
export interface QueryParameters {
  /** The query schemas, by what the URL opens: `topic`, `subscription`. */
  schemas: Readonly<Record<string, z.ZodObject>>;
  /** The names only this broker gives a meaning to (`routingKey`, `maxLen`); none of them in the vocabulary. */
  own: readonly string[];
  /** Old names still accepted, mapped to their names in the vocabulary; give it to {@link parseQuery}. */
  renamed: Readonly<Record<string, VocabularyName>>;
}
