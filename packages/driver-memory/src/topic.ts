import {
  type DriverMessage,
  type DriverTelemetry,
  parseOptions,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import { z } from "zod";
import { MEM_SYSTEM } from "./about.js";
import { defaultMemBroker, MemBroker } from "./broker.js";

/** The driver's own options of {@link openMemTopic}; the portable ones are checked by Topic. */
const topicSettings = z.object({ broker: z.instanceof(MemBroker).optional(), create: z.boolean().optional() });

/** Options of {@link openMemTopic}. */
export interface MemTopicOptions extends TopicOptions {
  /** The broker; default: the one behind `mem://` URLs. */
  broker?: MemBroker;
  /** Create the topic if it does not exist. Default true; false makes sends to a missing topic fail with NotFound. */
  create?: boolean;
}

/**
 * Sends to a topic of a MemBroker. Nothing here can fail but a missing topic,
 * which the broker reports as a PubSubError (NotFound) itself: so no error
 * classifier, and nothing is ever retried.
 */
export class MemTopicDriver implements TopicDriver {
  readonly resource: string;
  readonly telemetry: DriverTelemetry;
  readonly #broker: MemBroker;
  readonly #name: string;

  constructor(broker: MemBroker, name: string) {
    this.#broker = broker;
    this.#name = name;
    this.resource = `mem topic "${name}"`;
    this.telemetry = { system: MEM_SYSTEM, destination: name };
  }

  async sendBatch(messages: DriverMessage[]): Promise<void> {
    this.#broker.publish(this.#name, messages);
  }

  native(): MemBroker {
    return this.#broker;
  }

  async close(): Promise<void> {}
}

/** Opens topic `name` of an in-process broker. */
export function openMemTopic(name: string, options: MemTopicOptions = {}): Topic {
  const { broker: given, create: createGiven, ...portable } = options;
  const { broker = defaultMemBroker, create = true } = parseOptions(
    topicSettings,
    { broker: given, create: createGiven },
    "mem",
  );
  if (create) broker.createTopic(name);
  return new Topic(new MemTopicDriver(broker, name), portable);
}
