/**
 * nats:// on a three-node JetStream cluster of the test's own (harness:
 * cluster-harness.ts), started once for the file: a comma list of servers,
 * `declare=true&replicas=3`, the stream leader's node killed with SIGKILL
 * and a rolling restart of every node under 400 paced sends a second (0
 * lost, 0 failed sends, each message stored once, duplicates within one
 * in-flight window, failover times printed), and the doctor's cluster
 * checks. The shared server on 4222 is not involved. Without nats-server
 * the file skips, or fails with CI=true.
 */
import "@portable-pubsub/driver-nats/register";
import { connect } from "@nats-io/transport-node";
import { ErrorCode, openSubscription, openTopic, PubSubError } from "@portable-pubsub/core";
import type { Check } from "@portable-pubsub/core/driver";
import { connectionOptions, inspectURL, openNatsTopic, parseServerUrls } from "@portable-pubsub/driver-nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterNode, NatsCluster, until } from "./cluster-harness.js";
import { type LoadOutcome, RATE, startLoad, uniqueStream, WINDOW } from "./cluster-load.js";

const started = Date.now();
let cluster: NatsCluster | undefined;
let startFailure: unknown;
try {
  cluster = await NatsCluster.start(3);
  console.info(`[nats cluster] three nodes up with a JetStream meta leader in ${Date.now() - started} ms`);
} catch (err) {
  startFailure = err;
}

/** The cluster, known to be there inside the tests (beforeAll fails the file otherwise). */
const the = () => cluster as NatsCluster;
const shutdown = () => ({ signal: AbortSignal.timeout(10_000) });
/** How many times the kill test kills the stream leader: 1, or more for a soak (NATS_CLUSTER_KILLS=40). */
const KILLS = Number(process.env.NATS_CLUSTER_KILLS ?? 1);
/** How long each node of the rolling restart stays down. */
const DOWNTIME_MS = 2000;

/** What every fault must leave: nothing lost, no send failed, each stored once, duplicates within one window per fault. */
function expectNoLoss(outcome: LoadOutcome, faults: number): void {
  expect(outcome.failures).toEqual([]);
  expect(outcome.missing).toBe("");
  expect(outcome.distinct).toBe(outcome.total);
  expect(outcome.stored).toBe(outcome.total);
  expect(outcome.duplicates).toBeLessThanOrEqual(faults * WINDOW);
  expect(outcome.processed).toBe("resolved");
}

/** What `pubsub doctor` says of `url`, with NATS_SERVER_URL naming every node of the cluster. */
async function doctor(url: string) {
  const saved = process.env.NATS_SERVER_URL;
  process.env.NATS_SERVER_URL = the().serverUrl;
  try {
    return await inspectURL(new URL(url), { signal: AbortSignal.timeout(20_000) });
  } finally {
    if (saved === undefined) delete process.env.NATS_SERVER_URL;
    else process.env.NATS_SERVER_URL = saved;
  }
}

/**
 * The doctor during a failover: stream `stream` led by `leader`, and the replica on `down` not current.
 * Polled, since the servers may not know yet (the meta leader may have died too, and a new leader may
 * count the dead replica current for a moment).
 */
