import { openMemTopic } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";
import { cli, output } from "./in-process.js";

// mem:// lives in one process, so `receive` is driven in this one: the command and
// the test share the default mem:// broker.

describe("pubsub receive (in process, mem://)", () => {
  it("prints --json records: UTF-8 bodies as text, others as base64, with id, metadata and loggableId", async () => {
    const topic = openMemTopic("receive-json");
    const url = "mem://receive-json?subscription=readers";
    expect(await cli("receive", url, "--count", "1", "--wait", "50ms")).toBe(7); // creates the subscription; nothing yet
    await topic.send({ id: "greeting-1", body: "héllo", metadata: { kind: "greeting" } });
    await topic.send({ body: new Uint8Array([0xff, 0xfe, 0x00]) });
    const code = await cli("receive", url, "--count", "2", "--json");
    expect(output.stderr).toEqual([]);
    expect(code).toBe(0);
    const records = output.stdout
      .join("")
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(records).toEqual([
      {
        id: "greeting-1",
        loggableId: "1",
        body: "héllo",
        bodyEncoding: "utf8",
        metadata: { kind: "greeting" },
        deliveryAttempt: 1,
      },
      {
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        loggableId: "2",
        body: "//4A",
        bodyEncoding: "base64",
        metadata: {},
        deliveryAttempt: 1,
      },
    ]);
    await topic.shutdown();
  });

  it("acks by default, so the next reader gets nothing; with --no-ack hands messages back", async () => {
    const topic = openMemTopic("receive-ack");
    const url = "mem://receive-ack?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    await topic.send({ body: "one" });
    await topic.send({ body: "two" });

    const lines = () => output.stdout.join("").split("\n").sort();
    expect(await cli("receive", url, "--count", "2", "--no-ack")).toBe(0);
    expect(lines()).toEqual(["", "one", "two"]);
    // Handed back: the next reader gets both again (redelivery order is not promised).
    expect(await cli("receive", url, "--count", "2")).toBe(0);
    expect(lines()).toEqual(["", "one", "two"]);
    // Acked: nothing left. Without --count, an idle --wait ends the command normally.
    expect(await cli("receive", url, "--wait", "200ms")).toBe(0);
    expect(output.stdout).toEqual([]);
    await topic.shutdown();
  });

  it("fails with DeadlineExceeded (exit 7) when --count is not reached within --wait", async () => {
    const topic = openMemTopic("receive-short");
    const url = "mem://receive-short?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    await topic.send({ body: "only one" });
    expect(await cli("receive", url, "--count", "3", "--wait", "300ms")).toBe(7);
    expect(output.stdout.join("")).toBe("only one\n");
    expect(output.stderr.join("")).toBe(
      "pubsub: DeadlineExceeded: received 1 of 3 messages; no message arrived within --wait\n",
    );
    await topic.shutdown();
  });
});
