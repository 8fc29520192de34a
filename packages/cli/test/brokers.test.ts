import { openTopic } from "@portable-pubsub/core";
import { afterAll, describe, expect, it } from "vitest";
import { removeExchangeAndQueue } from "../../driver-rabbit/test/support.js";
import { RABBIT, REDIS, skipWithoutRabbit, skipWithoutRedis, unique } from "./brokers.js";
import { pubsub, startPubsub } from "./run-cli.js";

interface Target {
  name: string;
  env: NodeJS.ProcessEnv;
  /** The topic URL, and the subscription URL that receives what it gets (both declared or created on first use). */
  topic: string;
  subscription: string;
  /** Subscription URL on first use: creates it. */
  createSubscription: string;
}

/** Send and receive through the command, one process per step, as a shell script would. */
function roundTrip(target: () => Target) {
  it("sends BODY and stdin bytes with metadata, receives them as --json, --no-ack hands them back", async () => {
    const t = target();
    const created = await pubsub(["receive", t.createSubscription, "--wait", "200ms"], { env: t.env });
    expect(created).toEqual({ code: 0, stdout: "", stderr: "" });

    const sent = await pubsub(["send", t.topic, "hello", "-m", "kind=greeting", "-m", "note=a b=c"], { env: t.env });
    expect(sent).toEqual({ code: 0, stdout: `sent 1 message (5 bytes) to ${t.topic}\n`, stderr: "" });
    const binary = await pubsub(["send", t.topic], { env: t.env, input: new Uint8Array([0xff, 0x00, 0x0a]) });
    expect(binary).toEqual({ code: 0, stdout: `sent 1 message (3 bytes) to ${t.topic}\n`, stderr: "" });

    const expected = [
      { body: "hello", bodyEncoding: "utf8", metadata: { kind: "greeting", note: "a b=c" } },
      { body: "/wAK", bodyEncoding: "base64", metadata: {} },
    ];
    const peek = await pubsub(["receive", t.subscription, "--count", "2", "--json", "--no-ack"], { env: t.env });
    expect(peek.stderr).toBe("");
    expect(peek.code).toBe(0);
    const peeked = peek.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(peeked).toMatchObject(expected);
    for (const record of peeked) expect(record.loggableId).toMatch(/.+/);

    // Handed back: read again, this time acked.
    const read = await pubsub(["receive", t.subscription, "--count", "2", "--json", "--wait", "10s"], { env: t.env });
    expect(read.code).toBe(0);
    const records = read.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records).toMatchObject(expected);
    expect(records.map((r) => r.loggableId)).toEqual(peeked.map((r) => r.loggableId));
    // The message ids too: handed back and read again, each message keeps its id.
    expect(records.map((r) => r.id)).toEqual(peeked.map((r) => r.id));
    expect(new Set(records.map((r) => r.id)).size).toBe(2);

    const drained = await pubsub(["receive", t.subscription, "--wait", "1500ms"], { env: t.env });
    expect(drained).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("bench receives every message once", async () => {
    const t = target();
    const result = await pubsub(["bench", t.topic, t.subscription, "-n", "2000", "-s", "256", "-c", "16", "--json"], {
      env: t.env,
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      count: 2000,
      sent: 2000,
      failedSends: 0,
      received: 2000,
      duplicates: 0,
      lost: 0,
      corrupt: 0,
      foreign: 0,
    });
  });
}

describe.skipIf(skipWithoutRabbit)("pubsub on RabbitMQ", () => {
  const exchange = unique("ex");
  const queue = unique("q");
  const env = { RABBIT_SERVER_URL: RABBIT.serverUrl };
  const target = (): Target => ({
    name: "rabbit",
    env,
    topic: `rabbit://${exchange}`,
    subscription: `rabbit://${queue}`,
    createSubscription: `rabbit://${queue}?declare=true&exchange=${exchange}`,
  });

  afterAll(() => removeExchangeAndQueue(exchange, queue, RABBIT.serverUrl));

  roundTrip(target);

  it("doctor names the broker and its version and finds the queue", async () => {
    const result = await pubsub(["doctor", `rabbit://${queue}`], { env });
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[1]).toMatch(/^ {2}broker {2}RabbitMQ \d+\.\d+\.\d+$/);
    // The driver's inspection: the name is a queue, not an exchange, so only the subscription role is probed.
    expect(lines[3]).toBe("  ok    server        amqp://***@127.0.0.1:5672");
    expect(lines[4]).toBe(`  --    exchange      no exchange "${queue}" (this URL names a queue)`);
    expect(lines[5]).toMatch(new RegExp(`^ {2}ok {4}queue {9}queue "${queue}" exists: 0 ready, [01] consumers$`));
    // The nodes the server URLs name, and the one the connection is on.
    expect(lines[6]).toMatch(
      /^ {2}ok {4}nodes {9}1 of 1 server URLs answer: amqp:\/\/\*\*\*@127\.0\.0\.1:5672 \(RabbitMQ /,
    );
    // One node: a classic queue is no risk there (on a cluster the doctor warns).
    expect(lines[7]).toBe(`  ok    queue type    queue "${queue}" is a classic queue`);
    expect(lines[8]).toBe("  --    topic         not probed: the driver found no topic for this URL");
    expect(lines[9]).toBe("  ok    subscription  opened; no message waiting");
    expect(lines[10]).toBe("all checks passed");
  });

  it("doctor reports a missing queue as NotFound, with what to do, and exits 3", async () => {
    const missing = unique("missing");
    const result = await pubsub(["doctor", `rabbit://${missing}`, "--as", "subscription"], { env });
    expect(result.code).toBe(3);
    const lines = result.stdout.split("\n");
    // The driver's inspection finds neither an exchange nor a queue of that name...
    expect(lines[4]).toBe(
      `  WARN  exchange      no exchange "${missing}": as a topic URL, sends would fail with NotFound`,
    );
    expect(lines[6]).toBe(
      `  WARN  queue         no queue "${missing}": as a subscription URL, receiving would fail with NotFound`,
    );
    expect(lines[8]).toMatch(
      new RegExp(`^ {2}FAIL {2}resource {6}neither an exchange nor a queue named "${missing}" exists`),
    );
    expect(lines[10]).toMatch(/^ {2}ok {4}nodes {9}1 of 1 server URLs answer/);
    // ...and the portable probe fails the same way.
    expect(lines[11]).toMatch(
      /^ {2}FAIL {2}subscription {2}NotFound: open rabbit queue "[^"]+".*: .*404 \(NOT-FOUND\)/,
    );
    expect(lines[12]).toMatch(/^ {22}fix: the RabbitMQ queue does not exist: declare the exchange and the queue/);
  });

  it.each([
    ["a missing exchange", { env }, ["send", "rabbit://%MISSING%", "x"], 3, /^pubsub: NotFound: open rabbit exchange/],
    [
      "no server URL",
      { env: { RABBIT_SERVER_URL: "" } },
      ["send", "rabbit://x", "x"],
      2,
      /^pubsub: InvalidArgument: rabbit: no server URL; set the RABBIT_SERVER_URL environment variable/,
    ],
    [
      "a wrong password",
      { env: { RABBIT_SERVER_URL: "amqp://guest:hunter2@127.0.0.1:5672" } },
      ["send", "rabbit://x", "x"],
      5,
      /^pubsub: PermissionDenied: open rabbit exchange "x" on amqp:\/\/\*\*\*@127\.0\.0\.1:5672: .*ACCESS-REFUSED/,
    ],
    [
      "an unknown query parameter",
      { env },
      ["send", "rabbit://x?colour=red", "x"],
      2,
      /^pubsub: InvalidArgument: rabbit: rabbit:\/\/x: query parameter "colour" is not supported; supported: /,
    ],
  ])("reports %s as one line with exit code %#", async (_what, options, args, code, line) => {
    const result = await pubsub(
      args.map((a) => a.replace("%MISSING%", unique("missing"))),
      options,
    );
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n")).toHaveLength(2);
    expect(result.stderr).toMatch(line);
    expect(result.stderr).not.toContain("hunter2");
    expect(result.code).toBe(code);
  });
});

