import { randomUUID } from "node:crypto";
import { type LogEvent, openSubscription, type Subscription } from "@portable-pubsub/core";
import { openMemTopic } from "@portable-pubsub/driver-memory";
import { afterEach, describe, expect, it } from "vitest";
import { cli, output } from "./in-process.js";

// mem:// lives in one process, so `redrive` is driven in this one. The dead letters are made the way an
// application makes them: a handler that always throws, `maxAttempts` 2, and a `deadLetter` topic.

/** Ids, bodies that are not all text, and metadata of their own: the move must keep all three. */
const ORDERS = [
  { id: "order-0", body: [0x6f, 0x6e, 0x65], metadata: { kind: "order", n: "0" } },
  { id: "order-1", body: [0xff, 0x00, 0x0a, 0xfe], metadata: { kind: "order", n: "1" } },
  { id: "order-2", body: [0x33], metadata: { kind: "order", n: "2" } },
];

const open: { shutdown(): Promise<void> }[] = [];
afterEach(async () => {
  for (const handle of open.splice(0).reverse()) await handle.shutdown();
});

/**
 * Orders that fail into `mem://DEAD?subscription=redrive`, and `mem://TARGET?subscription=check` to
 * redrive them to. Resolves once every order of ORDERS is a dead letter there.
 */
async function deadLetters() {
  const id = randomUUID().slice(0, 8);
  const names = { orders: `orders-${id}`, dead: `dead-${id}`, target: `target-${id}` };
  const orders = openMemTopic(names.orders);
  open.push(orders, openMemTopic(names.dead), openMemTopic(names.target));
  // A named subscription exists from its first open on: what its topic gets from then on waits there.
  await (await openSubscription(`mem://${names.dead}?subscription=redrive`)).shutdown();
  const check = await openSubscription(`mem://${names.target}?subscription=check`);
  open.push(check);

  let deadLettered = 0;
  let allIn: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allIn = resolve;
  });
  const count = (event: LogEvent) => {
    if (event.event === "pubsub.deadletter" && ++deadLettered === ORDERS.length) allIn();
  };
  const worker = await openSubscription(`mem://${names.orders}?subscription=worker`, {
    redelivery: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 1 },
    deadLetter: `mem://${names.dead}`,
    logger: { info: count, warn: count, error: count },
  });
  const processing = worker.process((message) => {
    throw new Error(`order ${message.metadata.n} is invalid`);
  });
  for (const order of ORDERS) {
    await orders.send({ id: order.id, body: new Uint8Array(order.body), metadata: order.metadata });
  }
  await done;
  await worker.shutdown();
  await processing;
  return { names, check, from: `mem://${names.dead}?subscription=redrive`, to: `mem://${names.target}` };
}

/** What `sub` gets within `waitMs`, as ids, plain bytes and metadata, acked. */
async function drain(sub: Subscription, waitMs = 300) {
  const got: { id: string; body: number[]; metadata: Record<string, string> }[] = [];
  for (;;) {
    const message = await sub.receive({ signal: AbortSignal.timeout(waitMs) }).catch(() => undefined);
    if (!message) return got;
    message.ack();
    got.push({ id: message.id, body: [...message.body], metadata: { ...message.metadata } });
  }
}

const byN = (a: { metadata: Record<string, string> }, b: { metadata: Record<string, string> }) =>
  Number(a.metadata.n) - Number(b.metadata.n);