async function expectDoctorSees(stream: string, leader: ClusterNode, down: ClusterNode): Promise<void> {
  let replicas: Check | undefined;
  await until(
    async () => {
      replicas = (await doctor(`nats://${stream}`)).checks.find((c) => c.subject === "replicas");
      return replicas?.status === "warn";
    },
    30_000,
    "the doctor's warning that a replica is not current",
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; last replicas check: ${JSON.stringify(replicas)}`);
  });
  expect(replicas?.detail).toMatch(
    new RegExp(
      `^stream "${stream}" has 3 replicas: leader ${leader.name}, .*${down.name} \\((offline|behind by \\d+ operations)\\)`,
    ),
  );
}

/** Waits until the load was served again after `since`, and returns the ms to the first send and first receipt. */
async function recovery(
  load: { recoveryAfter(since: number): { sendMs?: number; receiveMs?: number } },
  since: number,
) {
  await until(
    () => {
      const r = load.recoveryAfter(since);
      return r.sendMs !== undefined && r.receiveMs !== undefined;
    },
    60_000,
    "a send made after the fault to resolve and arrive",
  );
  return load.recoveryAfter(since) as { sendMs: number; receiveMs: number };
}

describe.skipIf(!cluster && !process.env.CI)("nats on a three-node JetStream cluster", () => {
  beforeAll(() => {
    if (!cluster) throw new Error(`the three-node JetStream cluster did not start: ${String(startFailure)}`);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it("takes the servers as a comma list (serverUrl or NATS_SERVER_URL), and declare=true&replicas=3 makes a stream of three replicas", async () => {
    const stream = uniqueStream("replicated");
    const saved = process.env.NATS_SERVER_URL;
    process.env.NATS_SERVER_URL = the().serverUrl;
    try {
      const topic = await openTopic(`nats://${stream}?declare=true&replicas=3`);
      const sub = await openSubscription(`nats://${stream}?consumer=c&declare=true&replicas=3`, {
        serverUrl: the().serverUrl,
      });
      await topic.send({ body: "across the cluster" });
      const message = await sub.receive();
      expect(message.text()).toBe("across the cluster");
      message.ack();
      const info = await the().streamInfo(stream);
      expect(info.config.num_replicas).toBe(3);
      const holders = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((p) => p.name)].sort();
      expect(holders).toEqual(["n1", "n2", "n3"]);
      // The consumer declare created has the stream's replicas (num_replicas 0: as many as the stream).
      const consumer = await (await the().jsm()).consumers.info(stream, "c");
      expect(consumer.cluster?.replicas).toHaveLength(2);
      await Promise.all([topic.shutdown(shutdown()), sub.shutdown(shutdown())]);
      // The direct constructor takes it too.
      const nc = await connect(connectionOptions(parseServerUrls(the().serverUrl)));
      const direct = openNatsTopic(nc, `${stream}_direct`, { declare: true, replicas: 3 });
      await direct.ready();
      expect((await the().streamInfo(`${stream}_direct`)).config.num_replicas).toBe(3);
      await direct.shutdown(shutdown());
      await nc.close();
    } finally {
      if (saved === undefined) delete process.env.NATS_SERVER_URL;
      else process.env.NATS_SERVER_URL = saved;
      await (await the().jsm()).streams.delete(stream).catch(() => {});
      await (await the().jsm()).streams.delete(`${stream}_direct`).catch(() => {});
    }
  });

  it("refuses replicas above the cluster's size with FailedPrecondition naming the stream and the replicas", async () => {
    const stream = uniqueStream("toomany");
    const err = await openTopic(`nats://${stream}?declare=true&replicas=5`, { serverUrl: the().serverUrl }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PubSubError);
    expect((err as PubSubError).code).toBe(ErrorCode.FailedPrecondition);
    expect((err as PubSubError).message).toBe(
      `open nats subject "${stream}": the server refused stream "${stream}" with replicas=5: no suitable peers for placement; the JetStream cluster has fewer servers up than the replicas asked for (replicas=N needs N servers); ask for fewer, or start more servers`,
    );
    await expect((await the().jsm()).streams.info(stream)).rejects.toThrow(/stream not found/);
  });

  it(
    "loses nothing and fails no send when the stream leader's node is killed with SIGKILL under load",
    async () => {
      const stream = uniqueStream("killed");
      // The stream first, to learn its leader; then the load's two connections go to that node, so the kill takes both.
      const creating = await openTopic(`nats://${stream}?declare=true&replicas=3`, { serverUrl: the().serverUrl });
      await creating.shutdown(shutdown());
      await the().waitStreamCurrent(stream);
      const first = await the().streamLeader(stream);
      const run = await startLoad(the(), stream, first.url);
      const kills: string[] = [];
      let outcome: LoadOutcome;
      try {
        for (let k = 0; k < KILLS; k++) {
          // Later rounds (a soak) kill whichever node leads now, wherever the load's connections went.
          const victim = k === 0 ? first : await the().streamLeader(stream);
          const flowing = run.load.distinct + 3 * RATE;
          await until(() => run.load.distinct >= flowing, 60_000, `${3 * RATE} messages before kill ${k + 1}`);
          const sentAtKill = run.load.sent;
          const killedAt = Date.now();
          await victim.server.kill();
          const successor = await the().waitNewLeader(stream, victim);
          const electedMs = Date.now() - killedAt;
          const { sendMs, receiveMs } = await recovery(run.load, killedAt);
          if (k === 0) await expectDoctorSees(stream, successor, victim);
          await victim.server.start();
          await the().waitMetaLeader();
          await the().waitStreamCurrent(stream);
          kills.push(
            `${victim.name} killed after ${sentAtKill} sends${k === 0 ? " (publisher and consumer connected to it)" : ""}, ` +
              `${successor.name} elected after ${electedMs} ms, first send after the kill resolved after ${sendMs} ms and arrived after ${receiveMs} ms, ` +
              `${victim.name} back and current after ${Date.now() - killedAt} ms`,
          );
        }
        outcome = await run.finish(run.load.sent + 3 * RATE);
      } finally {
        await run.close();
        for (const node of the().nodes) if (!node.server.running) await node.server.start();
      }
      console.info(
        `[nats cluster kill -9 of the stream leader] ${kills.join("; ")}; ${outcome.total} paced sends, ${outcome.failures.length} failed, ` +
          `${outcome.distinct} distinct received, ${outcome.stored} stored, ${outcome.duplicates} duplicates (window ${WINDOW})`,
      );
      expectNoLoss(outcome, KILLS);
      // Both connections were on the killed server: each lost it, and came back on another.
      for (const states of [outcome.health.topic, outcome.health.subscription]) {
        expect(states, states.join(",")).toContain("reconnecting");
        expect(states.at(-1), states.join(",")).toBe("ready");
      }
    },
    120_000 + KILLS * 60_000,
  );

  it("loses nothing and fails no send through a rolling restart of every node under load", async () => {
    const stream = uniqueStream("rolling");
    const run = await startLoad(the(), stream);
    const restarts: string[] = [];
    let outcome: LoadOutcome;
    try {
      await the().waitStreamCurrent(stream);
      await until(() => run.load.distinct >= RATE, 30_000, `${RATE} messages before the first restart`);
      for (const node of the().nodes) {
        const led = (await the().streamInfo(stream)).cluster?.leader === node.name;
        const stoppedAt = Date.now();
        await node.server.terminate();
        // Down for a while, as a restart that installs something is: the other two carry the stream meanwhile.
        await new Promise((r) => setTimeout(r, DOWNTIME_MS));
        await node.server.start();
        await the().waitMetaLeader();
        await the().waitStreamCurrent(stream);
        const { sendMs, receiveMs } = await recovery(run.load, stoppedAt);
        restarts.push(
          `${node.name}${led ? " (stream leader)" : ""}: back and current after ${Date.now() - stoppedAt} ms, first send after ${sendMs} ms, first receipt after ${receiveMs} ms`,
        );
      }
      outcome = await run.finish(run.load.sent + 2 * RATE);
    } finally {
      await run.close();
      for (const node of the().nodes) if (!node.server.running) await node.server.start();
    }
    console.info(
      `[nats cluster rolling restart] ${restarts.join("; ")}; ${outcome.total} paced sends, ${outcome.failures.length} failed, ` +
        `${outcome.distinct} distinct received, ${outcome.stored} stored, ${outcome.duplicates} duplicates (window ${WINDOW})`,
    );
    expectNoLoss(outcome, the().nodes.length);
  }, 120_000);

  it("doctor: names the cluster's servers, a stream's replicas and leader, and warns of a stream of one replica", async () => {
    const replicated = uniqueStream("doctor_r3");
    const single = uniqueStream("doctor_r1");
    const jsm = await the().jsm();
    await jsm.streams.add({ name: replicated, subjects: [replicated], num_replicas: 3 });
    await jsm.streams.add({ name: single, subjects: [single] });
    await jsm.consumers.add(replicated, { durable_name: "c", ack_policy: "explicit" });
    try {
      await the().waitStreamCurrent(replicated);
      const onTopic = await doctor(`nats://${replicated}`);
      const servers = the()
        .nodes.map((n: ClusterNode) => `127.0.0.1:${n.port}`)
        .sort()
        .join(", ");
      expect(onTopic.checks.map((c) => [c.subject, c.status])).toEqual([
        ["broker", "ok"],
        ["jetstream", "ok"],
        ["cluster", "ok"],
        ["topic", "ok"],
        ["replicas", "ok"],
      ]);
      // The doctor tries the servers in the order given: n1 first.
      expect(onTopic.checks[2]?.detail).toMatch(
        new RegExp(`^cluster "${the().name}" of 3 servers: ${servers.replace(/\./g, "\\.")}; connected to n1$`),
      );
      const leader = (await the().streamInfo(replicated)).cluster?.leader;
      const followers = ["n1", "n2", "n3"].filter((n) => n !== leader);
      expect(onTopic.checks[4]?.detail).toBe(
        `stream "${replicated}" has 3 replicas: leader ${leader}, ${followers.map((n) => `${n} (current)`).join(", ")}`,
      );
      const onSubscription = await doctor(`nats://${replicated}?consumer=c`);
      expect(onSubscription.roles).toEqual(["subscription"]);
      expect(onSubscription.checks.find((c) => c.subject === "replicas")?.status).toBe("ok");
      const onSingle = await doctor(`nats://${single}`);
      expect(onSingle.roles).toEqual(["topic"]);
      const singleLeader = (await the().streamInfo(single)).cluster?.leader;
      expect(onSingle.checks.find((c) => c.subject === "replicas")).toEqual({
        subject: "replicas",
        status: "warn",
        detail: `stream "${single}" has 1 replica on a cluster of 3 servers: it lives on server ${singleLeader} only, is unavailable while that server is down, and is lost with it`,
        fix: `give it replicas: nats stream edit ${single} --replicas 3 (or create streams with declare=true&replicas=3)`,
      });
    } finally {
      await jsm.streams.delete(replicated).catch(() => {});
      await jsm.streams.delete(single).catch(() => {});
    }
  });
});
