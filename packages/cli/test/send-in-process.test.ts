import { openSubscription } from "@portable-pubsub/core";
import { openMemTopic } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";
import { cliWithInput, output } from "./in-process.js";

// An embedding application shares mem:// with the command, so here `send` delivers: the test subscribes first and
// checks what arrived, byte for byte. (Alone in its process, the command refuses mem://; see cli.test.ts.)

const MEM_NOTE = "pubsub: note: mem:// is an in-process broker: no other process can receive or send these messages\n";

/** Runs `pubsub send` with `input` on stdin, and returns what a subscription to `topic` then received. */
async function sendAndReceive(topic: string, count: number, input: string | Uint8Array | undefined, ...args: string[]) {
  const keep = openMemTopic(topic);
  const sub = await openSubscription(`mem://${topic}`);
  const code = await cliWithInput(input, "send", `mem://${topic}`, ...args);
  const received: { body: number[]; metadata: Record<string, string> }[] = [];
  for (let i = 0; i < count; i++) {
    const message = await sub.receive({ signal: AbortSignal.timeout(2000) });
    message.ack();
    received.push({ body: [...message.body], metadata: { ...message.metadata } });
  }
  await sub.shutdown();
  await keep.shutdown();
  return { code, received };
}

const bytes = (text: string) => [...new TextEncoder().encode(text)];

describe("pubsub send (in process, mem://)", () => {
  it("sends with --id as the message's id, and refuses --id with --lines of several messages", async () => {
    const keep = openMemTopic("send-id");
    const sub = await openSubscription("mem://send-id");
    try {
      expect(await cliWithInput(undefined, "send", "mem://send-id", "hello", "--id", "order-17")).toBe(0);
      const message = await sub.receive({ signal: AbortSignal.timeout(2000) });
      message.ack();
      expect([message.id, message.text()]).toEqual(["order-17", "hello"]);
      expect(await cliWithInput("a\nb\n", "send", "mem://send-id", "--lines", "--id", "x")).toBe(2);
      expect(output.stderr.join("")).toMatch(/InvalidArgument: send: --id names one message, and --lines read 2/);
      expect(await cliWithInput(undefined, "send", "mem://send-id", "hello", "--id", " x")).toBe(2);
      expect(output.stderr.join("")).toMatch(/InvalidArgument: send: id " x" has white space at its start or end/);
    } finally {
      await sub.shutdown();
      await keep.shutdown();
    }
  });

  it("sends BODY with metadata, says so, and the subscriber gets exactly that", async () => {
    const { code, received } = await sendAndReceive(
      "send-body",
      1,
      undefined,
      "hello",
      "-m",
      "kind=greeting",
      "-m",
      "a=b=c",
    );
    expect(code).toBe(0);
    expect(output.stdout.join("")).toBe("sent 1 message (5 bytes) to mem://send-body\n");
    expect(output.stderr.join("")).toBe(MEM_NOTE);
    expect(received).toEqual([{ body: bytes("hello"), metadata: { kind: "greeting", a: "b=c" } }]);
  });

  it("reads the body from stdin when BODY is absent, bytes unchanged", async () => {
    const { code, received } = await sendAndReceive("send-stdin", 1, new Uint8Array([0xff, 0x00, 0x0a, 0x41]));
    expect(code).toBe(0);
    expect(output.stdout.join("")).toBe("sent 1 message (4 bytes) to mem://send-stdin\n");
    expect(received).toEqual([{ body: [0xff, 0x00, 0x0a, 0x41], metadata: {} }]);
  });

  it("sends one message per non-empty stdin line with --lines", async () => {
    const { code, received } = await sendAndReceive("send-lines", 3, "one\r\ntwo\n\nthree", "--lines");
    expect(code).toBe(0);
    expect(output.stdout.join("")).toBe("sent 3 messages (11 bytes) to mem://send-lines\n");
    expect(received.map((m) => m.body)).toEqual([bytes("one"), bytes("two"), bytes("three")]);
  });
});
