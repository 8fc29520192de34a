import {
  type DriverMessage,
  type DriverTelemetry,
  parseOptions,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import { z } from "zod";
import { defaultMemBroker, MEM_SYSTEM, MemBroker } from "./broker.js";

/** The driver's own options of {@link openMemTopic}; the portable ones are checked by Topic. */
const topicSettings = z.object({
  broker: z.instanceof(MemBroker).optional(),
  create: z.boolean().optional(),
  subscription: z.string().min(1).optional(),
});

/** Options of {@link openMemTopic}. */
export interface MemTopicOptions extends TopicOptions {
  /** The broker; default: the one behind `mem://` URLs. */
  broker?: MemBroker;
  /** Create the topic if it does not exist. Default true; false makes sends to a missing topic fail with NotFound. */
  create?: boolean;
  /**
   * Send to this one subscription of the topic only (`mem://TOPIC?subscription=NAME`),
   * which must exist: the open fails with NotFound otherwise. Default: every subscription.
   */
  subscription?: string;
}

/**
 * Sends to a topic of a MemBroker (or one subscription of it). Nothing here
 * can fail but a missing topic or subscription (NotFound) or a message no
 * subscription receives (FailedPrecondition), which the broker reports as
 * PubSubErrors itself: so no error classifier, and nothing is ever retried.
 */
export class MemTopicDriver implements TopicDriver {
  readonly resource: string;
  readonly telemetry: DriverTelemetry;
  readonly #broker: MemBroker;
  readonly #name: string;
  readonly #only: string | undefined;

  constructor(broker: MemBroker, name: string, only?: string) {
    this.#broker = broker;
    this.#name = name;
    this.#only = only;
    this.resource = only === undefined ? `mem topic "${name}"` : `mem subscription "${only}" of topic "${name}"`;
    this.telemetry = { system: MEM_SYSTEM, destination: name };
  }

  /** A topic for one subscription looks it up, so that a missing one fails at open with NotFound. */
  async ready(): Promise<void> {
    if (this.#only !== undefined) this.#broker.subscription(this.#name, this.#only, undefined);
  }

  async sendBatch(messages: DriverMessage[]): Promise<void> {
    this.#broker.publish(this.#name, messages, this.#only);
  }

  native(): MemBroker {
    return this.#broker;
  }

  async close(): Promise<void> {}
}

/** Opens topic `name` of an in-process broker. */
export function openMemTopic(name: string, options: MemTopicOptions = {}): Topic {
  const { broker: given, create: createGiven, subscription: only, ...portable } = options;
  const { broker = defaultMemBroker, create = true } = parseOptions(
    topicSettings,
    { broker: given, create: createGiven, subscription: only },
    "mem",
  );
  if (create) broker.createTopic(name);
  return new Topic(new MemTopicDriver(broker, name, only), portable);
}
