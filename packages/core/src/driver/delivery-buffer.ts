import type { DriverMessage } from "./driver.js";
import { Notices } from "./notices.js";
import { WakeUp } from "./wakeup.js";

/** The ackId a {@link DeliveryBuffer} gives a message: its connection's generation and the broker's own id. */
export interface BufferedAckId<T> {
  /** Which connection delivered it: ids of an earlier one are stale. */
  readonly generation: number;
  /** The broker's id of the delivery (a delivery tag, a packet id), valid on that connection only. */
  readonly id: T;
}

/**
 * The receive buffer of a push-style driver, whose broker pushes messages
 * down a connection and knows their ids only on that connection (AMQP
 * delivery tags, MQTT packet ids). The driver `push`es each delivery;
 * `receiveBatch` `take`s them. When the connection drops, the driver calls
 * `disconnected()`: what is buffered is dropped (the broker delivers it
 * again) and the ids of every earlier delivery go stale. `claim` turns the
 * ackIds core settles into broker ids to send on the current connection,
 * leaving out stale ones (sent on a new connection, an unknown id can make
 * the broker close it) and ones settled already; `notices` reports how
 * many were dropped, an info event `pubsub.stale_acks_dropped`.
 */
export class DeliveryBuffer<T> {
  /** Events for the application's logger: give it as the driver's `notices`. */
  readonly notices = new Notices();
  readonly #arrived = new WakeUp();
  #buffer: DriverMessage[] = [];
  #head = 0;
  #generation = 0;
  /** Deliveries claimed already: a second ack or nack of one id is an error on some brokers. */
  /** Settled ackIds not made by `ackIdFor` (those carry the mark themselves). */
  readonly #settledForeign = new WeakSet<object>();
  readonly #carrier: string;

  /**
   * `options.carrier` names what delivery ids belong to, in the notice: "connection" by default, "channel"
   * for AMQP, whose delivery tags die with their channel.
   */
  constructor(options: { carrier?: string } = {}) {
    this.#carrier = options.carrier ?? "connection";
  }

  /** The current connection's generation; 0 until the first `disconnected()`. */
  get generation(): number {
    return this.#generation;
  }

  /** How many messages wait to be taken. */
  get size(): number {
    return this.#buffer.length - this.#head;
  }

  /** Buffers a delivery of the current connection, with broker id `id`, and wakes a waiting `take`. */
  push(message: Omit<DriverMessage, "ackId">, id: T): void {
    this.add({ ...message, ackId: this.ackIdFor(id) });
  }

  /**
   * The ackId of a delivery of the current connection with broker id `id`,
   * for a driver that builds the message itself and then `add`s it (no copy
   * of the message, as `push` makes).
   */
  ackIdFor(id: T): BufferedAckId<T> {
    return new MarkedAckId(this.#generation, id);
  }

  /** Whether `ackId` was claimed already. */
  #isSettled(ackId: object): boolean {
    return MarkedAckId.isMarked(ackId) ?? this.#settledForeign.has(ackId);
  }

  /** Marks `ackId` claimed: on the ackId itself when it is ours, since a WeakSet per delivery costs the collector. */
  #markSettled(ackId: object): void {
    if (!MarkedAckId.mark(ackId)) this.#settledForeign.add(ackId);
  }

  /** Buffers `message`, whose ackId came from `ackIdFor` on this connection, and wakes a waiting `take`. */
  add(message: DriverMessage): void {
    this.#buffer.push(message);
    this.#arrived.wakeAll();
  }

  /**
   * Up to `max` buffered messages, in delivery order; when none is
   * buffered, waits for one at most `waitMs` or until `signal` fires (or
   * `wake()`), and returns what came, maybe none.
   */
  take(max: number, waitMs: number, signal: AbortSignal): Promise<DriverMessage[]> {
    // Without an async function's promises when messages are here already, as they mostly are under load.
    if (this.size > 0) return Promise.resolve(this.#takeNow(max));
    return this.#arrived.wait(waitMs, signal).then(() => this.#takeNow(max));
  }

  #takeNow(max: number): DriverMessage[] {
    const end = Math.min(this.#buffer.length, this.#head + max);
    const batch = this.#buffer.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#buffer.length) this.#clear();
    return batch;
  }

  /** Ends a waiting `take` at once (the driver has a failure to report). */
  wake(): void {
    this.#arrived.wakeAll();
  }

  /**
   * The connection dropped (or a new one replaces it): drops what is
   * buffered, which the broker delivers again, and makes the ackIds of all
   * earlier deliveries stale.
   */
  disconnected(): void {
    this.#generation++;
    this.#clear();
    this.#arrived.wakeAll();
  }

  /**
   * The broker ids of `ackIds` to settle on the current connection: those
   * it delivered and not claimed before, each once. Stale ones are left
   * out and counted in a notice.
   */
  claim(ackIds: readonly unknown[]): T[] {
    const ids: T[] = [];
    let stale = 0;
    for (const ackId of ackIds) {
      const { generation, id } = ackId as BufferedAckId<T>;
      if (generation !== this.#generation) stale++;
      else if (!this.#isSettled(ackId as object)) {
        this.#markSettled(ackId as object);
        ids.push(id);
      }
    }
    if (stale > 0 && this.notices.listened) {
      this.notices.emit({
        level: "info",
        event: "pubsub.stale_acks_dropped",
        message: `${stale} acks or nacks dropped: their ${this.#carrier} closed, and the broker delivers those messages again`,
        fields: { count: stale },
      });
    }
    return ids;
  }

  /** True while the delivery of `ackId` can be settled: of the current connection, and not claimed yet. */
  holds(ackId: unknown): boolean {
    return (ackId as BufferedAckId<T>).generation === this.#generation && !this.#isSettled(ackId as object);
  }

  /** Empties the buffer (at close) and returns what it held, for the driver to hand back. */
  drain(): DriverMessage[] {
    const rest = this.#buffer.slice(this.#head);
    this.#clear();
    this.#arrived.wakeAll();
    return rest;
  }

  #clear(): void {
    this.#buffer = [];
    this.#head = 0;
  }
}

/**
 * An ackId made by `ackIdFor`, which carries whether it was claimed, in a
 * private field: its visible shape stays `{ generation, id }`.
 */
class MarkedAckId<T> implements BufferedAckId<T> {
  #settled = false;
  constructor(
    readonly generation: number,
    readonly id: T,
  ) {}

  /** Whether `ackId` was claimed; undefined if it is not a MarkedAckId. */
  static isMarked(ackId: object): boolean | undefined {
    return #settled in ackId ? (ackId as MarkedAckId<unknown>).#settled : undefined;
  }

  /** Marks `ackId` claimed; false if it is not a MarkedAckId. */
  static mark(ackId: object): boolean {
    if (!(#settled in ackId)) return false;
    (ackId as MarkedAckId<unknown>).#settled = true;
    return true;
  }
}
