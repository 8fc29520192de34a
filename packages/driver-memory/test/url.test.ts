import { ErrorCode, errorCode, openSubscription, openTopic, type PubSubError } from "@portable-pubsub/core";
import { MemBroker } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";

const failure = async (p: Promise<unknown>) => (await p.catch((e: unknown) => e)) as PubSubError;

describe("mem:// URLs", () => {
  it("rejects an unknown query parameter, naming it and the supported ones", async () => {
    const error = await failure(openSubscription("mem://orders?ackdeadline=5s"));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toBe(
      'mem: mem://orders: query parameter "ackdeadline" is not supported; supported: subscription, ackDeadline; did you mean "ackDeadline"?',
    );
    expect(errorCode(await failure(openTopic("mem://orders?ackDeadline=5s")))).toBe(ErrorCode.InvalidArgument);
  });

  it("rejects a bad value, naming the parameter", async () => {
    const error = await failure(openSubscription("mem://orders?ackDeadline=-3s"));
    expect(error.code).toBe(ErrorCode.InvalidArgument);
    expect(error.message).toMatch(/query parameter "ackDeadline" is invalid: must be a positive duration/);
    const repeated = await failure(openSubscription("mem://orders?subscription=a&subscription=b"));
    expect(repeated.message).toMatch(/query parameter "subscription" is given twice/);
    expect(errorCode(await failure(openTopic("mem://")))).toBe(ErrorCode.InvalidArgument);
    // @ts-expect-error: mem:// has no option "brokr"; this checks the run-time refusal too.
    expect(errorCode(await failure(openTopic("mem://x", { brokr: new MemBroker() })))).toBe(ErrorCode.InvalidArgument);
  });

  it("rejects a badly percent-encoded name with InvalidArgument, not a URIError", async () => {
    for (const url of ["mem://t/%ZZ", "mem://%E0%A4%A"]) {
      const asTopic = await failure(openTopic(url, { broker: new MemBroker() }));
      expect(asTopic.code).toBe(ErrorCode.InvalidArgument);
      expect(asTopic.message).toMatch(/badly percent-encoded topic name/);
      expect(errorCode(await failure(openSubscription(url, { broker: new MemBroker() })))).toBe(
        ErrorCode.InvalidArgument,
      );
    }
  });

  it("fails a subscription to a topic that does not exist with NotFound", async () => {
    const error = await failure(openSubscription("mem://never-opened", { broker: new MemBroker() }));
    expect(error.code).toBe(ErrorCode.NotFound);
    expect(error.message).toMatch(/mem topic "never-opened" does not exist/);
  });

  it("fails a send that no subscription would receive with FailedPrecondition, rather than drop it", async () => {
    const broker = new MemBroker();
    const topic = await openTopic("mem://lonely", { broker });
    const refused = await failure(topic.send({ body: "into the void" }));
    expect(refused.code).toBe(ErrorCode.FailedPrecondition);
    expect(refused.message).toMatch(/mem topic "lonely" has no subscription, so no one would receive the message/);
    const subscription = await openSubscription("mem://lonely", { broker });
    await topic.send({ body: "heard" });
    expect((await subscription.receive()).text()).toBe("heard");
    expect(await subscription.receive({ signal: AbortSignal.timeout(100) }).catch(errorCode)).toBe(
      ErrorCode.DeadlineExceeded,
    );
    await Promise.all([topic.shutdown(), subscription.shutdown()]);
  });

  it("sends to one named subscription alone with mem://TOPIC?subscription=NAME, which must exist", async () => {
    const broker = new MemBroker();
    const topic = await openTopic("mem://homes", { broker });
    const billing = await openSubscription("mem://homes?subscription=billing", { broker });
    const audit = await openSubscription("mem://homes?subscription=audit", { broker });
    const missing = await failure(openTopic("mem://homes?subscription=nobody", { broker }));
    expect(missing.code).toBe(ErrorCode.NotFound);
    expect(missing.message).toMatch(/mem subscription "nobody" of topic "homes" does not exist/);
    const home = await openTopic("mem://homes?subscription=billing", { broker });
    await home.send({ body: "billing only", metadata: { k: "v" } });
    const got = await billing.receive();
    expect([got.text(), got.metadata]).toEqual(["billing only", { k: "v" }]);
    got.ack();
    expect(await audit.receive({ signal: AbortSignal.timeout(100) }).catch(errorCode)).toBe(ErrorCode.DeadlineExceeded);
    await Promise.all([topic, home, billing, audit].map((x) => x.shutdown()));
  });

  it("lets consumers of a named subscription compete, and each subscription receive everything", async () => {
    const broker = new MemBroker();
    const topic = await openTopic("mem://shared", { broker });
    const a = await openSubscription("mem://shared?subscription=workers", { broker });
    const b = await openSubscription("mem://shared?subscription=workers", { broker });
    const audit = await openSubscription("mem://shared", { broker });
    await Promise.all(["1", "2", "3", "4"].map((body) => topic.send({ body })));
    const worked: string[] = [];
    const byConsumer = { a: 0, b: 0 };
    const work = (name: "a" | "b") => (m: { text(): string }) => {
      byConsumer[name]++;
      worked.push(m.text());
      if (worked.length === 4) void Promise.all([a.shutdown(), b.shutdown()]);
    };
    await Promise.all([a.process(work("a")), b.process(work("b"))]);
    expect(worked.sort()).toEqual(["1", "2", "3", "4"]);
    expect(byConsumer.a + byConsumer.b).toBe(4);
    const audited: string[] = [];
    for (let i = 0; i < 4; i++) audited.push((await audit.receive()).text());
    expect(audited).toEqual(["1", "2", "3", "4"]);
    await Promise.all([topic.shutdown(), a.shutdown(), b.shutdown(), audit.shutdown()]);
  });

  it("redelivers after the ackDeadline given in the URL, counting attempts", async () => {
    const broker = new MemBroker();
    const topic = await openTopic("mem://deadline", { broker });
    // maxExtensionMs 1: the lease of the received, unacked message is not extended (as it is by default).
    const subscription = await openSubscription("mem://deadline?subscription=s&ackDeadline=100ms", {
      broker,
      maxExtensionMs: 1,
    });
    await topic.send({ body: "slow" });
    const first = await subscription.receive();
    const started = Date.now();
    const second = await subscription.receive({ signal: AbortSignal.timeout(2000) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
    expect([first.deliveryAttempt, second.deliveryAttempt]).toEqual([1, 2]);
    second.ack();
    first.ack();
    await Promise.all([topic.shutdown(), subscription.shutdown()]);
  });

  it("counts delivery attempts per subscription", async () => {
    const broker = new MemBroker();
    const topic = await openTopic("mem://attempts", { broker });
    const a = await openSubscription("mem://attempts?subscription=a", { broker });
    const b = await openSubscription("mem://attempts?subscription=b", { broker });
    await topic.send({ body: "x" });
    const fromA = await a.receive();
    fromA.nack();
    const againFromA = await a.receive();
    const fromB = await b.receive();
    expect([fromA.deliveryAttempt, againFromA.deliveryAttempt, fromB.deliveryAttempt]).toEqual([1, 2, 1]);
    againFromA.ack();
    fromB.ack();
    await Promise.all([topic.shutdown(), a.shutdown(), b.shutdown()]);
  });
});
