import type { DriverMessage, SubscriptionDriver } from "../driver/driver.js";
import { HeldLeases } from "../driver/held-leases.js";

/** Default of `maxExtensionMs`: an hour, as Google's Pub/Sub client has it. */
export const DEFAULT_MAX_EXTENSION_MS = 60 * 60 * 1000;

type ExtendingDriver = SubscriptionDriver & Required<Pick<SubscriptionDriver, "extendLeases">>;

/**
 * Keeps the leases of the messages a Subscription holds (in its receive
 * buffer, in a handler, or waiting out a redelivery delay) from running out,
 * for drivers with `extendLeases`: the driver kit's `HeldLeases`, whose one
 * extension every half lease is one `extendLeases` call per ack batch. A
 * message held longer than `maxExtensionMs` is no longer extended, so that
 * the broker delivers it again (`onLapse` hears of it: a failure): a handler
 * stuck for good must not hold a message for ever. Holding ends for good
 * when `signal` fires.
 */
export class LeaseKeeper extends HeldLeases<DriverMessage> {
  private constructor(driver: ExtendingDriver, maxExtensionMs: number, signal: AbortSignal, events: LeaseEvents) {
    super({
      leaseMs: () => driver.leaseMs,
      maxHoldMs: maxExtensionMs,
      extend: async (messages) => {
        const ackIds = messages.map((m) => m.ackId);
        const chunk = driver.ackBatchLimits?.maxItems ?? ackIds.length;
        const calls: Promise<void>[] = [];
        for (let i = 0; i < ackIds.length; i += chunk) {
          calls.push(driver.extendLeases(ackIds.slice(i, i + chunk), signal));
        }
        await Promise.all(calls);
      },
      onError: (err) => {
        if (!signal.aborted) events.onError(err);
      },
      onDropped: (messages) => {
        for (const message of messages) events.onLapse(message);
      },
    });
    signal.addEventListener("abort", () => this.stop(), { once: true });
  }

  /** A keeper for `driver`, or undefined if the driver cannot extend leases. */
  static for(
    driver: SubscriptionDriver,
    maxExtensionMs: number,
    signal: AbortSignal,
    events: LeaseEvents,
  ): LeaseKeeper | undefined {
    if (typeof driver.extendLeases !== "function") return undefined;
    return new LeaseKeeper(driver as ExtendingDriver, maxExtensionMs, signal, events);
  }
}

/** What a LeaseKeeper reports. */
export interface LeaseEvents {
  /** An extension failed; the next tick tries again. */
  onError(err: unknown): void;
  /** `message` was held `maxExtensionMs` and is no longer extended: the broker will deliver it again. */
  onLapse(message: DriverMessage): void;
}
