import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { json, type LogEvent, openSubscription, openTopic } from "@portable-pubsub/core";
import { openMemTopic } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";
import { cli, cliWithInput, onTerminal, output } from "./in-process.js";

// JSON for typed subscriptions: `send --json` and `--data-file` set the content type, `receive` shows JSON
// bodies indented on a terminal, and `redrive` keeps the content type of a message the schema refused.

/** Runs `pubsub send` onto mem://`topic` and returns the one message a subscription then got. */
async function sendOne(topic: string, ...args: string[]) {
  const keep = openMemTopic(topic);
  const sub = await openSubscription(`mem://${topic}`);
  try {
    const code = await cli("send", `mem://${topic}`, ...args);
    if (code !== 0) return { code, message: undefined };
    const message = await sub.receive({ signal: AbortSignal.timeout(2000) });
    message.ack();
    return { code, message: { text: message.text(), metadata: { ...message.metadata } } };
  } finally {
    await sub.shutdown();
    await keep.shutdown();
  }
}

describe("pubsub and typed messages (in process, mem://)", () => {
  it("send --json sends the value as compact JSON with content type application/json", async () => {
    const { code, message } = await sendOne("typed-send-json", "--json", '{ "id": "a1", "qty": 2 }', "-m", "k=v");
    expect(code).toBe(0);
    expect(output.stdout.join("")).toBe("sent 1 message (19 bytes) to mem://typed-send-json\n");
    expect(message).toEqual({ text: '{"id":"a1","qty":2}', metadata: { k: "v", "content-type": "application/json" } });
  });

  it("send --data-file sends the file's JSON with content type application/json", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pubsub-cli-"));
    try {
      const file = join(dir, "order.json");
      await writeFile(file, '{\n  "id": "f1",\n  "qty": 3\n}\n');
      const { code, message } = await sendOne("typed-send-file", "--data-file", file);
      expect(code).toBe(0);
      expect(message).toEqual({ text: '{"id":"f1","qty":3}', metadata: { "content-type": "application/json" } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses invalid JSON, a missing file and conflicting arguments with InvalidArgument (exit 2), sending nothing", async () => {
    for (const [args, error] of [
      [["--json", "{nope"], /--json: not valid JSON/],
      [["--data-file", "/nonexistent/x.json"], /--data-file: cannot read \/nonexistent\/x.json/],
      [["--json", "1", "--data-file", "x"], /give --json or --data-file, not both/],
      [["body", "--json", "1"], /--json is the body; it cannot be used with a BODY argument/],
    ] as const) {
      const { code, message } = await sendOne("typed-send-bad", ...args);
      expect(code).toBe(2);
      expect(message).toBeUndefined();
      expect(output.stderr.join("")).toMatch(error);
    }
    expect(await cliWithInput("a\nb\n", "send", "mem://typed-send-bad", "--json", "1", "--lines")).toBe(2);
  });

  it("receive shows a JSON body indented on a terminal, and passes bytes through to a pipe", async () => {
    const topic = openMemTopic("typed-receive");
    const url = "mem://typed-receive?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    await topic.send({ body: '{"id":"a1","qty":2}', metadata: { "content-type": "application/json" } });
    await topic.send({ body: '{"not":"json-typed"}' });
    expect(await onTerminal(() => cli("receive", url, "--count", "2"))).toBe(0);
    expect(output.stdout.join("")).toBe('{\n  "id": "a1",\n  "qty": 2\n}\n{"not":"json-typed"}\n');
    await topic.send({ body: '{"id":"a1","qty":2}', metadata: { "content-type": "application/json" } });
    expect(await cli("receive", url, "--count", "1")).toBe(0);
    expect(output.stdout.join("")).toBe('{"id":"a1","qty":2}\n');
    await topic.shutdown();
  });

  it("redrive keeps the content type of a message a typed subscription dead-lettered", async () => {
    const orders = await openTopic("mem://typed-redrive");
    const dead = openMemTopic("typed-redrive-dead");
    const target = openMemTopic("typed-redrive-target");
    await (await openSubscription("mem://typed-redrive-dead?subscription=redrive")).shutdown();
    const check = await openSubscription("mem://typed-redrive-target?subscription=check");
    let deadLettered!: () => void;
    const done = new Promise<void>((resolve) => {
      deadLettered = resolve;
    });
    const onLog = (event: LogEvent) => {
      if (event.event === "pubsub.deadletter") deadLettered();
    };
    const worker = await openSubscription("mem://typed-redrive?subscription=worker", {
      codec: json(),
      deadLetter: "mem://typed-redrive-dead",
      logger: { info: onLog, warn: onLog, error: onLog },
    });
    const processing = worker.process(() => {});
    await orders.send({ body: '{"id":"a1","qty":', metadata: { "content-type": "application/json" } });
    await done;
    await worker.shutdown();
    await processing;
    expect(await cli("redrive", "mem://typed-redrive-dead?subscription=redrive", "mem://typed-redrive-target")).toBe(0);
    const moved = await check.receive({ signal: AbortSignal.timeout(2000) });
    moved.ack();
    expect(moved.text()).toBe('{"id":"a1","qty":');
    expect(moved.metadata).toEqual({ "content-type": "application/json" });
    for (const handle of [check, target, dead, orders]) await handle.shutdown();
  });
});
