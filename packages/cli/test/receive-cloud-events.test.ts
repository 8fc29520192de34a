import { cloudEvents } from "@portable-pubsub/core";
import { openMemTopic } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";
import { cli, onTerminal, output } from "./in-process.js";

// CloudEvents made by core's codec and sent as plain messages (body and metadata), as any producer could.

function eventMessage(mode: "binary" | "structured", data: unknown, event: Record<string, unknown>) {
  const codec = cloudEvents({ source: "/orders", type: "com.example.order.created", mode });
  const result = codec.encode(data, { event, metadata: {} });
  if (typeof result === "string" || result instanceof Uint8Array) {
    return { body: result, metadata: { "content-type": codec.contentType } };
  }
  return { body: result.body, metadata: { "content-type": codec.contentType, ...result.metadata } };
}

const EVENT = { id: "e-1", time: "2026-01-02T03:04:05Z", subject: "a1", extensions: { region: "eu" } };
const SHOWN = [
  "specversion: 1.0",
  "id: e-1",
  "source: /orders",
  "type: com.example.order.created",
  "subject: a1",
  "time: 2026-01-02T03:04:05Z",
  "datacontenttype: application/json",
  "region: eu",
  "",
  "{",
  '  "id": "a1",',
  '  "qty": 2',
  "}",
  "",
].join("\n");

describe("pubsub receive shows CloudEvents", () => {
  it("on a terminal, prints a structured and a binary event alike: attributes, a blank line, the data indented", async () => {
    const topic = openMemTopic("receive-ce");
    const url = "mem://receive-ce?subscription=readers";
    expect(await cli("receive", url, "--wait", "20ms")).toBe(0); // creates the subscription
    await topic.send(eventMessage("structured", { id: "a1", qty: 2 }, EVENT));
    await topic.send(eventMessage("binary", { id: "a1", qty: 2 }, EVENT));
    expect(await onTerminal(() => cli("receive", url, "--count", "2"))).toBe(0);
    expect(output.stderr).toEqual([]);
    expect(output.stdout.join("")).toBe(SHOWN + SHOWN);
    await topic.shutdown();
  });

  it("gives a pipe the bytes as they are, one message per line", async () => {
    const topic = openMemTopic("receive-ce-pipe");
    const url = "mem://receive-ce-pipe?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    const message = eventMessage("binary", { id: "a1", qty: 2 }, EVENT);
    await topic.send(message);
    expect(await cli("receive", url, "--count", "1")).toBe(0);
    expect(output.stdout.join("")).toBe('{"id":"a1","qty":2}\n');
    await topic.shutdown();
  });

  it("escapes what a terminal would act on or hide, in attributes and data, on a terminal", async () => {
    const topic = openMemTopic("receive-ce-tty");
    const url = "mem://receive-ce-tty?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    // CloudEvents strings may not hold C0 or C1 controls, but may hold format characters (a bidi override).
    await topic.send(eventMessage("binary", "abc\u202edef", { id: "e-2", extensions: { note: "x\u202ey" } }));
    expect(await onTerminal(() => cli("receive", url, "--count", "1"))).toBe(0);
    const shown = output.stdout.join("");
    expect(shown).toContain("note: x\\u202ey\n");
    expect(shown).toContain('\n\n"abc\\u202edef"\n');
    expect(shown).not.toContain("\u202e");
    await topic.shutdown();
  });

  it("adds the attributes as event to --json records", async () => {
    const topic = openMemTopic("receive-ce-json");
    const url = "mem://receive-ce-json?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    const message = eventMessage("binary", [1, 2], EVENT);
    await topic.send(message);
    expect(await cli("receive", url, "--count", "1", "--json")).toBe(0);
    expect(JSON.parse(output.stdout.join(""))).toEqual({
      id: expect.any(String),
      loggableId: "1",
      body: "[1,2]",
      bodyEncoding: "utf8",
      metadata: message.metadata,
      deliveryAttempt: 1,
      event: {
        specversion: "1.0",
        id: "e-1",
        source: "/orders",
        type: "com.example.order.created",
        subject: "a1",
        time: "2026-01-02T03:04:05Z",
        datacontenttype: "application/json",
        extensions: { region: "eu" },
      },
    });
    await topic.shutdown();
  });

  it("on a terminal, shows an event that is not valid as a plain (JSON) body, and says why on stderr", async () => {
    const topic = openMemTopic("receive-ce-bad");
    const url = "mem://receive-ce-bad?subscription=readers";
    await cli("receive", url, "--wait", "20ms");
    const body = JSON.stringify({ specversion: "1.0", source: "/s", type: "t", data: 1 });
    await topic.send({ body, metadata: { "content-type": "application/cloudevents+json" } });
    expect(await onTerminal(() => cli("receive", url, "--count", "1"))).toBe(0);
    // Its content type says JSON, so it is shown as JSON is: indented.
    expect(output.stdout.join("")).toBe(`${JSON.stringify(JSON.parse(body), null, 2)}\n`);
    expect(output.stderr.join("")).toBe(
      'pubsub: note: message 1 is not a valid CloudEvent: not a valid CloudEvent: the required attribute "id" is missing\n',
    );
    await topic.shutdown();
  });
});
