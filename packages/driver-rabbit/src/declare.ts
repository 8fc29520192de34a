/**
 * Declaring exchanges and queues, so that a newcomer gets a message through
 * without creating them by hand: opt in with `declare=true` on a URL, the
 * `declare` option of a constructor, or call {@link declareRabbitTopology}.
 * Declarations are idempotent; one that conflicts with what exists (another
 * exchange type, another durability) fails with FailedPrecondition (406).
 */

import { invalidArgument, toPubSubError } from "@portable-pubsub/core/driver";
import type { Channel } from "amqplib";
import type { RabbitConnection } from "./amqp/connection.js";
import type { RabbitConnectionSettings } from "./amqp/settings.js";
import { connectionFor } from "./amqp/shared.js";
import { rabbitErrors, refusal } from "./errors.js";

/** What to declare. */
export interface TopologyDeclaration {
  /** An exchange for a topic. */
  exchange?: ExchangeDeclaration;
  /** A queue for a subscription, optionally bound to an exchange (which is declared too). */
  queue?: QueueDeclaration;
}

/** An exchange to declare: its name, type and durability. */
export interface ExchangeDeclaration {
  name: string;
  /** "topic" (default), "fanout", "direct" or "headers". */
  type?: string;
  /** Survives broker restarts. Default true. */
  durable?: boolean;
}

/**
 * The kinds of RabbitMQ queue: `classic` lives on one node (lost with it on a
 * cluster); `quorum` is replicated over the cluster's nodes with Raft and
 * counts deliveries (`x-delivery-count`); `stream` is a replicated append-only
 * log whose messages stay after they are acked.
 */
export type QueueType = "classic" | "quorum" | "stream";
const QUEUE_TYPES: readonly string[] = ["classic", "quorum", "stream"] satisfies QueueType[];

/** A queue to declare, and the exchange to bind it to. */
export interface QueueDeclaration {
  name: string;
  /** Survives broker restarts (with persistent messages, so do its messages). Default true; quorum and stream queues must be durable. */
  durable?: boolean;
  /** The queue type (`x-queue-type`). Default: the broker's default, a classic queue. */
  type?: QueueType;
  /** Bind the queue to this exchange, declaring the exchange as `exchangeType`. */
  bindTo?: string;
  /** The binding key. Default "#": every message of a topic exchange (fanout ignores keys). */
  bindingKey?: string;
  /** The type of the `bindTo` exchange, if it has to be created. Default "topic". */
  exchangeType?: string;
}

/**
 * Runs `declaration` on `channel`. A refusal is a RabbitError of role
 * "declare" that names what was declared (a conflict, 406, says to match the
 * existing settings), since it may not be the resource of the driver.
 */
export async function declareOn(channel: Channel, declaration: TopologyDeclaration): Promise<void> {
  const { exchange, queue } = declaration;
  const queueArguments = queue && argumentsOf(queue);
  try {
    if (exchange) {
      await channel.assertExchange(exchange.name, exchange.type ?? "topic", { durable: exchange.durable ?? true });
    }
    if (queue) {
      await channel.assertQueue(queue.name, { durable: queue.durable ?? true, arguments: queueArguments });
      if (queue.bindTo !== undefined) {
        await channel.assertExchange(queue.bindTo, queue.exchangeType ?? "topic", { durable: true });
        await channel.bindQueue(queue.name, queue.bindTo, queue.bindingKey ?? "#");
      }
    }
  } catch (err) {
    throw refusal(err, "declare", `declaring ${describe(declaration)}`);
  }
}

/**
 * The queue's declare arguments. Throws InvalidArgument for a replicated
 * queue that is not durable (the broker would refuse it with a 406 that
 * names neither option).
 */
export function argumentsOf(queue: QueueDeclaration): Record<string, unknown> | undefined {
  if (queue.type === undefined) return undefined;
  if (!QUEUE_TYPES.includes(queue.type)) {
    throw invalidArgument(
      `rabbit: queue "${queue.name}": unknown queue type "${queue.type}"; use ${QUEUE_TYPES.join(", ")}`,
    );
  }
  if (queue.type !== "classic" && queue.durable === false) {
    throw invalidArgument(
      `rabbit: queue "${queue.name}": a ${queue.type} queue is always durable; drop durable: false`,
    );
  }
  return { "x-queue-type": queue.type };
}

function describe({ exchange, queue }: TopologyDeclaration): string {
  const what = [exchange && `exchange "${exchange.name}"`, queue && `queue "${queue.name}"`];
  return what.filter(Boolean).join(" and ");
}

/**
 * Declares exchanges, queues and bindings on a short-lived channel, through
 * `target` (a connection of yours, or settings for the shared one).
 * Declarations are idempotent. Rejects with a PubSubError: FailedPrecondition
 * when one conflicts with what exists, PermissionDenied without configure
 * permission, or the connection's error.
 *
 * ```ts
 * await declareRabbitTopology({}, { exchange: { name: "orders" }, queue: { name: "billing", bindTo: "orders" } });
 * ```
 */
export async function declareRabbitTopology(
  target: RabbitConnection | RabbitConnectionSettings,
  declaration: TopologyDeclaration,
): Promise<void> {
  // Declaring on a consuming connection: a publishing one may be blocked by an alarm, and then reads nothing.
  const { connection, owned } = connectionFor(target, "consume");
  try {
    const channel = await (await connection.model()).createChannel();
    channel.on("error", () => {});
    try {
      await declareOn(channel, declaration);
    } finally {
      await channel.close().catch(() => {});
    }
  } catch (err) {
    // No Topic or Subscription stands between this helper and its caller: core's mapping is applied here.
    const about = { resource: `rabbit topology on ${connection.display}`, errors: rabbitErrors, close: async () => {} };
    throw toPubSubError(about, err, "declare");
  } finally {
    if (owned) await connection.release();
  }
}
