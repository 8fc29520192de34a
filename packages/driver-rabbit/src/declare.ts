/**
 * Declaring exchanges and queues, so that a newcomer gets a message through
 * without creating them by hand: opt in with `declare=true` on a URL, the
 * `declare` option of a constructor, or call {@link declareRabbitTopology}.
 * Declarations are idempotent; one that conflicts with what exists (another
 * exchange type, another durability) fails with FailedPrecondition (406).
 */
import type { Channel } from "amqplib";
import { acquireConnection, RabbitConnection } from "./connection.js";
import { describeReply, RabbitError, ReplyCode, replyCodeOf } from "./errors.js";
import { type RabbitConnectionSettings, resolveSettings } from "./settings.js";

/** What to declare. */
export interface TopologyDeclaration {
  /** An exchange for a topic. */
  exchange?: ExchangeDeclaration;
  /** A queue for a subscription, optionally bound to an exchange (which is declared too). */
  queue?: QueueDeclaration;
}

export interface ExchangeDeclaration {
  name: string;
  /** "topic" (default), "fanout", "direct" or "headers". */
  type?: string;
  /** Survives broker restarts. Default true. */
  durable?: boolean;
}

export interface QueueDeclaration {
  name: string;
  /** Survives broker restarts (with persistent messages, so do its messages). Default true. */
  durable?: boolean;
  /** Bind the queue to this exchange, declaring the exchange as `exchangeType`. */
  bindTo?: string;
  /** The binding key. Default "#": every message of a topic exchange (fanout ignores keys). */
  bindingKey?: string;
  /** The type of the `bindTo` exchange, if it has to be created. Default "topic". */
  exchangeType?: string;
}

/** Runs `declaration` on `channel`. Rejects with a RabbitError that says what conflicted. */
export async function declareOn(channel: Channel, declaration: TopologyDeclaration): Promise<void> {
  const { exchange, queue } = declaration;
  try {
    if (exchange) {
      await channel.assertExchange(exchange.name, exchange.type ?? "topic", { durable: exchange.durable ?? true });
    }
    if (queue) {
      await channel.assertQueue(queue.name, { durable: queue.durable ?? true });
      if (queue.bindTo !== undefined) {
        await channel.assertExchange(queue.bindTo, queue.exchangeType ?? "topic", { durable: true });
        await channel.bindQueue(queue.name, queue.bindTo, queue.bindingKey ?? "#");
      }
    }
  } catch (err) {
    throw declareError(declaration, err);
  }
}

function declareError(declaration: TopologyDeclaration, err: unknown): unknown {
  const code = replyCodeOf(err);
  if (code === undefined) return err;
  const what = [
    declaration.exchange && `exchange "${declaration.exchange.name}"`,
    declaration.queue && `queue "${declaration.queue.name}"`,
  ]
    .filter(Boolean)
    .join(" and ");
  const hint =
    code === ReplyCode.PreconditionFailed
      ? "; it exists with other settings (type or durability): match them, or delete it first"
      : code === ReplyCode.AccessRefused
        ? "; the user lacks configure permission (names starting with amq. are reserved)"
        : "";
  return new RabbitError(`rabbit: declaring ${what}: ${describeReply(err)}${hint}`, { cause: err, replyCode: code });
}

/**
 * Declares exchanges, queues and bindings on a short-lived channel, through
 * `target` (a connection of yours, or settings for the shared one).
 *
 * ```ts
 * await declareRabbitTopology({}, { exchange: { name: "orders" }, queue: { name: "billing", bindTo: "orders" } });
 * ```
 */
export async function declareRabbitTopology(
  target: RabbitConnection | RabbitConnectionSettings,
  declaration: TopologyDeclaration,
): Promise<void> {
  const connection = target instanceof RabbitConnection ? target : acquireConnection(resolveSettings(target));
  try {
    const channel = await (await connection.model()).createChannel();
    channel.on("error", () => {});
    try {
      await declareOn(channel, declaration);
    } finally {
      await channel.close().catch(() => {});
    }
  } finally {
    if (!(target instanceof RabbitConnection)) await connection.release();
  }
}
