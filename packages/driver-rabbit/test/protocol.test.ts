/**
 * Protocol-level faults that a real broker only shows by chance, driven
 * through the scripted AMQP peer (test/amqp-peer): a close answered with a
 * close, a close in the same segment as the end of channel setup, a frame
 * over the negotiated frame_max, a connection that dies right after each
 * dial, nacks and returns. No broker needed: these always run.
 */
import { ErrorCode, errorCode, type Subscription, type Topic } from "@portable-pubsub/core";
import { openRabbitSubscription, openRabbitTopic, type RabbitConnectionSettings } from "@portable-pubsub/driver-rabbit";
import { afterEach, describe, expect, it } from "vitest";
import { AmqpPeer, connectionClose, defs, method } from "./amqp-peer/peer.js";
import { sleep, waitFor } from "./support.js";

const peers: AmqpPeer[] = [];
const opened: (Topic | Subscription)[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.shutdown({ signal: AbortSignal.timeout(1000) }).catch(() => {})));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function startPeer(script: Parameters<typeof AmqpPeer.start>[0] = {}): Promise<AmqpPeer> {
  const peer = await AmqpPeer.start(script);
  peers.push(peer);
  return peer;
}

/** Settings for a connection of its own (a unique name), quick to recover. */
const settingsFor = (peer: AmqpPeer, query = ""): RabbitConnectionSettings => ({
  serverUrl: peer.url(query),
  connectionName: `peer-${Math.random().toString(36).slice(2)}`,
  heartbeat: 0,
  connectTimeoutMs: 2000,
});

function track<T extends Topic | Subscription>(o: T): T {
  opened.push(o);
  return o;
}

