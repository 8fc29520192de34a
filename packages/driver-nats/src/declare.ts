import type { ConsumerConfig, JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { DriverError, ErrorCode } from "@portable-pubsub/core/driver";
import { JsErrCode, natsErrors } from "./errors.js";

function errCode(err: unknown): number | undefined {
  const api = (err as { apiError?: () => { err_code?: number } }).apiError;
  return typeof api === "function" ? api.call(err).err_code : undefined;
}

/** True for JetStream's "stream not found" and "no stream matches subject". */
export function isStreamNotFound(err: unknown): boolean {
  return errCode(err) === JsErrCode.StreamNotFound;
}

/** True for JetStream's "consumer not found". */
export function isConsumerNotFound(err: unknown): boolean {
  return errCode(err) === JsErrCode.ConsumerNotFound;
}

/**
 * A stream name for a subject: the subject with the characters a stream name
 * may not hold ("." "*" ">" "/" "\" and white space) turned into "_".
 */
export function streamNameFor(subject: string): string {
  return subject.replace(/[.*>/\\\s]/g, "_");
}

/** The name of the stream that stores `subject`, or a final NotFound naming the fix. */
export async function findStream(jsm: JetStreamManager, subject: string): Promise<string> {
  try {
    return await jsm.streams.find(subject);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    throw new DriverError(`no JetStream stream stores subject "${subject}"`, ErrorCode.NotFound, {
      hint: `create a stream that covers it (nats stream add --subjects "${subject}") or open the topic with declare=true`,
      cause: err,
    });
  }
}

/**
 * Returns the stream that stores `subject`, creating stream `name` covering
 * it when none does. Another process may create it at the same moment: a
 * stream of that name that appeared meanwhile is taken as it is.
 */
export async function ensureStreamFor(
  jsm: JetStreamManager,
  subject: string,
  name: string,
  replicas?: number,
): Promise<string> {
  try {
    return await jsm.streams.find(subject);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  await ensureStream(jsm, { name, subjects: [subject], ...(replicas !== undefined ? { num_replicas: replicas } : {}) });
  return name;
}

/**
 * Creates stream `config.name` unless it exists (whatever its subjects and
 * replicas: an existing stream is left as it is). A cluster with fewer
 * servers than `num_replicas`, or a server outside any cluster, refuses the
 * stream: that is a FailedPrecondition naming the replicas asked for.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    return;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  try {
    await jsm.streams.add(config);
  } catch (err) {
    // Created by someone else meanwhile (with the same config it is not even an error).
    if (errCode(err) === JsErrCode.StreamNameInUse) return;
    throw replicasRefused(err, config.name, config.num_replicas) ?? err;
  }
}

/**
 * The server's refusal to place stream `name` on `replicas` servers (too few
 * in the cluster, or no cluster) as a message that names both, else undefined.
 */
function replicasRefused(err: unknown, name: string, replicas: number | undefined): DriverError | undefined {
  const code = errCode(err);
  if (code !== JsErrCode.NoSuitablePeers && code !== JsErrCode.ReplicasNotSupported) return undefined;
  const detail = err instanceof Error ? err.message : String(err);
  return new DriverError(
    `the server refused stream "${name}" with replicas=${replicas ?? 1}: ${detail}`,
    ErrorCode.FailedPrecondition,
    { hint: natsErrors.hint?.(err), cause: err },
  );
}

/** What a consumer created by declare=true looks like. */
export interface ConsumerDeclaration {
  /** The ack wait, ms. */
  ackWaitMs?: number;
  /** Start at the first message of the stream ("all", the default) or at messages stored from now on ("new"). */
  deliver?: "all" | "new";
  /** Only messages of this subject. */
  filterSubject?: string;
  /** Most messages delivered and not yet acked. */
  maxAckPending?: number;
}

/** Creates durable pull consumer `name` on `stream` with explicit acks unless it exists (an existing one is left as it is). */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  declaration: ConsumerDeclaration,
): Promise<void> {
  try {
    await jsm.consumers.info(stream, name);
    return;
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
  }
  const config: Partial<ConsumerConfig> = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: declaration.deliver === "new" ? DeliverPolicy.New : DeliverPolicy.All,
  };
  if (declaration.ackWaitMs !== undefined) config.ack_wait = declaration.ackWaitMs * 1_000_000;
  if (declaration.filterSubject !== undefined) config.filter_subject = declaration.filterSubject;
  if (declaration.maxAckPending !== undefined) config.max_ack_pending = declaration.maxAckPending;
  try {
    await jsm.consumers.add(stream, config);
  } catch (err) {
    const code = errCode(err);
    if (code !== JsErrCode.ConsumerNameExists && code !== JsErrCode.ConsumerAlreadyExists) throw err;
  }
}
