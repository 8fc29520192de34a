import type { Consumer, FetchOptions, JsMsg } from "@nats-io/jetstream";
import { backoffDelay, ErrorCode, HeldLeases, WakeUp } from "@portable-pubsub/core/driver";
import { natsErrors } from "./errors.js";

/**
 * How long one pull request lives (nats.js's minimum). It bounds how long
 * shutdown waits for the last pull to end before handing messages back.
 */
export const PULL_EXPIRES_MS = 1000;

/** Errors after which pulling again cannot help: the consumer or stream is gone, or access is refused. */
function isFinal(err: unknown): boolean {
  const code = natsErrors.errorCode(err);
  return code === ErrorCode.NotFound || code === ErrorCode.PermissionDenied || code === ErrorCode.FailedPrecondition;
}

/**
 * The receive buffer of one subscription, filled by pull requests (nats.js
 * `fetch`, each living at most PULL_EXPIRES_MS) for at most what the buffer
 * has room for: what this process holds stays bounded by `capacity`. A new
 * pull goes out once half the capacity is free, while the last one may
 * still be filling, so messages keep flowing without a round trip's pause.
 * Messages are taken in the fetch callbacks, in the order the connection
 * delivers them, so that two overlapping pulls cannot reorder them.
 *
 * At shutdown the pulls in flight are let end before what the buffer holds
 * is handed back: a nak sent while a pull of this puller is still open on
 * the server would be delivered right back into it, and one sent after its
 * inbox is gone, but before the server drops the pull, would wait out the
 * ack wait (nats-server 2.9 even delivers such a message twice).
 *
 * Buffered messages get `working()` every half ack wait (the kit's
 * `HeldLeases`), which restarts their ack wait on the server, so a slow
 * application does not see buffered messages delivered twice; one taken
 * more than a quarter ack wait after its last gets another as it is taken,
 * as the portable layer's first extension may come half an ack wait later.
 */
export class Receiver {
  readonly #consumer: Consumer;
  readonly #capacity: number;
  readonly #leases: HeldLeases<JsMsg>;
  readonly #arrived = new WakeUp();
  readonly #pulls = new Set<Promise<void>>();
  #buffer: JsMsg[] = [];
  #head = 0;
  /** Messages asked for by pulls in flight and not received yet. */
  #outstanding = 0;
  #failures = 0;
  #pausedUntil = 0;
  #resume: NodeJS.Timeout | undefined;
  #failure: unknown;
  #ended = false;
  #stopping = false;

  constructor(consumer: Consumer, capacity: number, ackWaitMs: number) {
    this.#consumer = consumer;
    this.#capacity = Math.max(1, capacity);
    this.#leases = new HeldLeases({
      leaseMs: () => ackWaitMs,
      extend: (msgs) => {
        for (const m of msgs) m.working();
      },
      // Only a closed or draining connection makes working() throw: the server then redelivers after the ack wait.
      onError: () => {},
    });
    this.#refill();
  }

  /** The error pulling ended with, once the buffer is empty; undefined while it runs. */
  get failure(): unknown {
    return this.#buffered() === 0 && this.#ended ? (this.#failure ?? new Error("the consumer stopped")) : undefined;
  }

  /**
   * Up to `max` buffered messages; when none is buffered, waits for one at
   * most `waitMs` or until `signal` fires, and returns what came (maybe none).
   */
  async take(max: number, waitMs: number, signal: AbortSignal): Promise<JsMsg[]> {
    if (this.#buffered() === 0 && !this.#ended) await this.#arrived.wait(waitMs, signal);
    const n = Math.min(max, this.#buffered());
    const out: JsMsg[] = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.#buffer[this.#head] as JsMsg;
      this.#buffer[this.#head++] = undefined as unknown as JsMsg;
    }
    this.#leases.handOver(out);
    if (this.#head === this.#buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    }
    if (n > 0) this.#refill();
    return out;
  }

  /**
   * Stops pulling: waits for the pulls in flight to end (at most about
   * PULL_EXPIRES_MS), then returns every message received but not taken,
   * for the caller to hand back.
   */
  async stop(): Promise<JsMsg[]> {
    this.#stopping = true;
    clearTimeout(this.#resume);
    while (this.#pulls.size > 0) await Promise.all(this.#pulls);
    this.#end();
    const rest = this.#buffer.slice(this.#head);
    this.#buffer = [];
    this.#head = 0;
    return rest;
  }

  #buffered(): number {
    return this.#buffer.length - this.#head;
  }

  #end(): void {
    this.#ended = true;
    this.#leases.stop();
    clearTimeout(this.#resume);
    this.#arrived.wakeAll();
  }

  /** Sends a pull when at least half the capacity is free (or any, with no pull in flight). */
  #refill(): void {
    if (this.#stopping || this.#ended) return;
    const wait = this.#pausedUntil - Date.now();
    if (wait > 0) {
      this.#resume ??= setTimeout(() => {
        this.#resume = undefined;
        this.#refill();
      }, wait);
      return;
    }
    const room = this.#capacity - this.#buffered() - this.#outstanding;
    if (room <= 0 || (this.#outstanding > 0 && room < this.#capacity / 2)) return;
    this.#pull(room);
  }

  #pull(n: number): void {
    this.#outstanding += n;
    let received = 0;
    const onMessage = (m: JsMsg) => {
      received++;
      this.#outstanding--;
      this.#buffer.push(m);
      this.#leases.hold(m);
      this.#arrived.wakeAll();
    };
    const pull = this.#fetch(n, onMessage).then(() => {
      this.#outstanding -= n - received;
      this.#pulls.delete(pull);
      this.#refill();
    });
    this.#pulls.add(pull);
  }

  /** One pull of `n` messages, until it ends; never rejects (a failure ends or pauses pulling). */
  async #fetch(n: number, onMessage: (m: JsMsg) => void): Promise<void> {
    try {
      // nats.js takes a callback in fetch as in consume; its types only list it for consume.
      const options = { max_messages: n, expires: PULL_EXPIRES_MS, callback: onMessage };
      const messages = await this.#consumer.fetch(options as FetchOptions);
      const err = await messages.closed();
      if (err) throw err;
      this.#failures = 0;
    } catch (err) {
      if (isFinal(err)) {
        this.#failure = err;
        this.#end();
      } else {
        // A lost connection, missed heartbeats, JetStream restarting: pull again, after a pause.
        this.#pausedUntil = Date.now() + backoffDelay(this.#failures++, 100, 2000);
      }
    }
  }
}
