import { type HealthState, openSubscription, openTopic } from "@portable-pubsub/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PG_URL, requirePg, skipPg, testSchema, unique } from "./helpers.js";

/**
 * pg_terminate_backend of every connection of the driver (found by an
 * application_name of this run's own, so nothing else of the shared server
 * is touched) every 300 ms, while messages are sent and received at a pace:
 * nothing is lost, no send fails, and health shows the outages.
 */
describe.skipIf(skipPg)("pg when its backends are terminated", () => {
  let fixture: Awaited<ReturnType<typeof testSchema>>;
  beforeAll(async () => {
    await requirePg();
    fixture = await testSchema("terminate");
  });
  afterAll(async () => fixture?.drop());

  it("loses nothing and fails no send while pg_terminate_backend hits every driver connection every 300 ms", {
    timeout: 120_000,
  }, async () => {
    const app = unique("victim");
    const serverUrl = `${PG_URL}?application_name=${app}`;
    const name = unique("terminate");
    const base = `pg://${name}?schema=${fixture.schema}&declare=true`;
    const sub = await openSubscription(`${base}&subscription=s&lease=2s`, { serverUrl });
    const topic = await openTopic(base, { serverUrl });
    const states = new Set<HealthState>();
    topic.onHealthChange((h) => states.add(h.state));
    sub.onHealthChange((h) => states.add(h.state));

    // Every termination costs each connection a reconnect (a backend fork): 1,000 messages keep the test short
    // on a busy machine while spanning dozens of terminations.
    const total = 1000;
    const seen = new Set<string>();
    let deliveries = 0;
    let allIn: () => void = () => {};
    const received = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    const processing = sub.process(
      (m) => {
        deliveries++;
        seen.add(m.text());
        if (seen.size === total) allIn();
      },
      { concurrency: 8 },
    );

    let terminated = 0;
    const killer = setInterval(() => {
      fixture.admin
        .query(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
          [app],
        )
        .then(({ rows }) => {
          terminated += rows[0].n;
        })
        .catch(() => {});
    }, 300);
    const failures: unknown[] = [];
    try {
      const publishers = 10;
      await Promise.all(
        Array.from({ length: publishers }, async (_, p) => {
          for (let i = p; i < total; i += publishers) {
            await topic.send({ body: `t-${i}` }).catch((err: unknown) => failures.push(err));
            // Paced: at most about 500 messages a second in all, so that the run spans many terminations.
            if (i % 100 < publishers) await new Promise((r) => setTimeout(r, 200));
          }
        }),
      );
      await Promise.race([
        received,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`received ${seen.size} of ${total}`)), 60_000)),
      ]);
    } finally {
      clearInterval(killer);
      await topic.shutdown();
      await sub.shutdown();
    }
    expect(failures).toEqual([]);
    expect(seen.size).toBe(total);
    expect(terminated).toBeGreaterThanOrEqual(10);
    expect(states.has("reconnecting")).toBe(true);
    console.info(
      `[pg] terminate: ${total} sent, ${seen.size} distinct received, ${deliveries - seen.size} duplicates, ${terminated} backends terminated`,
    );
    await processing;
  });
});
