import { randomUUID } from "node:crypto";
import {
  type Message,
  Subscription,
  type SubscriptionOptions,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import type { Capabilities, Created, CreatedSubscription, Harness } from "./harness.js";

/** A topic and what the harness made for it. */
export interface OpenedTopic {
  topic: Topic;
  created: Created<TopicDriver>;
}

/** A subscription and what the harness made for it. */
export interface OpenedSubscription {
  subscription: Subscription;
  created: CreatedSubscription;
}

/**
 * What each conformance case gets: the harness, the capabilities, and helpers
 * that open portable objects over the harness's drivers and clean up after
 * the test, whatever it did.
 */
export class SuiteContext {
  readonly caps: Capabilities;
  #harness: Harness | undefined;
  #cleanups: (() => Promise<unknown>)[] = [];

  constructor(caps: Capabilities) {
    this.caps = caps;
  }

  get harness(): Harness {
    if (!this.#harness) throw new Error("conformance: the harness is not ready (beforeAll failed?)");
    return this.#harness;
  }

  set harness(harness: Harness | undefined) {
    this.#harness = harness;
  }

  get receiveTimeoutMs(): number {
    return this.caps.receiveTimeoutMs ?? 10_000;
  }

  /** A name unique to this run, for resources of test `testName`. */
  unique(testName: string): string {
    return `${testName.replace(/[^a-zA-Z0-9-]/g, "-")}-${randomUUID().slice(0, 8)}`;
  }

  /** Registers work to run after the current test, last registered first. */
  defer(cleanup: () => Promise<unknown>): void {
    this.#cleanups.push(cleanup);
  }

  /** Runs the registered cleanups, last registered first; a failing one does not stop the rest. */
  async runCleanups(): Promise<void> {
    const cleanups = this.#cleanups.reverse();
    this.#cleanups = [];
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch {
        // Cleanup is best effort: a shut-down object or a removed resource is fine.
      }
    }
  }

  /** Creates a topic through the harness and opens it; both are cleaned up after the test. */
  async openTopic(testName: string, options?: TopicOptions, harness = this.harness): Promise<OpenedTopic> {
    const created = await harness.createTopic(this.unique(testName));
    const topic = new Topic(created.driver, options);
    this.defer(() => created.cleanup());
    this.defer(() => topic.shutdown({ signal: AbortSignal.timeout(5000) }));
    return { topic, created };
  }

  /** Creates a subscription to `topic` through the harness and opens it; both are cleaned up after the test. */
  async openSubscription(
    topic: OpenedTopic,
    testName: string,
    options?: SubscriptionOptions,
    harness = this.harness,
  ): Promise<OpenedSubscription> {
    const created = await harness.createSubscription(topic.created, this.unique(testName));
    const subscription = new Subscription(created.driver, options);
    this.defer(() => created.cleanup());
    this.defer(() => subscription.shutdown({ signal: AbortSignal.timeout(5000) }));
    return { subscription, created };
  }

  /** Opens one more consumer of `opened`'s subscription, shut down after the test. */
  async openConsumer(opened: OpenedSubscription, options?: SubscriptionOptions): Promise<Subscription> {
    if (!opened.created.openConsumer) {
      throw new Error(`conformance: ${this.caps.name}'s harness has no openConsumer (required with consumerGroups)`);
    }
    const subscription = new Subscription(await opened.created.openConsumer(), options);
    this.defer(() => subscription.shutdown({ signal: AbortSignal.timeout(5000) }));
    return subscription;
  }

  /** A topic with one subscription: the shape most cases start from. */
  async pair(testName: string, topicOptions?: TopicOptions, subscriptionOptions?: SubscriptionOptions) {
    const opened = await this.openTopic(testName, topicOptions);
    const sub = await this.openSubscription(opened, testName, subscriptionOptions);
    return { topic: opened.topic, subscription: sub.subscription, openedTopic: opened, openedSubscription: sub };
  }

  /** Receives exactly `n` messages, acking each unless told not to; fails after the receive timeout. */
  async receiveN(subscription: Subscription, n: number, options: { ack?: boolean; timeoutMs?: number } = {}) {
    const { ack = true } = options;
    const signal = AbortSignal.timeout(options.timeoutMs ?? this.receiveTimeoutMs + n * 5);
    const messages: Message[] = [];
    while (messages.length < n) {
      const message = await subscription.receive({ signal });
      if (ack) message.ack();
      messages.push(message);
    }
    return messages;
  }

  /** Resolves true if no message arrives within `ms`; a message that does arrive is nacked or left. */
  async nothingWithin(subscription: Subscription, ms: number): Promise<boolean> {
    try {
      const message = await subscription.receive({ signal: AbortSignal.timeout(ms) });
      if (message.nackable) message.nack();
      return false;
    } catch {
      return true;
    }
  }
}

const decoder = new TextDecoder();

/** The bodies of `messages` as strings, sorted: for comparing what arrived with what was sent. */
export function sortedBodies(messages: readonly Message[]): string[] {
  return messages.map((m) => decoder.decode(m.body)).sort();
}

/** `prefix-0` … `prefix-(n-1)`, sorted as strings. */
export function numbered(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`).sort();
}
