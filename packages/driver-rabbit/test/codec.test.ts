/** The size the driver computes for a message's content header frame is the size amqplib encodes. */

import { describe, expect, it } from "vitest";
import { headerFrameBytes } from "../dist/codec.js";
import { BASIC_PROPERTIES, defs } from "./amqp-peer/codec.js";

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
});
