import { inspectURL } from "@portable-pubsub/driver-nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, NATS_URL, requireNats, skipNats, unique } from "./helpers.js";

describe.skipIf(skipNats)("nats doctor hook (inspectURL)", () => {
  beforeAll(requireNats);
  const saved = process.env.NATS_SERVER_URL;
  const stream = unique("doctor");
  let cleanup = async () => {};
  beforeAll(async () => {
    process.env.NATS_SERVER_URL = NATS_URL;
    const { nc, jsm } = await admin();
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: "c", ack_policy: "explicit" });
    await jsm.consumers.add(stream, { durable_name: "capped", ack_policy: "explicit", max_deliver: 3 });
    cleanup = async () => {
      await jsm.streams.delete(stream);
      await nc.close();
    };
  });
  afterAll(async () => {
    await cleanup();
    if (saved === undefined) delete process.env.NATS_SERVER_URL;
    else process.env.NATS_SERVER_URL = saved;
  });
  const inspect = (url: string) => inspectURL(new URL(url), { signal: AbortSignal.timeout(10_000) });

  it("reports the server version, JetStream and the stream storing a topic's subject", async () => {
    const result = await inspect(`nats://${stream}.orders`);
    expect(result.broker).toMatch(/^NATS \d+\.\d+\.\d+/);
    expect(result.roles).toEqual(["topic"]);
    expect(result.checks.map((c) => [c.subject, c.status])).toEqual([
      ["broker", "ok"],
      ["jetstream", "ok"],
      ["topic", "ok"],
    ]);
    expect(result.checks[2]?.detail).toBe(`subject "${stream}.orders" is stored by stream "${stream}"`);
  });

  it("reports a subscription URL's stream and consumer, and what is missing", async () => {
    const found = await inspect(`nats://${stream}?consumer=c`);
    expect(found.roles).toEqual(["subscription"]);
    expect(found.checks.find((c) => c.subject === "consumer")).toMatchObject({ status: "ok" });
    const missing = await inspect(`nats://${stream}?consumer=nope`);
    expect(missing.roles).toBeUndefined();
    expect(missing.checks.find((c) => c.subject === "consumer")).toMatchObject({ status: "fail", code: "NotFound" });
    const nothing = await inspect("nats://no.stream.here");
    expect(nothing.checks.find((c) => c.subject === "topic")).toMatchObject({ status: "fail", code: "NotFound" });
  });

  it("warns of a consumer's max_deliver, which stops deliveries before the library can dead-letter", async () => {
    const plain = await inspect(`nats://${stream}?consumer=c`);
    expect(plain.checks.map((c) => c.subject)).not.toContain("redelivery");
    const capped = await inspect(`nats://${stream}?consumer=capped`);
    expect(capped.roles).toEqual(["subscription"]);
    expect(capped.checks.find((c) => c.subject === "redelivery")).toEqual({
      subject: "redelivery",
      status: "warn",
      detail: `consumer "capped" has max_deliver 3: a message delivered 3 times is never delivered again, and stays in the stream unacked, not dead-lettered`,
      fix: "set the subscription's redelivery.maxDeliveries below 3 (and maxAttempts no higher, with deadLetter), or remove the consumer's limit (max_deliver -1, unlimited)",
    });
  });

  it("connects through the first server of a list that answers, in the order given", async () => {
    // Two servers that refuse connections, then the test's: a cluster with servers down.
    process.env.NATS_SERVER_URL = `nats://127.0.0.1:1,nats://127.0.0.1:2,${NATS_URL}`;
    try {
      const result = await inspect(`nats://${stream}.orders`);
      expect(result.checks.map((c) => [c.subject, c.status])).toEqual([
        ["broker", "ok"],
        ["jetstream", "ok"],
        ["topic", "ok"],
      ]);
      expect(result.checks[0]?.detail).toMatch(
        new RegExp(`^connected to ${NATS_URL.replace(/^nats:\/\//, "")}, NATS `),
      );
    } finally {
      process.env.NATS_SERVER_URL = NATS_URL;
    }
  });

  it("reports an unreachable server as a failed broker check, without credentials", async () => {
    process.env.NATS_SERVER_URL = "nats://someone:Hidden-pw-123@127.0.0.1:1";
    try {
      const result = await inspect("nats://x");
      expect(result.checks).toHaveLength(1);
      expect(result.checks[0]).toMatchObject({ subject: "broker", status: "fail" });
      expect(JSON.stringify(result)).not.toContain("Hidden-pw-123");
    } finally {
      process.env.NATS_SERVER_URL = NATS_URL;
    }
  });
});
