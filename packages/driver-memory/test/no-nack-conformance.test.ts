// The conformance suite on a driver that cannot nack and has no ack deadline, like an MQTT 5 driver: the
// in-process broker behind a window of unacked deliveries, freed by acks and by releaseFailed.
import { runConformanceTests } from "@portable-pubsub/conformance";
import {
  type DriverMessage,
  type DriverTelemetry,
  MAX_TIMER_MS,
  type SubscriptionDriver,
  WakeUp,
} from "@portable-pubsub/core/driver";
import { MemBroker, MemSubscriptionDriver } from "@portable-pubsub/driver-memory";
import { memTopics } from "./mem-harness.js";

/** MQTT 5's receive maximum, as brokers commonly set it: at most this many unacked deliveries at once. */
const WINDOW = 20;

/**
 * Cannot nack; its broker keeps a failed message unacked (delivering it again only to a resumed session,
 * which this test never opens), so `releaseFailed` only frees its slot of the window.
 */
class WindowedNoNackDriver implements SubscriptionDriver {
  readonly canNack = false;
  readonly resource: string;
  readonly telemetry: DriverTelemetry | undefined;
  readonly #mem: SubscriptionDriver;
  readonly #inFlight = new Set<unknown>();
  readonly #room = new WakeUp();

  constructor(mem: MemSubscriptionDriver) {
    this.#mem = mem;
    this.resource = `windowed ${mem.resource}`;
    this.telemetry = mem.telemetry;
  }

  async receiveBatch(max: number, signal: AbortSignal): Promise<DriverMessage[]> {
    if (this.#inFlight.size >= WINDOW) {
      await this.#room.wait(1000, signal);
      return [];
    }
    const messages = await this.#mem.receiveBatch(Math.min(max, WINDOW - this.#inFlight.size), signal);
    for (const message of messages) this.#inFlight.add(message.ackId);
    return messages;
  }

  async sendAcks(ackIds: unknown[], signal: AbortSignal): Promise<void> {
    await this.#mem.sendAcks(ackIds, signal);
    this.#free(ackIds);
  }

  async sendNacks(): Promise<void> {
    throw new Error("sendNacks called on a driver that cannot nack");
  }

  async releaseFailed(ackIds: unknown[]): Promise<void> {
    this.#free(ackIds);
  }

  #free(ackIds: unknown[]): void {
    for (const id of ackIds) this.#inFlight.delete(id);
    this.#room.wakeAll();
  }

  async close(signal: AbortSignal): Promise<void> {
    await this.#mem.close(signal);
  }
}

runConformanceTests(
  async () => {
    const broker = new MemBroker();
    const { missingSubscription, ...topics } = memTopics(broker);
    return {
      ...topics,
      async createSubscription(topic, name) {
        const topicName = topic.id ?? "";
        // No ack deadline to speak of: an unacked message stays with its consumer.
        const mem = new MemSubscriptionDriver(broker, topicName, name, {
          create: { ackDeadlineMs: MAX_TIMER_MS },
          maxWaitMs: 1000,
          anonymous: false,
        });
        mem.state();
        return {
          driver: new WindowedNoNackDriver(mem),
          cleanup: async () => broker.deleteSubscription(topicName, name),
        };
      },
      makeNonexistentSubscription: async () => new WindowedNoNackDriver(missingSubscription()),
    };
  },
  {
    name: "mem behind a window, without nack or ack deadline",
    messagingSystem: "mem",
    canNack: false,
    guaranteedOrder: true,
    multipleSubscriptions: true,
    consumerGroups: false,
  },
);