describe("pubsub redrive (in process, mem://)", () => {
  it("moves every dead letter: deadletter.* keys removed, ids, bytes and other metadata unchanged, originals acked", async () => {
    const { names, check, from, to } = await deadLetters();
    const code = await cli("redrive", from, to, "--wait", "300ms");
    expect(output.stderr).toEqual([]);
    expect(code).toBe(0);
    expect(output.stdout.join("")).toBe(
      `redrive: mem://${names.dead} to mem://${names.target}\nmoved       3\nfailed      0\nskipped     0\n`,
    );
    expect((await drain(check)).sort(byN)).toEqual(ORDERS);
    // Acked: the dead-letter subscription is empty.
    const left = await openSubscription(from);
    open.push(left);
    expect(await drain(left)).toEqual([]);
  });

  it("--count N moves N and leaves the rest", async () => {
    const { check, from, to } = await deadLetters();
    expect(await cli("redrive", from, to, "--count", "2", "--wait", "300ms")).toBe(0);
    expect(output.stdout.join("").split("\n")[1]).toBe("moved       2");
    expect(await drain(check)).toHaveLength(2);
    expect(await cli("redrive", from, to, "--wait", "300ms")).toBe(0);
    expect(output.stdout.join("").split("\n")[1]).toBe("moved       1");
    expect((await drain(check)).length).toBe(1);
  });

  it("--dry-run lists id, attempts, time, source and error, moves nothing and leaves every dead letter", async () => {
    const before = Date.now();
    const { names, check, from, to } = await deadLetters();
    const after = Date.now();
    expect(await cli("redrive", from, to, "--dry-run", "--wait", "300ms")).toBe(0);
    expect(output.stderr).toEqual([]);
    const lines = output.stdout.join("").trimEnd().split("\n");
    expect(lines).toHaveLength(6);
    const listing =
      /^\S+ {2}attempts 2 {2}at (\S+) {2}from mem:\/\/orders-\w+\?subscription=worker {2}error: order (\d) is invalid$/;
    const listed = lines.slice(0, 3).map((line) => listing.exec(line));
    expect(
      listed.every((m) => m !== null),
      lines.join("\n"),
    ).toBe(true);
    expect(listed.map((m) => m?.[2]).sort()).toEqual(["0", "1", "2"]);
    for (const m of listed) {
      const time = Date.parse(m?.[1] ?? "");
      expect(time).toBeGreaterThanOrEqual(before);
      expect(time).toBeLessThanOrEqual(after);
    }
    expect(lines.slice(3)).toEqual([
      `redrive (dry run, nothing moved or acked): mem://${names.dead} to mem://${names.target}`,
      "would move  3",
      "skipped     0",
    ]);
    expect(await drain(check)).toEqual([]);
    // All three are still there, and a real run moves them.
    expect(await cli("redrive", from, to, "--wait", "300ms")).toBe(0);
    expect(output.stdout.join("").split("\n")[1]).toBe("moved       3");
    expect((await drain(check)).sort(byN)).toEqual(ORDERS);
  });

  it("skips a message without deadletter.* metadata and leaves it where it is", async () => {
    const { names, check, from, to } = await deadLetters();
    const dead = openMemTopic(names.dead);
    open.push(dead);
    await dead.send({ id: "stray-1", body: "not a dead letter", metadata: { kind: "stray" } });
    expect(await cli("redrive", from, to, "--wait", "300ms")).toBe(0);
    expect(output.stdout.join("")).toBe(
      `redrive: mem://${names.dead} to mem://${names.target}\nmoved       3\nfailed      0\n` +
        `skipped     1 (no deadletter.* metadata; left in mem://${names.dead})\n`,
    );
    expect(await drain(check)).toHaveLength(3);
    const left = await openSubscription(from);
    open.push(left);
    expect(await drain(left)).toEqual([
      { id: "stray-1", body: [...new TextEncoder().encode("not a dead letter")], metadata: { kind: "stray" } },
    ]);
  });

  it("without TO_URL, sends each dead letter back to the subscription it failed in, and to no other", async () => {
    const { names, from } = await deadLetters();
    // Another subscription of the orders topic: a redrive through the topic would reach it too.
    const audit = await openSubscription(`mem://${names.orders}?subscription=audit`);
    open.push(audit);
    const code = await cli("redrive", from, "--wait", "300ms");
    expect(output.stderr).toEqual([]);
    expect(code).toBe(0);
    expect(output.stdout.join("")).toBe(
      `redrive: mem://${names.dead} to each message's deadletter.source\nmoved       3\nfailed      0\nskipped     0\n`,
    );
    const worker = await openSubscription(`mem://${names.orders}?subscription=worker`);
    open.push(worker);
    expect((await drain(worker)).sort(byN)).toEqual(ORDERS);
    expect(await drain(audit)).toEqual([]);
  });

  it("without TO_URL, skips a dead letter whose source no send can reach alone, saying why", async () => {
    const { names, from } = await deadLetters();
    const dead = openMemTopic(names.dead);
    open.push(dead);
    const source = { "deadletter.source": "redisstream://orders?group=billing", "deadletter.attempts": "3" };
    await dead.send({ id: "from-redis-1", body: "from redis", metadata: source });
    expect(await cli("redrive", from, "--wait", "300ms")).toBe(0);
    expect(output.stdout.join("")).toBe(
      `redrive: mem://${names.dead} to each message's deadletter.source\nmoved       3\nfailed      0\n` +
        "skipped     1 (the redisstream:// driver cannot send to one subscription alone (a send to its topic reaches " +
        `every subscription of it); give TO_URL; left in mem://${names.dead})\n`,
    );
    const left = await openSubscription(from);
    open.push(left);
    expect(await drain(left)).toEqual([
      { id: "from-redis-1", body: [...new TextEncoder().encode("from redis")], metadata: source },
    ]);
  });
});
