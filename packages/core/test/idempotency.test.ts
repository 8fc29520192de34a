/**
 * The idempotent consumer in core, on mem:// with the memory store: option
 * validation, what a Subscription claims, completes and releases, duplicates
 * acked without their handler (logged), claims released at shutdown, and the
 * memory store's bound. The store-agnostic cases are the conformance
 * package's `idempotencyStoreSuite`, run for this store in
 * memory-idempotency-store.test.ts.
 */
import { randomUUID } from "node:crypto";
import {
  ErrorCode,
  type IdempotencyStore,
  type LogEvent,
  memoryIdempotencyStore,
  openSubscription,
  openTopic,
  PubSubError,
  type Subscription,
  transactionOf,
} from "@portable-pubsub/core";
import { afterEach, describe, expect, it } from "vitest";

const opened: { shutdown(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.shutdown();
});
function keep<T extends { shutdown(): Promise<void> }>(o: T): T {
  opened.push(o);
  return o;
}
const name = () => `idem-${randomUUID().slice(0, 8)}`;
const logs = () => {
  const events: LogEvent[] = [];
  const push = (e: LogEvent) => events.push(e);
  return { events, logger: { info: push, warn: push, error: push } };
};
const other = { owner: "someone-else", leaseMs: 60_000, windowMs: 60_000 };

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the idempotency option", () => {
  const invalid: [string, unknown, string][] = [
    ["no store", {}, 'subscription idempotency: option "store" is required'],
    [
      "a store without release",
      { store: { claim() {}, complete() {} } },
      'subscription idempotency: option "store" is invalid: must be an idempotency store with claim, complete and release',
    ],
    [
      "a negative window",
      { store: memoryIdempotencyStore(), windowMs: -1 },
      'subscription idempotency: option "windowMs" is invalid: must be at least 1000 ms',
    ],
    [
      "a fractional lease",
      { store: memoryIdempotencyStore(), leaseMs: 1500.5 },
      'subscription idempotency: option "leaseMs" is invalid: must be a whole number of ms',
    ],
    [
      "an unknown key",
      { store: memoryIdempotencyStore(), window: 5 },
      'subscription idempotency: option "window" is not supported; supported: store, windowMs, leaseMs; did you mean "windowMs"?',
    ],
    [
      "a string",
      "yes",
      'subscription: option "idempotency" is invalid: must be an object: { store, windowMs?, leaseMs? }',
    ],
  ];
  for (const [what, idempotency, message] of invalid) {
    it(`refuses ${what} with InvalidArgument naming the option`, async () => {
      const t = name();
      keep(await openTopic(`mem://${t}`));
      const error = await openSubscription(`mem://${t}`, { idempotency } as never).then(
        (s) => {
          keep(s);
          return undefined;
        },
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(PubSubError);
      expect((error as PubSubError).code).toBe(ErrorCode.InvalidArgument);
      expect((error as PubSubError).message).toContain(message);
    });
  }

  it("refuses a memory store bound below 1", () => {
    expect(() => memoryIdempotencyStore({ maxEntries: 0 })).toThrow(/maxEntries must be a whole number of at least 1/);
  });
});

