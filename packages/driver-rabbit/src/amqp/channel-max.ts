/**
 * channel_max: a connection carries at most that many channels (RabbitMQ's
 * default 2047, lower with `?channelMax=N`). Shared connections are pooled
 * so that a full one is never asked for another channel (see shared.ts);
 * this is what a channel that still cannot be allocated becomes: a final
 * ResourceExhausted that says what to do, instead of amqplib's plain
 * "No channels left to allocate", which looks retryable and would be
 * retried for ever.
 */
import { ErrorCode } from "@portable-pubsub/core/driver";
import type { ChannelModel } from "amqplib";
import { RabbitError } from "../errors.js";

/** RabbitMQ's default channel_max, assumed for a connection until its handshake says otherwise. */
export const DEFAULT_CHANNEL_MAX = 2047;

/** True for amqplib's error when every channel number of the connection is in use. */
export function isChannelMaxError(err: unknown): boolean {
  return err instanceof Error && err.message === "No channels left to allocate";
}

/** The negotiated channel_max of an open amqplib connection. */
export function channelMaxOf(model: ChannelModel): number | undefined {
  return (model.connection as unknown as { channelMax?: number }).channelMax;
}

/** The error for a channel that cannot be opened because `model` has no channel number left. */
export function channelsExhausted(model: ChannelModel, display: string): RabbitError {
  const max = channelMaxOf(model) ?? DEFAULT_CHANNEL_MAX;
  return new RabbitError(
    `all ${max} channels of the connection to ${display} are in use (channel_max ${max}): ` +
      "each topic and subscription takes one; give this one a connection of its own (connectRabbit), " +
      "or raise channelMax in the server URL and channel_max on the broker",
    { portable: ErrorCode.ResourceExhausted, retryable: false },
  );
}
