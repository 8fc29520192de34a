/** The sizes the driver computes for content header frames against amqplib's encoder, and attempt counting. */

import type { ConsumeMessage } from "amqplib";
import { describe, expect, it } from "vitest";
import {
  deliveryAttemptOf,
  failedAttemptsOf,
  headerFrameBytes,
  metadataOf,
  propertiesFrameBytes,
} from "../dist/codec.js";
import { BASIC_PROPERTIES, defs } from "./amqp-peer/codec.js";

/** The content header frame as amqplib writes it for a publish with `options`. */
function encoded(options: Record<string, unknown>): number {
  const { headers, persistent, ...rest } = options;
  return defs.encodeProperties(BASIC_PROPERTIES, 1, 256, {
    ...rest,
    headers: headers ?? {},
    ...(persistent === undefined ? {} : { deliveryMode: persistent ? 2 : 1 }),
  }).length;
}

describe("rabbit header frame size", () => {
  it("matches amqplib's encoding for empty, small, unicode and large metadata", () => {
    const cases: Record<string, string>[] = [{}, { a: "b" }, { clé: "välue ✓", k2: "" }, { blob: "y".repeat(10_000) }];
    for (const metadata of cases) {
      const messageId = "m0abc-1f";
      const encoded = defs.encodeProperties(BASIC_PROPERTIES, 1, 256, {
        headers: metadata,
        messageId,
        deliveryMode: 2,
      });
      expect(headerFrameBytes(metadata, messageId.length)).toBe(encoded.length);
    }
  });

  it("bounds a copy's properties: exact for strings and tables, at most 8 bytes over per number", () => {
    const strings = {
      headers: { kind: "ünïcode", "x-pubsub-attempts": "3" },
      contentType: "application/json",
      contentEncoding: "gzip",
      correlationId: "c-1",
      replyTo: "replies",
      expiration: "60000",
      messageId: "m-1",
      type: "order.created",
      appId: "billing",
      deliveryMode: 2,
      priority: 3,
      timestamp: 1_700_000_000,
    };
    expect(propertiesFrameBytes(strings)).toBe(encoded(strings));
    const nested = {
      headers: {
        table: { queue: "q", reason: "expired", keys: ["a", "b"], blob: Buffer.from("xyz") },
        flag: true,
        count: 1,
        big: 2 ** 40,
        ratio: 0.5,
        at: { "!": "timestamp", value: 1_700_000_000 },
      },
      persistent: true,
    };
    const bound = propertiesFrameBytes(nested);
    // Numbers: 1 (byte), 2^40 (long), 0.5 (double) and the timestamp are encoded in 1, 8, 8, 8 bytes; the bound takes 8 each.
    expect(bound - encoded(nested)).toBe(7 + 7);
  });
});

function delivery(headers: Record<string, unknown> | undefined, redelivered: boolean): ConsumeMessage {
  return { fields: { redelivered }, properties: { headers } } as unknown as ConsumeMessage;
}

describe("rabbit delivery attempts", () => {
  it("adds the attempts header to the queue's own count (x-delivery-count, else the redelivered flag)", () => {
    expect(deliveryAttemptOf(delivery(undefined, false))).toBe(1);
    expect(deliveryAttemptOf(delivery({}, true))).toBe(2);
    expect(deliveryAttemptOf(delivery({ "x-delivery-count": 3 }, true))).toBe(4);
    expect(deliveryAttemptOf(delivery({ "x-pubsub-attempts": 2 }, false))).toBe(3);
    expect(deliveryAttemptOf(delivery({ "x-pubsub-attempts": "2" }, true))).toBe(4);
    expect(deliveryAttemptOf(delivery({ "x-pubsub-attempts": 5, "x-delivery-count": 2 }, true))).toBe(8);
    // A header someone else set to nonsense counts as absent.
    expect(deliveryAttemptOf(delivery({ "x-pubsub-attempts": "many", "x-delivery-count": -1 }, false))).toBe(1);
  });

  it("reads failures from the failures header, else an older copy's attempts header, else 0, whatever the queue counted", () => {
    expect(failedAttemptsOf(delivery(undefined, false))).toBe(0);
    // Handed back or returned by a closed channel: deliveries, not failures.
    expect(failedAttemptsOf(delivery({ "x-delivery-count": 9 }, true))).toBe(0);
    expect(
      failedAttemptsOf(delivery({ "x-pubsub-failures": 2, "x-pubsub-attempts": 7, "x-delivery-count": 4 }, true)),
    ).toBe(2);
    expect(failedAttemptsOf(delivery({ "x-pubsub-failures": "1", "x-pubsub-attempts": 7 }, false))).toBe(1);
    expect(failedAttemptsOf(delivery({ "x-pubsub-attempts": 3 }, false))).toBe(3);
    expect(failedAttemptsOf(delivery({ "x-pubsub-failures": "many" }, false))).toBe(0);
  });

  it("keeps bookkeeping headers out of metadata", () => {
    const headers = {
      kind: "order",
      "x-pubsub-attempts": 2,
      "x-pubsub-failures": 1,
      "x-delivery-count": 1,
      "x-death": [{ queue: "q.pubsub-delay.640", reason: "expired", count: 1 }],
      "x-first-death-queue": "q.pubsub-delay.640",
      "x-first-death-reason": "expired",
      "x-first-death-exchange": "",
      "x-last-death-queue": "q.pubsub-delay.640",
      "x-last-death-reason": "expired",
      "x-last-death-exchange": "",
      "x-deathly": "kept",
    };
    expect(metadataOf(headers)).toEqual({ kind: "order", "x-deathly": "kept" });
  });
});
