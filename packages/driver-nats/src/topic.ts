import { randomBytes } from "node:crypto";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  DriverError,
  type DriverMessage,
  type DriverServer,
  type DriverTelemetry,
  ErrorCode,
  type HealthSource,
  invalidArgument,
  raceSignal,
  StoredMessages,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import { encodeMetadata } from "./codec.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, NatsLink } from "./connection.js";
import { ensureStreamFor, findStream, streamNameFor } from "./declare.js";
import { ConnectionLostError, natsErrors } from "./errors.js";
import { splitHostPort } from "./server.js";

/** How a topic publishes. */
export interface NatsTopicSettings {
  /**
   * Have `ready` create a stream covering the subject when none does (named
   * `stream`). Default false: `ready` fails with NotFound.
   */
  declare?: boolean;
  /** The name of the stream `declare` creates. Default: the subject with "." "*" ">" turned into "_". */
  stream?: string;
  /** How long to wait for a PubAck before the send fails (and core retries it). Default 5000 ms. */
  requestTimeoutMs?: number;
}

/** Options of {@link openNatsTopic}: the portable ones and the topic's. */
export interface NatsTopicOptions extends TopicOptions, NatsTopicSettings {}

/**
 * The Nats-Msg-Id of a message that has no id (a driver used without core,
 * which gives every message one): a random prefix per topic and a counter.
 */
function idPrefix(): string {
  return `${randomBytes(9).toString("base64url")}-`;
}

/**
 * Publishes to one subject through JetStream. A message's id is its
 * Nats-Msg-Id, the same when core retries its batch and when the driver
 * publishes again after a lost connection, so that the stream stores a
 * message once even when its first PubAck was lost, and so that JetStream's
 * duplicate window drops a message sent again with the same id.
 */
export class NatsTopicDriver implements TopicDriver {
  readonly resource: string;
  readonly errors = natsErrors;
  readonly health: HealthSource;
  readonly server: DriverServer;
  readonly telemetry: DriverTelemetry;
  readonly subject: string;
  readonly #link: NatsLink;
  readonly #settings: NatsTopicSettings;
  readonly #timeout: number;
  readonly #prefix = idPrefix();
  #counter = 0;
  #js: { nc: NatsConnection; js: JetStreamClient } | undefined;
  /** Ids given to messages of batches that failed, so that core's retry sends them with the same id. */
  readonly #ids = new WeakMap<DriverMessage, string>();
  /** Messages of failed batches whose PubAck came: a retry of their batch does not publish them again. */
  readonly #stored = new StoredMessages();

