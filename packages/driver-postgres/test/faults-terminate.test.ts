import { collectDistinct, healthStates } from "@portable-pubsub/conformance";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { eventually, PG_URL, schemaFixture, skipPg, unique } from "./helpers.js";

/**
 * pg_terminate_backend of every connection of the driver (found by an
 * application_name of this run's own, so nothing else of the shared server
 * is touched) every 300 ms, while messages are sent and received at a pace:
 * nothing is lost, no send fails, and health shows the outages.
 */
/**
 * Every termination costs each connection a reconnect (a backend fork): 400 messages keep the test short on a
 * busy machine while spanning dozens of terminations. PG_TERMINATE_MESSAGES=5000 runs the full size.
 */
const TOTAL = Number(process.env.PG_TERMINATE_MESSAGES ?? 400);

describe.skipIf(skipPg)("pg when its backends are terminated", () => {
  const fixture = schemaFixture("terminate");

  it("loses nothing and fails no send while pg_terminate_backend hits every driver connection every 300 ms", {
    timeout: Math.max(120_000, TOTAL * 100),
  }, async () => {
    const app = unique("victim");
    const serverUrl = `${PG_URL}?application_name=${app}`;
    const name = unique("terminate");
    const base = `pg://${name}?schema=${fixture().schema}&declare=true`;
    const sub = await openSubscription(`${base}&subscription=s&ackDeadline=2s`, { serverUrl });
    const topic = await openTopic(base, { serverUrl });
    const states = healthStates(topic);
    const total = TOTAL;
    const received = collectDistinct(sub, 8);

    let terminated = 0;
    const killer = setInterval(() => {
      fixture()
        .admin.query(
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
      await eventually(() => received.seen.size === total, 60_000 + total * 10, `receiving all ${total} messages`);
    } finally {
      clearInterval(killer);
      await topic.shutdown();
      await sub.shutdown();
    }
    expect(failures).toEqual([]);
    expect(received.seen.size).toBe(total);
    expect(terminated).toBeGreaterThanOrEqual(10);
    expect(states).toContain("reconnecting");
    console.info(
      `[pg] terminate: ${total} sent, ${received.seen.size} distinct received, ${received.duplicates} duplicates, ${terminated} backends terminated`,
    );
  });
});
