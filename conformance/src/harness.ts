import type { SubscriptionDriver, TopicDriver } from "@portable-pubsub/core/driver";

/** A resource a harness created for one test, and how to remove it. */
export interface Created<D> {
  driver: D;
  /** Removes the resource (queue, topic, stream). Called once, after the test. */
  cleanup(): Promise<void>;
  /** Whatever the harness needs to find the resource again, such as its name. */
  id?: string;
}

/** A created subscription; `openConsumer` is required where capabilities say `consumerGroups`. */
export interface CreatedSubscription extends Created<SubscriptionDriver> {
  /**
   * Opens one more consumer of this same subscription. With `consumerGroups`,
   * consumers compete for its messages. Without it, give it where a consumer
   * opened after the first one shut down receives what the first left (a
   * durable session resumed, a queue reopened): the cases that only open it
   * after the first closed (ContinueAfterSubscribeClose, close while busy)
   * then run too; they are skipped where it is missing.
   */
  openConsumer?(): Promise<SubscriptionDriver>;
}

/**
 * What a driver's test file gives the conformance suite, as in the Go CDK's
 * drivertest.Harness: a way to make real resources on a real broker.
 */
export interface Harness {
  /** Creates a new, empty topic for test `testName`. */
  createTopic(testName: string): Promise<Created<TopicDriver>>;
  /**
   * Returns a driver for a topic that does not exist. Creating it must
   * succeed; its sends must fail with NotFound. Optional: leave it out where
   * the broker has no missing topics (a send to any name is accepted, as in
   * MQTT or NATS core), and the missing-topic case is skipped with that reason.
   */
  makeNonexistentTopic?(): Promise<TopicDriver>;
  /** Creates a subscription to `topic` that receives every message sent to it after this resolves. */
  createSubscription(topic: Created<TopicDriver>, testName: string): Promise<CreatedSubscription>;
  /**
   * Returns a driver for a subscription that does not exist. Creating it must
   * succeed; receiving must fail with NotFound.
   */
  makeNonexistentSubscription(): Promise<SubscriptionDriver>;
  /** Releases what the harness holds (connections, clients). */
  close?(): Promise<void>;
}

/** What the suite may expect of a driver; cases that need more are skipped with a reason. */
export interface Capabilities {
  /** The driver's name, for test titles. */
  name: string;
  /** The driver can nack (`canNack`). */
  canNack: boolean;
  /** Messages from one publisher arrive in the order sent. */
  guaranteedOrder: boolean;
  /** Several subscriptions to one topic each receive every message. */
  multipleSubscriptions: boolean;
  /**
   * Several consumers of one subscription compete for its messages: the
   * harness's `openConsumer` is then required.
   */
  consumerGroups: boolean;
  /**
   * A message that is neither acked nor nacked is delivered again after this
   * many ms (the harness creates subscriptions with this ack deadline).
   * Leave undefined where redelivery waits for a lost connection instead.
   */
  ackDeadlineMs?: number;
  /** Checks for native access: each returns true when given the driver's object of that kind. */
  native?: {
    /** True when given the driver's native topic object. */
    topic?(native: unknown): boolean;
    /** True when given the driver's native subscription object. */
    subscription?(native: unknown): boolean;
    /** True when given the driver's native message object. */
    message?(native: unknown): boolean;
  };
  /** For drivers that reconnect: the suite puts a FaultProxy between driver and broker. */
  reconnect?: ReconnectCapability;
  /** For brokers the test can restart and that keep messages across a restart (Watermill's RestartServiceCommand). */
  restart?: RestartCapability;
  /**
   * The driver's `messaging.system` (its `telemetry.system`), such as
   * "rabbitmq": the tracing case checks that spans carry it. Default
   * "portable_pubsub", what the portable layer reports for a driver that
   * does not say.
   */
  messagingSystem?: string;
  /** How long a test waits for one expected message before failing. Default 10000 ms. */
  receiveTimeoutMs?: number;
  /** How long one test may run. Default 60000 ms. */
  testTimeoutMs?: number;
}

/** How the suite reaches a broker through its fault proxy. */
export interface ReconnectCapability {
  /** The broker's real address: the proxy forwards there. */
  upstream: { host: string; port: number };
  /** Returns a harness whose drivers connect to `address` (the proxy) instead of the broker. */
  harness(address: { host: string; port: number }): Promise<Harness>;
  /** Messages the reconnect case sends. Default 2000. */
  messages?: number;
}

/** How the suite restarts the broker. */
export interface RestartCapability {
  /** Stops the broker; resolves once it is down. */
  stopBroker(): Promise<void>;
  /**
   * Starts the broker again; resolves once it accepts connections. The suite
   * calls it only after `stopBroker` has resolved, and calls `stopBroker`
   * again only after it has resolved: the two never overlap.
   */
  startBroker(): Promise<void>;
  /**
   * A harness whose topics and subscriptions survive a restart (durable
   * queues, persistent messages). Default: the main harness.
   */
  harness?(): Promise<Harness>;
  /** Messages the restart case sends. Default 3000. */
  messages?: number;
}