  /** `link` is the connection: `NatsLink.of(nc)` for yours (left open at close). */
  constructor(link: NatsLink, subject: string, settings: NatsTopicSettings = {}) {
    if (
      subject === "" ||
      /[\s*>]/.test(subject) ||
      subject.startsWith(".") ||
      subject.endsWith(".") ||
      subject.includes("..")
    ) {
      throw invalidArgument(
        `nats: "${subject}" is not a subject one can publish to: it must be non-empty tokens separated by ".", without white space or the wildcards "*" and ">"`,
      );
    }
    this.#link = link;
    this.subject = subject;
    this.#settings = settings;
    this.#timeout = settings.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.resource = `nats subject "${subject}"`;
    this.health = link.health;
    this.server = link.server;
    this.telemetry = {
      system: "nats",
      destination: subject,
      ...splitHostPort(link.display.split(",")[0]?.replace(/^[a-z]+:\/\//, "")),
    };
  }

  /**
   * Resolves once connected and a stream stores the subject: found, or with
   * `declare`, created. Rejects with NotFound when none does.
   */
  async ready(signal: AbortSignal): Promise<void> {
    const nc = await this.#link.connection(signal);
    const jsm = await this.#manager(nc);
    if (this.#settings.declare) {
      await ensureStreamFor(jsm, this.subject, this.#settings.stream ?? streamNameFor(this.subject));
    } else {
      await findStream(jsm, this.subject);
    }
  }

  /** A message over the server's max_payload fails alone, before batching (once connected, when the limit is known). */
  checkMessage(message: DriverMessage): void {
    const max = this.#link.current?.info?.max_payload;
    if (max === undefined) return;
    let size = message.body.byteLength + 64;
    for (const key in message.metadata) size += key.length + (message.metadata[key] as string).length + 4;
    if (size > max) {
      throw invalidArgument(
        `send to ${this.resource}: the message is ${message.body.byteLength} bytes, and with its headers more than the server's max_payload of ${max} bytes; send a smaller one or raise max_payload`,
      );
    }
  }

  /**
   * Publishes every message of the batch at once and returns when each has
   * its PubAck. When the connection drops meanwhile, the PubAcks still due
   * will not come: the driver waits for the reconnect and publishes those
   * messages again, with the same Nats-Msg-Id, so that the stream stores
   * each once (as a confirm-based publisher re-sends what a lost channel had
   * in flight). A real failure (no stream, a limit, a timeout) fails the
   * batch; when core retries it, the messages whose PubAck came are not
   * sent again.
   */
  async sendBatch(messages: DriverMessage[], signal: AbortSignal): Promise<void> {
    let batch = this.#stored.unstored(messages);
    if (batch.length === 0) return;
    let ids = batch.map((m) => m.id ?? this.#ids.get(m) ?? this.#prefix + (this.#counter++).toString(36));
    for (;;) {
      const nc = await this.#link.connected(signal);
      const round = await this.#publish(this.#client(nc), batch, ids, this.#link.lost, signal);
      const unacked = round.acked.flatMap((ok, i) => (ok ? [] : [i]));
      const transient = round.failure === undefined || natsErrors.isRetryable(round.failure);
      if (round.lost && transient && unacked.length > 0) {
        this.#remember(messages, batch, ids, round.acked);
        batch = unacked.map((i) => batch[i] as DriverMessage);
        ids = unacked.map((i) => ids[i] as string);
        continue;
      }
      if (unacked.length === 0) return;
      this.#remember(messages, batch, ids, round.acked);
      throw await this.#explain(nc, round.failure ?? new ConnectionLostError());
    }
  }

  /** One round: publishes `batch`, until every PubAck or failure is in, or the connection is lost. */
  async #publish(
    js: JetStreamClient,
    batch: DriverMessage[],
    ids: string[],
    lost: Promise<never>,
    signal: AbortSignal,
  ) {
    const acked: boolean[] = new Array(batch.length).fill(false);
    let failure: unknown;
    let left = batch.length;
    const all = new Promise<void>((resolve) => {
      batch.forEach((m, i) => {
        js.publish(this.subject, m.body, {
          msgID: ids[i] as string,
          headers: encodeMetadata(m.metadata),
          timeout: this.#timeout,
        }).then(
          () => {
            acked[i] = true;
            if (--left === 0) resolve();
          },
          (err: unknown) => {
            failure ??= err;
            if (--left === 0) resolve();
          },
        );
      });
    });
    let wasLost = false;
    // A send whose signal fired stops waiting (Canceled); its PubAck may still come, and a retry has the same id.
    await raceSignal(
      Promise.race([all, lost]).catch(() => {
        wasLost = true;
      }),
      signal,
      "send",
    );
    // A snapshot: PubAcks of the lost connection that come late do not change this round's outcome.
    return { acked: acked.slice(), failure, lost: wasLost };
  }

  /** The NATS connection (undefined until connected, for a topic opened by URL). */
  native(): NatsConnection | undefined {
    return this.#link.current;
  }

  async close(signal: AbortSignal): Promise<void> {
    await this.#link.close(signal);
  }

  /**
   * For the next attempt at `messages` (this call's next round after a lost
   * connection, or core's retry): which of this attempt's `batch` were
   * stored, and the ids the others keep, so that the stream deduplicates them.
   */
  #remember(messages: DriverMessage[], batch: DriverMessage[], ids: string[], acked: boolean[]): void {
    this.#stored.record(
      messages,
      batch.filter((_, i) => acked[i]),
    );
    batch.forEach((m, i) => {
      if (!acked[i]) this.#ids.set(m, ids[i] as string);
    });
  }

  /**
   * A publish nobody answered means no stream stores the subject, or
   * JetStream is down or starting. The server says which: NotFound is
   * final; otherwise the error stays retryable.
   */
  async #explain(nc: NatsConnection, err: unknown): Promise<unknown> {
    if (!(err instanceof Error) || err.name !== "JetStreamNotEnabled" || err.cause === undefined) return err;
    if (nc.info && nc.info.jetstream === false) {
      return new DriverError(`JetStream is not enabled on ${this.#link.display}`, ErrorCode.FailedPrecondition, {
        hint: "start nats-server with -js (or jetstream {} in its configuration)",
        cause: err,
      });
    }
    try {
      await findStream(await this.#manager(nc), this.subject);
    } catch (found) {
      if (found instanceof DriverError && found.code === ErrorCode.NotFound) return found;
    }
    return new DriverError(`JetStream did not answer the publish to "${this.subject}"`, ErrorCode.Unknown, {
      retryable: true,
      hint: "it is starting or recovering; the send is retried",
      cause: err,
    });
  }

  #client(nc: NatsConnection): JetStreamClient {
    if (this.#js?.nc !== nc) this.#js = { nc, js: jetstream(nc, { timeout: this.#timeout }) };
    return this.#js.js;
  }

  #manager(nc: NatsConnection): Promise<JetStreamManager> {
    return jetstreamManager(nc, { timeout: this.#timeout, checkAPI: false });
  }
}

/**
 * Opens a topic that publishes to `subject` through `nc`, a connection you
 * own and close: the topic leaves it open at shutdown. Give the connection
 * `maxReconnectAttempts: -1` and a short `pingInterval` (see
 * `connectionOptions`), or a long outage closes it for good.
 */
export function openNatsTopic(nc: NatsConnection, subject: string, options: NatsTopicOptions = {}): Topic {
  const { declare, stream, requestTimeoutMs, ...portable } = options;
  return new Topic(new NatsTopicDriver(NatsLink.of(nc), subject, { declare, stream, requestTimeoutMs }), portable);
}
