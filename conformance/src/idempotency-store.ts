/**
 * The conformance suite of an idempotency store (issue 25), for the stores
 * we ship (memory, Redis, PostgreSQL) and anyone's own. In a vitest file:
 *
 * ```ts
 * import { idempotencyStoreSuite } from "@portable-pubsub/conformance";
 * idempotencyStoreSuite({ name: "dynamo", makeStore: async () => myStore() });
 * ```
 *
 * The store's own contract is checked directly (claims, leases, done-marks,
 * owners, one id claimed once by racing owners); the failure semantics end
 * to end, through Subscriptions of `mem://` topics by default (install
 * `@portable-pubsub/driver-memory`), or of your own `open`.
 */
import { randomUUID } from "node:crypto";
import {
  type IdempotencyStore,
  type LogEvent,
  openSubscription,
  openTopic,
  type Subscription,
  type SubscriptionOptions,
  type Topic,
} from "@portable-pubsub/core/driver";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { until } from "./test-kit.js";

/** Done-marks the cases write expire this long after, not a day later: the store may be a shared server. */
const TEST_WINDOW_MS = 180_000;

/** Options of {@link idempotencyStoreSuite}. */
export interface IdempotencyStoreSuiteOptions {
  /** Names the suite in the report. */
  name: string;
  /**
   * Makes the store under test, once, before the first case; `close()` is
   * called after the last. Every case uses ids of its own, so a store shared
   * with other runs is fine.
   */
  // biome-ignore lint/suspicious/noExplicitAny: a store of any transaction type.
  makeStore: () => IdempotencyStore<any> | Promise<IdempotencyStore<any>>;
  /**
   * Opens a topic, and subscriptions that each get a copy of every message
   * sent to it after they opened, for the end-to-end cases. Default:
   * `mem://` through the default URL mux.
   */
  open?: {
    /** Opens (creating where needed) the topic `name`. */
    topic(name: string): Promise<Topic>;
    /** Opens a subscription of topic `topicName` with `options` that gets every message sent after it opened. */
    subscription(topicName: string, options: SubscriptionOptions): Promise<Subscription>;
  };
  /** Each case's timeout, in ms. Default 60,000. */
  timeoutMs?: number;
}

const memOpen = {
  topic: (name: string) => openTopic(`mem://${name}`),
  subscription: (topicName: string, options: SubscriptionOptions) => openSubscription(`mem://${topicName}`, options),
};

/** How long an end-to-end case waits for what it expects. */
const WAIT_MS = 30_000;