/** Resolves with how `promise` settled, or "pending" if it has not within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown } | "pending"> {
  return Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    sleep(ms).then(() => "pending" as const),
  ]);
}

describe("rabbit through a scripted AMQP peer", () => {
  it("(1) shuts down at once when the broker answers channel.close with connection.close 320", async () => {
    const peer = await startPeer({
      onMethod(conn, frame) {
        if (frame.id !== defs.ChannelClose) return false;
        // As RabbitMQ does when it stops: no close-ok, the whole connection goes.
        conn.send(connectionClose(320, "CONNECTION_FORCED - broker forced connection closure"));
        return true;
      },
    });
    const topic = openRabbitTopic(settingsFor(peer), "x");
    const subscription = openRabbitSubscription(settingsFor(peer), "q");
    await Promise.all([topic.ready(), subscription.ready()]);
    await topic.send({ body: "confirmed" });
    // A signal that never fires, as a caller without a deadline of its own may pass: the driver must not need it.
    const never = new AbortController().signal;
    const results = await Promise.all([
      within(topic.shutdown({ signal: never }), 2000),
      within(subscription.shutdown({ signal: never }), 2000),
    ]);
    expect(results).toEqual([{ value: undefined }, { value: undefined }]);
    expect(topic.health.state).toBe("closed");
    expect(peer.connections.filter((c) => c.methods.some((m) => m.id === defs.ChannelClose))).toHaveLength(2);
  });

  it("(2a) reopens a confirm channel whose connection closed in the same segment as confirm.select-ok", async () => {
    let first = true;
    const peer = await startPeer({
      onMethod(conn, frame) {
        if (frame.id !== defs.ConfirmSelect || !first) return false;
        first = false;
        conn.send(method(frame.channel, defs.ConfirmSelectOk), connectionClose(320));
        return true;
      },
    });
    const topic = track(openRabbitTopic(settingsFor(peer), "x"));
    const states: string[] = [];
    topic.onHealthChange((h) => states.push(h.state));
    const sent = await within(topic.send({ body: "after the close" }), 3000);
    expect(sent).toEqual({ value: undefined });
    expect(peer.connections).toHaveLength(2);
    expect(peer.connections[1]?.publishes.map((p) => p.body.toString())).toEqual(["after the close"]);
    expect(states).toContain("reconnecting");
    expect(topic.health.state).toBe("ready");
  });

  it("(2b) consumes again when the connection closed in the same segment as basic.consume-ok", async () => {
    let first = true;
    const peer = await startPeer({
      onMethod(conn, frame) {
        if (frame.id !== defs.BasicConsume || !first) return false;
        first = false;
        conn.send(method(frame.channel, defs.BasicConsumeOk, { consumerTag: "doomed" }), connectionClose(320));
        return true;
      },
    });
    const subscription = track(openRabbitSubscription(settingsFor(peer), "q"));
    await waitFor(
      () => peer.connections[1]?.methods.some((m) => m.id === defs.BasicConsume) ?? false,
      3000,
      "a consume on the second connection",
    );
    const conn = peer.connections[1];
    const channel = conn?.methods.find((m) => m.id === defs.BasicConsume)?.channel ?? 0;
    const [tag] = conn?.consumers(channel) ?? [];
    expect(tag).toBeDefined();
    conn?.deliver(channel, tag as string, 1, Buffer.from("delivered"));
    const got = await within(subscription.receive(), 3000);
    expect(got).not.toBe("pending");
    const message = (got as { value: { text(): string; ack(): void } }).value;
    expect(message.text()).toBe("delivered");
    message.ack();
    await waitFor(() => conn?.methods.some((m) => m.id === defs.BasicAck) ?? false, 3000, "the ack to reach the peer");
    expect(subscription.health.state).toBe("ready");
  });

  it("(3a) fails a message over the negotiated frame_max alone, with InvalidArgument, before the socket", async () => {
    const peer = await startPeer({ tune: { frameMax: 8192 } });
    const settings = settingsFor(peer);
    const big = openRabbitTopic(settings, "big");
    const other = track(openRabbitTopic(settings, "other"));
    track(big);
    await Promise.all([big.ready(), other.ready()]);
    const [failure, ok] = await Promise.all([
      within(big.send({ body: "x", metadata: { blob: "y".repeat(10_000) } }), 3000),
      within(other.send({ body: "unrelated" }), 3000),
    ]);
    expect(ok).toEqual({ value: undefined });
    const error = failure !== "pending" && failure.error;
    expect(errorCode(error)).toBe(ErrorCode.InvalidArgument);
    expect((error as Error).message).toMatch(/frame_max 8192/);
    expect(await within(big.send({ body: "small" }), 3000)).toEqual({ value: undefined });
    // Sent before its connection negotiated frame_max, the message passes the first check and fails the second.
    const early = track(openRabbitTopic(settingsFor(peer), "early"));
    const late = await within(early.send({ body: "x", metadata: { blob: "y".repeat(10_000) } }), 3000);
    expect(errorCode(late !== "pending" && late.error)).toBe(ErrorCode.InvalidArgument);
    expect(await within(early.send({ body: "fits" }), 3000)).toEqual({ value: undefined });
    expect(peer.connections).toHaveLength(2);
    expect(peer.connections[0]?.publishes.map((p) => p.body.toString()).sort()).toEqual(["small", "unrelated"]);
    expect(peer.connections[1]?.publishes.map((p) => p.body.toString())).toEqual(["fits"]);
  });

  it("(3b) backs off from a broker that drops each connection right after the handshake", async () => {
    let accept = true;
    const peer = await startPeer({
      opened(conn) {
        if (!accept) setTimeout(() => conn.cut(), 5);
      },
    });
    const topic = track(openRabbitTopic({ ...settingsFor(peer), reconnectMaxDelayMs: 5000 }, "x"));
    await topic.send({ body: "first" });
    accept = false;
    peer.latest?.cut();
    const start = peer.connections.length;
    await sleep(2500);
    const dials = peer.connections.length - start;
    // Backoff doubles from 100 ms (full jitter): about six dials in 2.5 s. Without it, one every ~50 ms.
    expect(dials).toBeGreaterThanOrEqual(2);
    expect(dials).toBeLessThanOrEqual(12);
    accept = true;
    expect(await within(topic.send({ body: "after" }), 8000)).toEqual({ value: undefined });
  });

  it("fails a nacked send with ResourceExhausted and a returned one with NotFound; the channel lives on", async () => {
    const peer = await startPeer({
      onPublish: (_conn, p) =>
        p.body.toString() === "nack" ? "nack" : p.body.toString() === "return" ? "return" : "ack",
    });
    // One attempt: a nack is retryable, and core would retry it for as long as the peer nacks.
    const topic = track(openRabbitTopic(settingsFor(peer), "x", { retry: { maxAttempts: 1 } }));
    // One at a time: sends that share a batch share its first failure.
    const nacked = await topic.send({ body: "nack" }).catch((e: unknown) => e);
    const returned = await topic.send({ body: "return" }).catch((e: unknown) => e);
    const fine = await topic.send({ body: "fine" });
    expect([errorCode(nacked), errorCode(returned), fine]).toEqual([
      ErrorCode.ResourceExhausted,
      ErrorCode.NotFound,
      undefined,
    ]);
    expect(peer.connections).toHaveLength(1);
  });

  it("republishes what a connection cut after N publishes left unconfirmed, in order", async () => {
    let cutDone = false;
    const peer = await startPeer({
      onPublish(conn, p) {
        if (!cutDone && p.tag === 5) {
          cutDone = true;
          conn.cut();
          return "none";
        }
        return "ack";
      },
    });
    const topic = track(openRabbitTopic(settingsFor(peer), "x"));
    const bodies = Array.from({ length: 10 }, (_, i) => `m${i}`);
    const results = await within(Promise.all(bodies.map((body) => topic.send({ body }))), 5000);
    expect(results).not.toBe("pending");
    expect((results as { error?: unknown }).error).toBeUndefined();
    const second = peer.connections[1]?.publishes.map((p) => p.body.toString()) ?? [];
    // Everything from the first unconfirmed message on goes again, in send order.
    expect(second).toEqual(bodies.slice(bodies.length - second.length));
    expect(second.length).toBeGreaterThanOrEqual(6);
  });

  it("republishes, on a new channel of the same connection, a send whose confirm never came while later ones did", async () => {
    let lost = false;
    const peer = await startPeer({
      onPublish(_conn, p) {
        // Tags 1 and 3 are confirmed one by one; tag 2's confirm is lost, and the connection stays up.
        if (!lost && p.tag === 2) {
          lost = true;
          return "none";
        }
        return "ack";
      },
    });
    // One message per batch: three publishes, tags 1, 2 and 3, each send settling on its own confirm.
    const options = { confirmTimeoutMs: 400, batching: { maxBatchSize: 1 } };
    const topic = track(openRabbitTopic(settingsFor(peer), "x", options));
    await topic.ready();
    const start = Date.now();
    const settledAt: number[] = [];
    const results = await Promise.all(
      ["m1", "m2", "m3"].map((body, i) =>
        within(
          topic.send({ body }).finally(() => {
            settledAt[i] = Date.now() - start;
          }),
          3000,
        ),
      ),
    );
    expect(results).toEqual([{ value: undefined }, { value: undefined }, { value: undefined }]);
    const [first, second, third] = settledAt as [number, number, number];
    // 1 and 3 do not wait for 2; 2 waits out its confirm deadline, then goes again and is confirmed.
    expect(Math.max(first, third)).toBeLessThan(400);
    expect(second).toBeGreaterThanOrEqual(400);
    expect(second).toBeLessThan(1500);
    expect(peer.connections).toHaveLength(1);
    const conn = peer.connections[0];
    const sent = conn?.publishes.map((p) => [p.body.toString(), p.tag, p.channel]) ?? [];
    // The republish is tag 1 of a new channel; the overdue channel was closed.
    expect(sent.map(([body, tag]) => [body, tag])).toEqual([
      ["m1", 1],
      ["m2", 2],
      ["m3", 3],
      ["m2", 1],
    ]);
    expect(sent[3]?.[2]).not.toBe(sent[0]?.[2]);
    expect(conn?.methods.filter((m) => m.id === defs.ChannelClose).map((m) => m.channel)).toEqual([sent[0]?.[2]]);
    // The same message id both times, so a consumer that deduplicates by id sees one message.
    expect(conn?.publishes[3]?.properties.messageId).toBe(conn?.publishes[1]?.properties.messageId);
    expect(topic.health.state).toBe("ready");
  });

  it("does not count time while the broker blocks publishing against the confirm deadline", async () => {
    const publishedAt: number[] = [];
    let unblockedAt = 0;
    const peer = await startPeer({
      onPublish(conn) {
        publishedAt.push(Date.now());
        if (publishedAt.length > 1) return "ack";
        // Blocked for three deadlines with the first publish unconfirmed; unblocked, it stays unconfirmed.
        conn.send(method(0, defs.ConnectionBlocked, { reason: "low on memory" }));
        setTimeout(() => {
          unblockedAt = Date.now();
          conn.send(method(0, defs.ConnectionUnblocked));
        }, 900);
        return "none";
      },
    });
    const topic = track(openRabbitTopic(settingsFor(peer), "x", { confirmTimeoutMs: 300 }));
    await topic.ready();
    expect(await within(topic.send({ body: "m1" }), 3000)).toEqual({ value: undefined });
    expect(peer.publishes).toBe(2);
    // Nothing was published again while blocked: the send settled after the unblock.
    expect(unblockedAt).toBeGreaterThan(0);
    // The deadline counts from the unblock (timers may fire a few ms early or late).
    expect((publishedAt[1] as number) - unblockedAt).toBeGreaterThanOrEqual(290);
    expect((publishedAt[1] as number) - unblockedAt).toBeLessThan(800);
  });

  it("doubles the automatic prefetch when the application waits with the whole window unacked", async () => {
    const peer = await startPeer();
    const subscription = track(openRabbitSubscription(settingsFor(peer), "q"));
    await subscription.ready();
    const conn = peer.latest;
    const channel = conn?.methods.find((m) => m.id === defs.BasicConsume)?.channel ?? 0;
    const qos = () => conn?.methods.filter((m) => m.id === defs.BasicQos).map((m) => m.fields.prefetchCount) ?? [];
    const current = () => (conn?.consumers(channel) ?? [])[0] as string;
    const held = [];
    // 32 small messages raise the window to 500 (the size rule, tested below); then all 500 delivered and held.
    for (let tag = 1; tag <= 32; tag++) conn?.deliver(channel, current(), tag, Buffer.from(`m${tag}`));
    for (let i = 0; i < 32; i++) held.push(await subscription.receive({ signal: AbortSignal.timeout(3000) }));
    await waitFor(() => conn?.methods.some((m) => m.id === defs.BasicCancel) ?? false, 3000, "the first cancel");
    for (let tag = 33; tag <= 500; tag++) conn?.deliver(channel, current(), tag, Buffer.from(`m${tag}`));
    for (let i = 32; i < 500; i++) held.push(await subscription.receive({ signal: AbortSignal.timeout(3000) }));
    expect(qos()).toEqual([50, 500]);
    // Waiting for a 501st with all 500 unacked: the window, not the broker, held the application back.
    const waiting = subscription.receive({ signal: AbortSignal.timeout(3000) }).catch((e: unknown) => e);
    await waitFor(() => qos().length === 3, 3000, "a third basic.qos");
    expect(qos()).toEqual([50, 500, 1000]);
    await waitFor(() => (conn?.consumers(channel) ?? []).length === 1, 3000, "the old consumer's cancel");
    conn?.deliver(channel, current(), 501, Buffer.from("m501"));
    const next = await waiting;
    expect((next as { text(): string }).text()).toBe("m501");
    for (const m of held) m.ack();
    (next as { ack(): void }).ack();
    // Acked, the window is not full when the application waits again: no further growth.
    const idle = await subscription.receive({ signal: AbortSignal.timeout(300) }).catch((e: unknown) => e);
    expect(idle).toMatchObject({ code: "DeadlineExceeded" });
    expect(qos()).toEqual([50, 500, 1000]);
  });

  it("raises the automatic prefetch once small messages flow: a new consumer first, then the old one cancelled", async () => {
    const peer = await startPeer();
    const subscription = track(openRabbitSubscription(settingsFor(peer), "q"));
    await subscription.ready();
    const conn = peer.latest;
    const channel = conn?.methods.find((m) => m.id === defs.BasicConsume)?.channel ?? 0;
    const [first] = conn?.consumers(channel) ?? [];
    for (let i = 0; i < 32; i++) conn?.deliver(channel, first as string, i + 1, Buffer.from(`m${i}`));
    for (let i = 0; i < 32; i++) (await subscription.receive({ signal: AbortSignal.timeout(3000) })).ack();
    await waitFor(
      () => conn?.methods.some((m) => m.id === defs.BasicCancel) ?? false,
      3000,
      "the old consumer's cancel",
    );
    const session =
      conn?.methods.filter((m) => [defs.BasicQos, defs.BasicConsume, defs.BasicCancel].includes(m.id)) ?? [];
    expect(session.map((m) => m.id)).toEqual([
      defs.BasicQos,
      defs.BasicConsume,
      defs.BasicQos,
      defs.BasicConsume,
      defs.BasicCancel,
    ]);
    expect(session.filter((m) => m.id === defs.BasicQos).map((m) => m.fields.prefetchCount)).toEqual([50, 500]);
    const [second] = conn?.consumers(channel) ?? [];
    expect(second).not.toBe(first);
    conn?.deliver(channel, second as string, 33, Buffer.from("on the new consumer"));
    const m = await subscription.receive({ signal: AbortSignal.timeout(3000) });
    m.ack();
    expect(m.text()).toBe("on the new consumer");
    // Acks are batched and may be coalesced (multiple=true): what counts is which delivery tags they cover.
    const acked = () => {
      const tags = new Set<number>();
      for (const f of conn?.methods ?? []) {
        if (f.id !== defs.BasicAck) continue;
        const { deliveryTag, multiple } = f.fields as { deliveryTag: number; multiple: boolean };
        for (let tag = multiple ? 1 : deliveryTag; tag <= deliveryTag; tag++) tags.add(tag);
      }
      return tags;
    };
    await waitFor(() => acked().size === 33, 3000, "33 deliveries acked");
    expect([...acked()].sort((a, b) => a - b)).toEqual(Array.from({ length: 33 }, (_, i) => i + 1));
  });
});
