/**
 * ManagedChannel's promise to its owner, with a stand-in connection (the
 * race is a matter of microtasks, which no broker reproduces on demand):
 * after `ensureOpen`, either a channel opens or `failed` is called, even when
 * `ensureOpen` comes while the `failed` of the previous attempt is running.
 */
import { EventEmitter } from "node:events";
import type { Channel, ChannelModel } from "amqplib";
import { describe, expect, it } from "vitest";
import type { RabbitConnection } from "../src/amqp/connection.js";
import { ManagedChannel } from "../src/amqp/managed-channel.js";

/** A channel as far as ManagedChannel looks at one: events, and amqplib's list of pending RPCs. */
function fakeChannel(): Channel {
  const channel = new EventEmitter() as EventEmitter & { pending: unknown[] | null; close(): Promise<void> };
  channel.pending = [];
  channel.close = async () => {};
  return channel as unknown as Channel;
}

const connection = {
  model: async () => ({}) as ChannelModel,
  display: "amqp://stand-in",
} as unknown as RabbitConnection;

describe("ManagedChannel", () => {
  it("opens again for an ensureOpen made while the previous attempt's failed() runs, and reports that failure too", async () => {
    const failures: unknown[] = [];
    let attempts = 0;
    const missing = Object.assign(new Error("NOT_FOUND - no exchange 'x' in vhost '/'"), { code: 404 });
    const managed: ManagedChannel<Channel> = new ManagedChannel(connection, {
      role: "publish",
      create: async () => fakeChannel(),
      setup: async () => {
        attempts++;
        throw missing;
      },
      closed: () => {},
      failed: (error) => {
        failures.push(error);
        // An owner that enqueues work as it learns of a failure (a send made in that moment) asks for a channel.
        if (failures.length === 1) queueMicrotask(() => managed.ensureOpen());
      },
    });
    managed.ensureOpen();
    const deadline = Date.now() + 2000;
    while (failures.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(attempts).toBe(2);
    expect(failures).toHaveLength(2);
    await managed.close(AbortSignal.timeout(1000));
  });
});