/** Defines the idempotency-store conformance cases in the calling vitest file. */
export function idempotencyStoreSuite(options: IdempotencyStoreSuiteOptions): void {
  const open = options.open ?? memOpen;
  // biome-ignore lint/suspicious/noExplicitAny: see makeStore.
  let store: IdempotencyStore<any> | undefined;
  const opened: { shutdown(): Promise<void> }[] = [];
  const run = randomUUID().slice(0, 8);
  let n = 0;
  /** Ids unique to this run and case. */
  const ids = (count: number) => Array.from({ length: count }, (_, i) => `pps-test-${run}-${++n}-${i}`);
  const the = () => {
    if (!store) throw new Error("idempotency store suite: the store is not ready (makeStore failed?)");
    return store;
  };
  const owner = (name: string, leaseMs = 60_000) => ({ owner: `${name}-${run}`, leaseMs, windowMs: 60_000 });
  /** Claims `id` for another owner until the outcome is no longer `was` (20 s at most), and returns it. */
  const outcomeOnceNot = async (id: string, was: string): Promise<string | undefined> => {
    const deadline = Date.now() + 20_000;
    let outcome: string | undefined = was;
    while (outcome === was && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      [outcome] = await the().claim([id], owner("later"));
    }
    return outcome;
  };
  const keep = <T extends { shutdown(): Promise<void> }>(o: T): T => {
    opened.push(o);
    return o;
  };

  describe(`idempotency store: ${options.name}`, { timeout: options.timeoutMs ?? 60_000 }, () => {
    beforeAll(async () => {
      store = await options.makeStore();
    });
    afterEach(async () => {
      for (const o of opened.splice(0).reverse()) await o.shutdown().catch(() => {});
    });
    afterAll(async () => {
      await store?.close?.();
    });

    describe("the store's contract", () => {
      it("claims a free id once: others see it running, then done once completed", async () => {
        const [a, b] = ids(2) as [string, string];
        const me = owner("me");
        expect(await the().claim([a, b], me)).toEqual(["claimed", "claimed"]);
        expect(await the().claim([a, b], owner("other"))).toEqual(["running", "running"]);
        await the().complete([a], me);
        expect(await the().claim([a, b], owner("other"))).toEqual(["done", "running"]);
        expect(await the().claim([a], me)).toEqual(["done"]);
      });

      it("claims an id that appears twice in one batch once", async () => {
        const [a, b] = ids(2) as [string, string];
        expect(await the().claim([a, b, a], owner("me"))).toEqual(["claimed", "claimed", "running"]);
      });

      it("gives each id to one owner when several claim it at once", async () => {
        const batch = ids(50);
        const owners = ["p1", "p2", "p3", "p4"].map((name) => owner(name));
        const results = await Promise.all(owners.map((o) => the().claim(batch, o)));
        for (let i = 0; i < batch.length; i++) {
          const outcomes = results.map((r) => r[i]);
          expect(outcomes.filter((x) => x === "claimed")).toHaveLength(1);
          expect(outcomes.filter((x) => x === "running")).toHaveLength(3);
        }
      });

      it("releases only the owner's claims, and never a done-mark", async () => {
        const [a, b] = ids(2) as [string, string];
        const me = owner("me");
        await the().claim([a, b], me);
        await the().complete([b], me);
        await the().release([a, b], owner("other"));
        expect(await the().claim([a, b], owner("other"))).toEqual(["running", "done"]);
        await the().release([a, b], me);
        expect(await the().claim([a, b], owner("other"))).toEqual(["claimed", "done"]);
      });

      it("marks an id done when an owner whose lease ended completes it, and the new holder's release keeps the mark", async () => {
        // The stale owner's handler succeeded: its effect happened, so a run the holder gives up must not be
        // followed by a third.
        const [a] = ids(1) as [string];
        const holder = owner("holder");
        await the().claim([a], holder);
        await the().complete([a], owner("stale"));
        expect(await the().claim([a], owner("third"))).toEqual(["done"]);
        await the().release([a], holder);
        expect(await the().claim([a], owner("third"))).toEqual(["done"]);
      });

      it("frees a claim when its lease expires (its process died), and a done-mark when its window does", async () => {
        const [a, b] = ids(2) as [string, string];
        expect(await the().claim([a], owner("dead", 300))).toEqual(["claimed"]);
        expect(await the().claim([a], owner("other"))).toEqual(["running"]);
        expect(await outcomeOnceNot(a, "running")).toBe("claimed");
        const me = owner("me");
        await the().claim([b], me);
        await the().complete([b], { owner: me.owner, windowMs: 300 });
        expect(await the().claim([b], owner("other"))).toEqual(["done"]);
        expect(await outcomeOnceNot(b, "done")).toBe("claimed");
      });
    });

    describe("extending a claim's lease (a store with extend)", () => {
      it("extends the owner's live claim only: done, free and others' ids are left as they are", async (ctx) => {
        const store = the();
        if (typeof store.extend !== "function") ctx.skip();
        const [a, b, c, d] = ids(4) as [string, string, string, string];
        const me = owner("me", 1500);
        expect(await store.claim([a, c], me)).toEqual(["claimed", "claimed"]);
        await store.complete([c], me);
        expect(await store.claim([b], owner("other"))).toEqual(["claimed"]);
        await new Promise((resolve) => setTimeout(resolve, 700));
        await store.extend?.([a, b, c, d], { owner: me.owner, leaseMs: 4000 });
        // Past the claim's first lease (1.5 s), within the extended one.
        await new Promise((resolve) => setTimeout(resolve, 1300));
        expect(await store.claim([a, b, c, d], owner("third"))).toEqual(["running", "running", "done", "claimed"]);
        // The extended lease ends too: a process that died holds its ids only that long.
        expect(await outcomeOnceNot(a, "running")).toBe("claimed");
      });
    });

    describe("an idempotent Subscription with this store", () => {
      const topicName = () => `pps-test-idem-${randomUUID().slice(0, 8)}`;
      const logs = () => {
        const events: LogEvent[] = [];
        const push = (e: LogEvent) => events.push(e);
        return { events, logger: { info: push, warn: push, error: push } };
      };

      it("runs a handler that failed on attempt 1 again on attempt 2", async () => {
        const name = topicName();
        const topic = keep(await open.topic(name));
        const sub = keep(
          await open.subscription(name, {
            idempotency: { store: the(), windowMs: TEST_WINDOW_MS },
            redelivery: { initialDelayMs: 1, maxDelayMs: 1 },
          }),
        );
        const [id] = ids(1) as [string];
        const runs: (number | undefined)[] = [];
        void sub
          .process((message) => {
            runs.push(message.deliveryAttempt);
            if (runs.length === 1) throw new Error("attempt 1 fails");
          })
          .catch(() => {});
        await topic.send({ id, body: "fails once" });
        await until(() => runs.length === 2, WAIT_MS, "the second run");
        await sub.shutdown();
        expect(runs).toEqual([1, 2]);
        expect(await the().claim([id], owner("other"))).toEqual(["done"]);
      });

      it("runs the handler once when two consumers get the same id at once", async () => {
        const name = topicName();
        const topic = keep(await open.topic(name));
        const { events, logger } = logs();
        const consumers = await Promise.all(
          [1, 2].map(async () =>
            keep(await open.subscription(name, { idempotency: { store: the(), windowMs: TEST_WINDOW_MS }, logger })),
          ),
        );
        const sent = ids(20);
        const runs = new Map<string, number>();
        for (const sub of consumers) {
          void sub
            .process(
              async (message) => {
                runs.set(message.id, (runs.get(message.id) ?? 0) + 1);
                // Long enough that the other consumer's copy arrives while this one runs.
                await new Promise((resolve) => setTimeout(resolve, 200));
              },
              { concurrency: 20 },
            )
            .catch(() => {});
        }
        await Promise.all(sent.map((id) => topic.send({ id, body: id })));
        const duplicates = () => events.filter((e) => e.event === "pubsub.duplicate").length;
        // Each id runs on one consumer; the other's copy is acked as a duplicate once the first is done.
        await until(() => duplicates() === sent.length, WAIT_MS, "every second copy to be acked as a duplicate");
        for (const sub of consumers) await sub.shutdown();
        expect([...runs.keys()].sort()).toEqual([...sent].sort());
        expect([...runs.values()]).toEqual(sent.map(() => 1));
        expect(duplicates()).toBe(sent.length);
      });

      it("keeps a claim while its handler runs past the lease: the other consumer's copy waits, then is acked as a duplicate", async (ctx) => {
        if (typeof the().extend !== "function") ctx.skip();
        const name = topicName();
        const topic = keep(await open.topic(name));
        const { events, logger } = logs();
        // Two subscriptions of one topic: each gets a copy, with the same id; the handler runs over twice
        // the lease. Extensions come every half lease, so a store call may take a second and be in time.
        const idempotency = { store: the(), windowMs: TEST_WINDOW_MS, leaseMs: 2000 };
        const consumers = await Promise.all(
          [1, 2].map(async () => keep(await open.subscription(name, { idempotency, logger }))),
        );
        let runs = 0;
        for (const sub of consumers) {
          void sub
            .process(async () => {
              runs++;
              await new Promise((resolve) => setTimeout(resolve, 4500));
            })
            .catch(() => {});
        }
        const [id] = ids(1) as [string];
        await topic.send({ id, body: "slow" });
        await until(
          () => events.some((e) => e.event === "pubsub.duplicate"),
          WAIT_MS,
          "the second copy acked as a duplicate",
        );
        for (const sub of consumers) await sub.shutdown();
        expect(runs).toBe(1);
        expect(events.filter((e) => e.event === "pubsub.idempotency_failed")).toEqual([]);
      });

      it("processes a message whose claim was held by a process that died, once its lease expired", async () => {
        const name = topicName();
        const topic = keep(await open.topic(name));
        const sub = keep(await open.subscription(name, { idempotency: { store: the(), windowMs: TEST_WINDOW_MS } }));
        const [id] = ids(1) as [string];
        expect(await the().claim([id], owner("died", 1500))).toEqual(["claimed"]);
        const attempts: (number | undefined)[] = [];
        void sub
          .process((message) => {
            attempts.push(message.deliveryAttempt);
          })
          .catch(() => {});
        await topic.send({ id, body: "after the lease" });
        await until(() => attempts.length === 1, WAIT_MS, "the message to be processed");
        await sub.shutdown();
        expect(attempts).toHaveLength(1);
        // Postponed while the dead claim held it: it ran on a later delivery.
        expect(attempts[0]).toBeGreaterThan(1);
        expect(await the().claim([id], owner("other"))).toEqual(["done"]);
      });
    });
  });
}
