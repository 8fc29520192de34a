import { openMemTopic } from "@portable-pubsub/driver-memory";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../src/program.js";

// mem:// lives in one process, so `receive` is driven in this one: the command and
// the test share the default mem:// broker.

let stdout: string[] = [];
let stderr: string[] = [];

async function cli(...args: string[]): Promise<number> {
  stdout = [];
  stderr = [];
  const out = vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array, cb?: () => void) => {
    stdout.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("latin1"));
    if (typeof cb === "function") cb();
    return true;
  }) as typeof process.stdout.write);
  const err = vi.spyOn(process.stderr, "write").mockImplementation(((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  }) as typeof process.stderr.write);
  try {
    return await runCli(["node", "pubsub", ...args]);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe("pubsub receive (in process, mem://)", () => {
  it("prints --json records: UTF-8 bodies as text, others as base64, with metadata and loggableId", async () => {
    const topic = openMemTopic("receive-json");
    const url = "mem://receive-json?subscription=readers";
    expect(await cli("receive", url, "--count", "1", "--wait", "50ms")).toBe(7); // creates the subscription; nothing yet
    await topic.send({ body: "héllo", metadata: { kind: "greeting" } });
    await topic.send({ body: new Uint8Array([0xff, 0xfe, 0x00]) });
    const code = await cli("receive", url, "--count", "2", "--json");
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    const records = stdout
      .join("")
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(records).toEqual([
      { loggableId: "1", body: "héllo", bodyEncoding: "utf8", metadata: { kind: "greeting" }, deliveryAttempt: 1 },
      { loggableId: "2", body: "//4A", bodyEncoding: "base64", metadata: {}, deliveryAttempt: 1 },
    ]);
    await topic.shutdown();
  });

  it("acks by default, so the next reader gets nothing; with --no-ack hands messages back", async () => {
    const topic = openMemTopic("receive-ack");
    const url = "mem://receive-ack?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    await topic.send({ body: "one" });
    await topic.send({ body: "two" });

    const lines = () => stdout.join("").split("\n").sort();
    expect(await cli("receive", url, "--count", "2", "--no-ack")).toBe(0);
    expect(lines()).toEqual(["", "one", "two"]);
    // Handed back: the next reader gets both again (redelivery order is not promised).
    expect(await cli("receive", url, "--count", "2")).toBe(0);
    expect(lines()).toEqual(["", "one", "two"]);
    // Acked: nothing left. Without --count, an idle --wait ends the command normally.
    expect(await cli("receive", url, "--wait", "200ms")).toBe(0);
    expect(stdout).toEqual([]);
    await topic.shutdown();
  });

  it("fails with DeadlineExceeded (exit 7) when --count is not reached within --wait", async () => {
    const topic = openMemTopic("receive-short");
    const url = "mem://receive-short?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    await topic.send({ body: "only one" });
    expect(await cli("receive", url, "--count", "3", "--wait", "300ms")).toBe(7);
    expect(stdout.join("")).toBe("only one\n");
    expect(stderr.join("")).toBe(
      "pubsub: DeadlineExceeded: received 1 of 3 messages; no message arrived within --wait\n",
    );
    await topic.shutdown();
  });
});