describe("an idempotent Subscription on mem://", () => {
  it("runs a handler that failed on attempt 1 again on attempt 2, then marks the id done", async () => {
    const store = memoryIdempotencyStore();
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`));
    const sub = keep(
      await openSubscription(`mem://${t}`, {
        idempotency: { store },
        redelivery: { initialDelayMs: 1, maxDelayMs: 1 },
      }),
    );
    const runs: number[] = [];
    let id = "";
    void sub.process((message) => {
      id = message.id;
      runs.push(message.deliveryAttempt ?? 0);
      if (runs.length === 1) throw new Error("attempt 1 fails");
    });
    await topic.send({ body: "once" });
    await until(() => runs.length === 2, "the second run");
    await sub.shutdown();
    expect(runs).toEqual([1, 2]);
    expect(await store.claim([id], other)).toEqual(["done"]);
  });

  it("acks a copy of a done id without its handler, and logs it", async () => {
    const store = memoryIdempotencyStore();
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`));
    // Two subscriptions of one topic: each gets a copy of every message, with the same id.
    const { events, logger } = logs();
    const first = keep(await openSubscription(`mem://${t}`, { idempotency: { store } }));
    const second = keep(await openSubscription(`mem://${t}`, { idempotency: { store }, logger }));
    await topic.send({ body: "a" });
    const m = await first.receive();
    m.ack();
    await first.shutdown(); // flushes: the done-mark is written before the ack.
    let ran = 0;
    void second.process(() => {
      ran++;
    });
    await until(() => events.some((e) => e.event === "pubsub.duplicate"), "the duplicate's log event");
    await second.shutdown();
    expect(ran).toBe(0);
    const duplicate = events.find((e) => e.event === "pubsub.duplicate") as LogEvent;
    expect(duplicate.messageId).toBe(m.id);
    expect(duplicate.message).toContain(`message ${m.id} acked without its handler`);
  });

  it("with receive(): claims at receive, releases on nack, marks done on ack", async () => {
    const store = memoryIdempotencyStore();
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`));
    const sub = keep(
      await openSubscription(`mem://${t}`, {
        idempotency: { store },
        redelivery: { initialDelayMs: 1, maxDelayMs: 1 },
      }),
    );
    await topic.send({ body: "r" });
    const first = await sub.receive();
    const id = first.id;
    expect(await store.claim([id], other)).toEqual(["running"]);
    first.nack();
    const again = await sub.receive();
    expect(again.id).toBe(id);
    expect(again.deliveryAttempt).toBe(2);
    again.ack();
    await sub.shutdown();
    expect(await store.claim([id], other)).toEqual(["done"]);
  });

  it("releases the claims of messages fetched but not handed out at shutdown, and keeps the held one's", async () => {
    const store = memoryIdempotencyStore();
    const t = name();
    const url = `mem://${t}?subscription=workers`;
    const topic = keep(await openTopic(`mem://${t}`));
    const sub: Subscription = keep(await openSubscription(url, { idempotency: { store } }));
    await Promise.all(Array.from({ length: 10 }, (_, i) => topic.send({ body: `m${i}` })));
    const held = await sub.receive();
    // The rest of the batch arrived and was claimed with it; shutdown hands it back, released.
    await sub.shutdown();
    const next = keep(await openSubscription(url, { idempotency: { store } }));
    const bodies: string[] = [];
    void next.process((message) => {
      bodies.push(message.text());
    });
    await until(() => bodies.length === 9, "the 9 handed back");
    expect(bodies.sort()).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
    expect(held.text()).toBe("m0");
    expect(await store.claim([held.id], other)).toEqual(["running"]);
  });

  it("gives a handler ctx.tx undefined without a transactional store, and transactionOf says why", async () => {
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`));
    const store = memoryIdempotencyStore();
    const sub = keep(await openSubscription(`mem://${t}`, { idempotency: { store } }));
    const seen: unknown[] = [];
    let error: unknown;
    void sub.process((_message, ctx) => {
      seen.push(ctx.tx);
      try {
        transactionOf(ctx, store);
      } catch (err) {
        error = err;
      }
    });
    await topic.send({ body: "x" });
    await until(() => seen.length === 1, "the handler");
    expect(seen).toEqual([undefined]);
    expect((error as PubSubError).code).toBe(ErrorCode.FailedPrecondition);
    expect((error as PubSubError).message).toMatch(/ctx\.tx is undefined.*transactional store/);
  });

  it("hands a process handler the store's transaction and acks without complete", async () => {
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`));
    const memory = memoryIdempotencyStore();
    const transactions: string[] = [];
    const completes: string[][] = [];
    const store: IdempotencyStore<{ txId: string }> = {
      claim: (ids, o) => memory.claim(ids, o),
      complete: (ids, o) => {
        completes.push([...ids]);
        return memory.complete(ids, o);
      },
      release: (ids, o) => memory.release(ids, o),
      runInTransaction: async (id, o, work) => {
        await work({ txId: `tx-${id}` });
        transactions.push(id);
        await memory.complete([id], o);
        return "completed";
      },
    };
    const sub = keep(await openSubscription(`mem://${t}`, { idempotency: { store } }));
    const txs: string[] = [];
    void sub.process((_message, ctx) => {
      txs.push(transactionOf(ctx, store).txId);
    });
    await topic.send({ body: "x" });
    await until(() => transactions.length === 1, "the transaction");
    await sub.shutdown();
    expect(txs).toEqual([`tx-${transactions[0]}`]);
    expect(completes).toEqual([]);
    expect(await memory.claim(transactions, other)).toEqual(["done"]);
  });
});

