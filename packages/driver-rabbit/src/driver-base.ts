/**
 * What RabbitTopicDriver and RabbitSubscriptionDriver share: the connection
 * they use (and release, if it is the shared one), its health, the error
 * classifier, and how they wait for readiness and close. Each drives one
 * {@link ChannelSession}: a ConfirmPublisher or a QueueConsumer.
 */
import type { DriverBase, DriverServer, DriverTelemetry, HealthSource } from "@portable-pubsub/core/driver";
import type { Channel } from "amqplib";
import type { RabbitConnection } from "./amqp/connection.js";
import { rabbitErrors } from "./errors.js";

/** The work of one driver on its self-healing channel. */
export interface ChannelSession<C extends Channel> {
  /** The channel in use now; undefined while it is being recovered. */
  readonly channel: C | undefined;
  /** Resolves once the channel is open and set up; rejects with what stopped it. */
  whenOpen(signal: AbortSignal): Promise<void>;
  /** Finishes the work in hand and closes the channel, within `signal`'s deadline. */
  close(signal: AbortSignal): Promise<void>;
}

/** See the module comment. */
export abstract class RabbitDriver<C extends Channel> implements DriverBase {
  readonly resource: string;
  readonly health: HealthSource;
  readonly errors = rabbitErrors;
  readonly telemetry: DriverTelemetry;
  readonly server: DriverServer;
  readonly #connection: RabbitConnection;
  readonly #owned: boolean;
  protected abstract readonly session: ChannelSession<C>;

  /**
   * `resource` names the exchange or queue in messages; `telemetry` gives
   * its name and per-message attributes to spans, with the first server's
   * address.
   */
  protected constructor(
    connection: RabbitConnection,
    owned: boolean,
    resource: string,
    telemetry: Pick<DriverTelemetry, "destination" | "messageAttributes">,
  ) {
    this.#connection = connection;
    this.#owned = owned;
    this.health = connection.health;
    this.resource = `rabbit ${resource} on ${connection.display}`;
    this.telemetry = { system: "rabbitmq", ...connection.address, ...telemetry };
    this.server = {
      broker: "RabbitMQ",
      address: connection.display,
      connectTimeoutMs: connection.settings.connectTimeoutMs,
    };
  }

  /** The connection this driver uses. */
  get connection(): RabbitConnection {
    return this.#connection;
  }

  /**
   * Resolves once the driver can work: connected, its channel open, its
   * declarations done or, without `declare`, its exchange found by a
   * passive declare (and, for a subscription, its consumer registered).
   * Rejects when the first connection fails fast, the resource is missing
   * (NotFound) or refused, or a declaration conflicts; the portable layer
   * fails it after `connectTimeoutMs`; with Canceled when `signal` fires. With `failFast: false` it
   * resolves at once: the driver waits for the broker when used.
   */
  async ready(signal: AbortSignal): Promise<void> {
    if (this.#connection.failFast) await this.session.whenOpen(signal);
  }

  /** The amqplib channel in use now; undefined while the connection is being recovered. */
  native(): C | undefined {
    return this.session.channel;
  }

  /**
   * Finishes what is in hand (outstanding confirms; a consumer's cancel),
   * closes the channel, then a shared connection with its last user. When
   * `signal` fires first, what is unfinished fails and sockets are destroyed
   * rather than waited on.
   */
  async close(signal: AbortSignal): Promise<void> {
    await this.session.close(signal);
    if (this.#owned) await this.#connection.release(signal);
  }
}