describe.skipIf(skipWithoutRedis)("pubsub on Redis Streams", () => {
  const stream = unique("stream");
  const env = { REDIS_SERVER_URL: REDIS.serverUrl };
  // start=new, the default, said: receive then does not note where a new group starts when nothing arrives.
  const subscription = `redisstream://${stream}?group=readers&ackDeadline=1s&start=new`;
  roundTrip(() => ({
    name: "redis",
    env,
    topic: `redisstream://${stream}`,
    subscription,
    createSubscription: subscription,
  }));

  it("receive of a new group that finds nothing says on stderr how to read what the stream already holds", async () => {
    const dead = `${stream}-dead`;
    expect((await pubsub(["send", `redisstream://${dead}`, "dead letter"], { env })).code).toBe(0);
    const late = await pubsub(["receive", `redisstream://${dead}?group=late`, "--wait", "300ms"], { env });
    expect(late).toEqual({
      code: 0,
      stdout: "",
      stderr:
        "pubsub: note: no message arrived; if the group was created now, note that a group created on first use starts at new " +
        "messages and never sees what the stream held before (such as dead letters); read those with a new group that starts " +
        `at the beginning: redisstream://${dead}?group=NEW_GROUP&start=all\n`,
    });
    const fromStart = `redisstream://${dead}?group=inspect&start=all`;
    expect(await pubsub(["receive", fromStart, "--wait", "300ms"], { env })).toEqual({
      code: 0,
      stdout: "dead letter\n",
      stderr: "",
    });
    // With start given, no note: the reader chose where its group starts.
    expect(await pubsub(["receive", fromStart, "--wait", "300ms"], { env })).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
    const topic = await openTopic(`redisstream://${dead}`, { serverUrl: REDIS.serverUrl });
    await topic.as<{ del(...keys: string[]): Promise<unknown> }>().del(dead);
    await topic.shutdown();
  });

  it("receive stops quietly with exit 0 when its reader closes stdout, leaving unwritten messages unacked", async () => {
    const piped = `redisstream://${stream}-pipe?group=readers&ackDeadline=1s`;
    expect((await pubsub(["receive", piped, "--wait", "100ms"], { env })).code).toBe(0);
    for (const body of ["m1", "m2", "m3"]) {
      expect((await pubsub(["send", `redisstream://${stream}-pipe`, body], { env })).code).toBe(0);
    }
    // Like `pubsub receive ... | head -1`: the reader goes away after its first read. On a loaded machine that
    // read may hold more than one line, so what was written is taken from it; and as a writer learns that its
    // reader left only when it writes again (as in a shell), one more message makes sure there is a next write.
    const { child, result } = startPubsub(["receive", piped], { env });
    let firstRead = "";
    child.stdout.once("data", (chunk: string) => {
      firstRead = chunk;
      child.stdout.destroy();
      void pubsub(["send", `redisstream://${stream}-pipe`, "m4"], { env });
    });
    const { code, stderr } = await result;
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const written = firstRead.split("\n").filter(Boolean);
    expect(written.length).toBeGreaterThan(0);
    // What was written was acked; what was not comes back after the ack deadline (one taken but not written had
    // its lease extended until the process ended). Waited for by count, with room for a loaded machine.
    // A line the command wrote into the pipe after that first read, before the reader closed its end, was taken
    // by the OS and is acked, as it would be behind `| head -1` (seen: m2 neither read nor redelivered, about
    // 1 run in 3): so of m1–m3, those not read may or may not come back. m4, sent after the reader left, must.
    const unread = ["m1", "m2", "m3", "m4"].filter((m) => !written.includes(m));
    const rest = await pubsub(["receive", piped, "--wait", "5s"], { env });
    const redelivered = rest.stdout.split("\n").filter(Boolean).sort();
    expect(redelivered).toContain("m4");
    expect(redelivered.every((m) => unread.includes(m))).toBe(true);
    expect(new Set(redelivered).size).toBe(redelivered.length);
    expect(rest.code).toBe(0);
    // And nothing else: what was written does not come back.
    const after = await pubsub(["receive", piped, "--wait", "1500ms"], { env });
    expect(after.stdout).toBe("");
  });

  afterAll(async () => {
    const topic = await openTopic(`redisstream://${stream}`, { serverUrl: REDIS.serverUrl });
    await topic.as<{ del(...keys: string[]): Promise<unknown> }>().del(stream, `${stream}-pipe`);
    await topic.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
  });
});