describe("an idempotent Subscription whose store fails", () => {
  /** The memory store, failing each call of `failing` while `down` is true. */
  const flaky = (failing: "claim" | "complete" | "release") => {
    const memory = memoryIdempotencyStore();
    const state = { down: true, calls: 0 };
    const fail = <T>(name: string, call: () => Promise<T>) => {
      if (name !== failing) return call();
      state.calls++;
      return state.down ? Promise.reject(new Error(`${name} refused by redis://:hunter2@store:6379`)) : call();
    };
    const store: IdempotencyStore = {
      claim: (ids, o) => fail("claim", () => memory.claim(ids, o)),
      complete: (ids, o) => fail("complete", () => memory.complete(ids, o)),
      release: (ids, o) => fail("release", () => memory.release(ids, o)),
    };
    return { store, memory, state };
  };
  const fast = { retry: { initialDelayMs: 1, maxDelayMs: 1 }, redelivery: { initialDelayMs: 1, maxDelayMs: 1 } };

  it("delivers a batch it could not claim again later, logged without the password, and runs it once the store is back", async () => {
    const { store, state } = flaky("claim");
    const { events, logger } = logs();
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`));
    const sub = keep(await openSubscription(`mem://${t}`, { idempotency: { store, leaseMs: 100 }, logger, ...fast }));
    const runs: (number | undefined)[] = [];
    void sub.process((message) => {
      runs.push(message.deliveryAttempt);
    });
    await topic.send({ id: "order-1", body: "x" });
    await until(() => events.some((e) => e.event === "pubsub.idempotency_failed"), "the claim failure's log event");
    expect(runs).toEqual([]);
    state.down = false;
    await until(() => runs.length === 1, "the run once the store is back");
    await sub.shutdown();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toBeGreaterThan(1);
    const failed = events.find((e) => e.event === "pubsub.idempotency_failed") as LogEvent;
    expect(failed.message).toMatch(
      /the idempotency store could not claim 1 message ids \(claim refused by redis:\/\/\*\*\*@store:6379\); postponed/,
    );
    expect(JSON.stringify(events)).not.toContain("hunter2");
  });

  it("acks a message whose done-mark could not be written, and logs it", async () => {
    const { store, memory } = flaky("complete");
    const { events, logger } = logs();
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`));
    const sub = keep(await openSubscription(`mem://${t}`, { idempotency: { store }, logger, ...fast }));
    let runs = 0;
    void sub.process(() => {
      runs++;
    });
    await topic.send({ id: "order-2", body: "x" });
    await until(() => events.some((e) => e.event === "pubsub.idempotency_failed"), "the done-mark failure's log event");
    await sub.shutdown();
    expect(runs).toBe(1);
    expect((events.find((e) => e.event === "pubsub.idempotency_failed") as LogEvent).message).toMatch(
      /could not mark 1 message ids done .*; acked without a done-mark/,
    );
    // Acked: not delivered again; its claim is left to its lease.
    expect(await memory.claim(["order-2"], other)).toEqual(["running"]);
  });

  it("releases a failed handler's claim and runs it again; a transaction's duplicate is acked and counted", async () => {
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`));
    const memory = memoryIdempotencyStore();
    const { events, logger } = logs();
    let attempt = 0;
    const store: IdempotencyStore<string> = {
      claim: (ids, o) => memory.claim(ids, o),
      complete: (ids, o) => memory.complete(ids, o),
      release: (ids, o) => memory.release(ids, o),
      runInTransaction: async (_id, _o, work) => {
        await work(`tx-${++attempt}`);
        if (attempt === 2) return "duplicate";
        return "completed";
      },
    };
    const sub = keep(await openSubscription(`mem://${t}`, { idempotency: { store }, logger, ...fast }));
    const txs: string[] = [];
    void sub.process((_message, ctx) => {
      txs.push(transactionOf(ctx, store));
      if (txs.length === 1) throw new Error("the first transaction fails");
    });
    await topic.send({ id: "order-3", body: "x" });
    await until(() => events.some((e) => e.event === "pubsub.duplicate"), "the duplicate outcome");
    await sub.shutdown();
    expect(txs).toEqual(["tx-1", "tx-2"]);
    expect(events.filter((e) => e.event === "pubsub.duplicate").map((e) => e.messageId)).toEqual(["order-3"]);
  });
});

describe("memoryIdempotencyStore's bound", () => {
  it("evicts the oldest entries first: an evicted done id can be claimed again", async () => {
    const store = memoryIdempotencyStore({ maxEntries: 3 });
    const me = { owner: "me", leaseMs: 60_000, windowMs: 60_000 };
    expect(await store.claim(["a", "b", "c"], me)).toEqual(["claimed", "claimed", "claimed"]);
    await store.complete(["a", "b", "c"], me);
    // A fourth entry evicts "a", the oldest; a fifth evicts "b".
    expect(await store.claim(["d"], me)).toEqual(["claimed"]);
    expect(await store.claim(["a"], other)).toEqual(["claimed"]);
    expect(await store.claim(["c", "d"], other)).toEqual(["done", "running"]);
    // "b" went when "a" came back; claiming it again evicts "c", now the oldest.
    expect(await store.claim(["b"], other)).toEqual(["claimed"]);
    expect(await store.claim(["c"], other)).toEqual(["claimed"]);
  });

  it("keeps evicting oldest first through many claims, releases and claims again", async () => {
    const store = memoryIdempotencyStore({ maxEntries: 2000 });
    const me = { owner: "me", leaseMs: 60_000, windowMs: 60_000 };
    // Churn that leaves stale records behind in the store's age order.
    for (let i = 0; i < 10_000; i++) {
      await store.claim(["churn"], me);
      await store.release(["churn"], me);
    }
    const ids = Array.from({ length: 5000 }, (_, i) => `id-${i}`);
    for (const id of ids) await store.claim([id], me);
    // The newest 2000 are held; the 3000 before them were evicted.
    expect(new Set(await store.claim(ids.slice(3000), other))).toEqual(new Set(["running"]));
    expect(await store.claim(["id-2999"], other)).toEqual(["claimed"]);
  });
});
