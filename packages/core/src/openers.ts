/**
 * What a driver package exports so that the URL mux can open its scheme, and
 * `pubsub doctor` inspect it.
 */

import type { UrlInspector } from "./driver/inspect.js";
import type { Subscription, SubscriptionOptions } from "./subscription.js";
import type { Topic, TopicOptions } from "./topic.js";

/**
 * Opens a Topic for a URL of one scheme. `driverOptions` holds the options
 * that are not portable; the opener must validate them (an unknown one is
 * InvalidArgument). It should not wait for the broker: the mux then awaits
 * the driver's `ready`.
 */
export type TopicURLOpener = (
  url: URL,
  driverOptions: Record<string, unknown>,
  options: TopicOptions,
) => Promise<Topic>;

/** Opens a Subscription for a URL of one scheme; see {@link TopicURLOpener}. */
export type SubscriptionURLOpener = (
  url: URL,
  driverOptions: Record<string, unknown>,
  options: SubscriptionOptions,
) => Promise<Subscription>;

/**
 * Plain words about a driver's broker, for messages and `pubsub doctor`
 * advice: the driver knows them, so tools need not.
 */
export interface DriverAbout {
  /** The kind of broker, such as "RabbitMQ". */
  broker: string;
  /** Where the driver finds its server, such as "the RABBIT_SERVER_URL environment variable". */
  server: string;
  /** What a topic URL names, such as "RabbitMQ exchange". */
  topicKind: string;
  /** What a subscription URL names, such as "RabbitMQ queue". */
  subscriptionKind: string;
  /** How to create a missing topic or subscription. */
  create: string;
  /** True for a broker inside this process (mem://): another process cannot reach it. */
  inProcess?: boolean;
  /**
   * Advice for a reader of subscription `url` that received nothing, where
   * the driver knows a likely reason, such as a consumer group that starts at
   * new messages; undefined otherwise. `pubsub receive` prints it on stderr.
   */
  nothingReceived?(url: URL): string | undefined;
}

/**
 * What a driver package exports for the URL mux: its openers, and optionally
 * the doctor's inspection hook and plain words about its broker. Register
 * one by hand with `defaultURLMux().registerDriver(scheme, module, packageName)`.
 */
export interface DriverModule {
  openTopicURL?: TopicURLOpener;
  openSubscriptionURL?: SubscriptionURLOpener;
  /** Looks at the broker and resource a URL names, for `pubsub doctor`. Optional. */
  inspectURL?: UrlInspector;
  /** Plain words about the broker. Optional. */
  about?: DriverAbout;
  /**
   * The topic URL whose sends reach the subscription `subscriptionUrl` names
   * and no other, for `pubsub redrive` sending a dead letter back to the
   * subscription it failed in (its `deadletter.source`). Optional. It must
   * return undefined where the broker cannot send to one subscription alone
   * (a send to the topic would reach every subscription of it); the command
   * then asks for an explicit target. It must not open anything.
   */
  topicURLFor?(subscriptionUrl: URL): string | undefined;
}
