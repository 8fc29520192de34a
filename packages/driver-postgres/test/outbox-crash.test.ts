import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { FaultProxy } from "@portable-pubsub/conformance";
import type { Message } from "@portable-pubsub/core";
import { outbox } from "@portable-pubsub/driver-postgres";
import { describe, expect, it } from "vitest";
import { eventually, PG_URL, schemaFixture, skipPg } from "./helpers.js";
import { RABBIT, rabbitTarget, requireRabbit } from "./rabbit-target.js";

const CLI = fileURLToPath(new URL("../../cli/dist/main.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const TOTAL = 1000;
const BATCH = 100;

describe.skipIf(skipPg)("outbox relay killed mid-batch", () => {
  const fixture = schemaFixture("outbox_crash");

  it("kill -9 of a relay process mid-batch, then a new relay: none lost, duplicates only from the batch in flight, each with its id", async () => {
    await requireRabbit();
    const { schema, admin } = fixture();
    const target = await rabbitTarget("outbox-crash");
    // The relay process reaches RabbitMQ through a proxy that delays every chunk by 100 ms: a batch's confirms
    // come back well after its first message reached the queue, so a kill at that first arrival is mid-batch.
    const proxy = await FaultProxy.start({ upstream: RABBIT });
    proxy.slow(100);
    let child: ChildProcess | undefined;
    const relays: outbox.Relay[] = [];
    try {
      const tx = await admin.connect();
      const written: string[] = [];
      try {
        await tx.query("BEGIN");
        for (let i = 0; i < TOTAL; i++) {
          written.push((await outbox.send(tx, target.url, { body: `m${i}` }, { schema, notify: false })).id);
        }
        await tx.query("COMMIT");
      } finally {
        tx.release();
      }

      const got: Message[] = [];
      let killedAt: number | undefined;
      target.subscription
        .process(async (m) => {
          got.push(m);
          if (killedAt === undefined && child) {
            killedAt = got.length;
            child.kill("SIGKILL");
          }
        })
        .catch(() => {});

      child = spawn(process.execPath, [CLI, "outbox", "relay", "--schema", schema, "--batch-size", String(BATCH)], {
        cwd: ROOT,
        env: {
          ...process.env,
          DATABASE_URL: PG_URL,
          RABBIT_SERVER_URL: `amqp://guest:guest@${proxy.address}`,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
      expect({ code, signal }).toEqual({ code: null, signal: "SIGKILL" });
      expect(killedAt).toBeDefined();

      // Whole batches only were deleted: the rows left start with the batch in flight, which holds what arrived.
      const { rows } = await admin.query<{ message_id: string }>(
        `SELECT message_id::text FROM ${schema}.outbox ORDER BY id`,
      );
      expect(rows.length % BATCH).toBe(0);
      expect(rows.length).toBeGreaterThan(0);
      const inFlight = new Set(rows.slice(0, BATCH).map((r) => r.message_id));
      // The message's id, which every send of a row carries (as msg.id; outbox-id repeats it).
      const firstArrived = got[0]?.id as string;
      expect(inFlight.has(firstArrived)).toBe(true);

      relays.push(
        await outbox.startRelay({ serverUrl: PG_URL, schema, topicOptions: () => ({ serverUrl: RABBIT.serverUrl }) }),
      );
      const ids = () => new Set(got.map((m) => m.id));
      await eventually(() => ids().size === TOTAL, 30_000, "every message");
      await eventually(async () => (await relays[0]?.backlog())?.rows === 0, 10_000, "an empty outbox");
      await new Promise((r) => setTimeout(r, 500));

      // None lost: every written id arrived.
      expect([...ids()].sort()).toEqual([...written].sort());
      // Duplicates: only ids of the batch in flight, each with the body its first send had.
      const seen = new Map<string, string>();
      const duplicates: string[] = [];
      for (const m of got) {
        const id = m.id;
        expect(m.metadata[outbox.OUTBOX_ID_KEY]).toBe(id);
        if (seen.has(id)) {
          duplicates.push(id);
          expect(m.text()).toBe(seen.get(id));
        } else seen.set(id, m.text());
      }
      expect(duplicates.length).toBeGreaterThanOrEqual(1);
      expect(duplicates.length).toBeLessThanOrEqual(BATCH);
      for (const id of duplicates) expect(inFlight.has(id)).toBe(true);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      for (const relay of relays) await relay.shutdown();
      await proxy.close();
      await target.remove();
    }
  });
});
