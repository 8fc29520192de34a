import { type Message, openSubscription, openTopic } from "@portable-pubsub/core";
import { outbox } from "@portable-pubsub/driver-postgres";
import { describe, expect, it } from "vitest";
import { eventually, PG_URL, schemaFixture, skipPg } from "./helpers.js";
import { RABBIT, rabbitTarget, requireRabbit } from "./rabbit-target.js";

const { OUTBOX_ID_KEY } = outbox;

describe.skipIf(skipPg)("two outbox relays at once", () => {
  const fixture = schemaFixture("outbox_relays");

  it("share the rows: nothing lost, and no duplicate without a crash", async () => {
    await requireRabbit();
    const { schema, admin } = fixture();
    const target = await rabbitTarget("outbox-two");
    const got: Message[] = [];
    target.subscription
      .process(async (m) => {
        got.push(m);
      })
      .catch(() => {});
    const options = {
      serverUrl: PG_URL,
      schema,
      batchSize: 50,
      topicOptions: () => ({ serverUrl: RABBIT.serverUrl }),
    };
    const relays = [await outbox.startRelay(options), await outbox.startRelay(options)];
    try {
      // 2,000 messages in 20 transactions committed while both relays run, as a busy service would.
      const written: string[] = [];
      for (let t = 0; t < 20; t++) {
        const tx = await admin.connect();
        try {
          await tx.query("BEGIN");
          for (let i = 0; i < 100; i++) {
            written.push((await outbox.send(tx, target.url, { body: `t${t}m${i}` }, { schema })).id);
          }
          await tx.query("COMMIT");
        } finally {
          tx.release();
        }
      }
      const ids = () => new Set(got.map((m) => m.metadata[OUTBOX_ID_KEY]));
      await eventually(() => ids().size === written.length, 30_000, "every message");
      await eventually(async () => (await relays[0]?.backlog())?.rows === 0, 10_000, "an empty outbox");
      await new Promise((r) => setTimeout(r, 500));
      expect([...ids()].sort()).toEqual([...written].sort());
      // Duplicates: none. A relay holds the rows it claimed locked (FOR UPDATE) until the transaction that
      // deletes them commits; the other skips them (SKIP LOCKED) and, once that commits, no longer sees them.
      // Only a relay that dies (or loses its database connection) between its sends and that commit leaves
      // rows to be sent again; none did here.
      expect(got.length).toBe(written.length);
      const [a, b] = relays.map((r) => r.stats());
      expect((a?.sent ?? 0) + (b?.sent ?? 0)).toBe(written.length);
      // Both took part: while one sends a batch, the other claims the next.
      expect(a?.sent).toBeGreaterThan(0);
      expect(b?.sent).toBeGreaterThan(0);
    } finally {
      for (const relay of relays) await relay.shutdown();
      await target.remove();
    }
  });

  it("both sending to mem:// in one process: nothing lost, no duplicate", async () => {
    const { schema, admin } = fixture();
    const name = `outbox-two-${Date.now()}`;
    const topic = await openTopic(`mem://${name}`);
    const sub = await openSubscription(`mem://${name}?subscription=s`);
    const got: string[] = [];
    sub
      .process(async (m) => {
        got.push(m.metadata[OUTBOX_ID_KEY] as string);
      })
      .catch(() => {});
    const relays = [
      await outbox.startRelay({ serverUrl: PG_URL, schema, batchSize: 10 }),
      await outbox.startRelay({ serverUrl: PG_URL, schema, batchSize: 10 }),
    ];
    try {
      const written: string[] = [];
      for (let t = 0; t < 50; t++) {
        const tx = await admin.connect();
        try {
          await tx.query("BEGIN");
          for (let i = 0; i < 10; i++)
            written.push((await outbox.send(tx, `mem://${name}`, { body: "x" }, { schema })).id);
          await tx.query("COMMIT");
        } finally {
          tx.release();
        }
      }
      await eventually(() => new Set(got).size === written.length, 30_000, "every message");
      await new Promise((r) => setTimeout(r, 500));
      expect(got.length).toBe(written.length);
      expect([...got].sort()).toEqual([...written].sort());
    } finally {
      for (const relay of relays) await relay.shutdown();
      await sub.shutdown();
      await topic.shutdown();
    }
  });
});
