/**
 * rabbit:// on a real three-node RabbitMQ cluster (harness: cluster.ts),
 * started once for the file: clients spread over the nodes, a rolling
 * restart and a node killed with SIGKILL under paced load on a quorum queue
 * lose nothing and fail no send, and the doctor sees the nodes and warns of
 * a classic queue. The shared broker on 5672 is not involved. Without the
 * cluster (RabbitMQ cannot start here in time), the file skips, or fails
 * with CI=true.
 */
import type { Subscription, Topic } from "@portable-pubsub/core";
import {
  connectRabbit,
  inspectURL,
  openRabbitSubscription,
  openRabbitTopic,
  type RabbitConnection,
} from "@portable-pubsub/driver-rabbit";
import { connect } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterNode, RabbitCluster } from "./cluster.js";
import { paced, watch } from "./cluster-load.js";
import { sleep, unique, waitFor } from "./support.js";

const started = Date.now();
let cluster: RabbitCluster | undefined;
let startFailure: unknown;
try {
  cluster = await RabbitCluster.start(3, 120_000);
  console.info(`[rabbit cluster] three nodes up and clustered in ${Date.now() - started} ms`);
} catch (err) {
  startFailure = err;
}

/** The cluster, known to be there inside the tests (beforeAll fails the file otherwise). */
const the = () => cluster as RabbitCluster;
const serverUrl = () =>
  the()
    .nodes.map((n) => n.url)
    .join(",");
const nodeAt = (server: string | undefined) => the().nodes.find((n) => server?.endsWith(`:${n.port}`));

/** A topic and a process() consumer on a new quorum queue bound to it, each on a connection of its own. */
async function quorumPair(name: string, sub: RabbitConnection, pub: RabbitConnection) {
  const exchange = unique(name);
  const queue = unique(name);
  const subscription = openRabbitSubscription(sub, queue, { declare: { queueType: "quorum", exchange } });
  const topic = openRabbitTopic(pub, exchange, { declare: true });
  await Promise.all([subscription.ready({ signal: AbortSignal.timeout(20_000) }), topic.ready()]);
  return { topic, subscription, queue };
}

/** Shuts both down (every promise settles) and closes the connections. */
async function closeAll(topic: Topic, subscription: Subscription, ...connections: RabbitConnection[]) {
  await Promise.all([
    topic.shutdown({ signal: AbortSignal.timeout(10_000) }),
    subscription.shutdown({ signal: AbortSignal.timeout(10_000) }),
  ]);
  await Promise.all(connections.map((c) => c.close(AbortSignal.timeout(5000))));
}

/** Waits until `node` is safe to stop: every quorum queue keeps a majority without it. */
const awaitQuorumPlusOne = (node: ClusterNode) =>
  the().cli("rabbitmq-upgrade", node, ["await_online_quorum_plus_one", "-t", "120"], AbortSignal.timeout(130_000));

describe.skipIf(!cluster && !process.env.CI)("rabbit on a three-node cluster", () => {
  beforeAll(() => {
    if (!cluster) throw new Error(`the three-node RabbitMQ cluster did not start: ${String(startFailure)}`);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it("spreads connections over the nodes and says which node each is on", async () => {
    const connections = Array.from({ length: 30 }, () => connectRabbit({ serverUrl: serverUrl() }));
    try {
      await Promise.all(connections.map((c) => c.model()));
      const perNode = the().nodes.map((n) => connections.filter((c) => nodeAt(c.node?.server) === n).length);
      console.info(`[rabbit cluster] 30 connections per node: ${perNode.join(", ")}`);
      // 10 each expected; a node with none at all is a 1-in-60,000 event.
      for (const count of perNode) expect(count).toBeGreaterThan(0);
      expect(perNode.reduce((a, b) => a + b)).toBe(30);
      // cluster_name names each node (by its full host name) when the cluster has no name of its own.
      for (const c of connections)
        expect(c.node?.clusterName).toMatch(new RegExp(`^${nodeAt(c.node?.server)?.name.split("@")[0]}@`));
      expect(connections[0]?.node?.broker).toMatch(/^RabbitMQ \d+\.\d+\.\d+$/);
    } finally {
      await Promise.all(connections.map((c) => c.close(AbortSignal.timeout(5000))));
    }
  });

  it("loses nothing and fails no send through a rolling restart of every node (quorum queue, paced sends)", async () => {
    const settings = { serverUrl: serverUrl(), heartbeat: 2, reconnectMaxDelayMs: 1000 };
    const sub = connectRabbit(settings);
    const pub = connectRabbit(settings);
    const { topic, subscription } = await quorumPair("rolling", sub, pub);
    const [pubWatch, subWatch] = [watch(pub), watch(sub)];
    const load = paced(topic, subscription, 400);
    const restarts: string[] = [];
    let result: Awaited<ReturnType<typeof load.finish>>;
    try {
      for (const node of the().nodes) {
        const begun = Date.now();
        await awaitQuorumPlusOne(node);
        await the().stopNode(node);
        const stoppedAt = load.sent;
        await sleep(2000);
        await the().startNode(node);
        restarts.push(`${node.name} at send ${stoppedAt} (${Date.now() - begun} ms)`);
      }
      await awaitQuorumPlusOne(the().nodes[0] as ClusterNode);
      result = await load.finish(10_000);
    } finally {
      load.stop();
      await closeAll(topic, subscription, sub, pub);
    }
    console.info(
      `[rabbit cluster rolling restart] ${result.total} paced sends in ${result.sendingMs} ms, ` +
        `${result.failures.length} failed, ${result.distinct} distinct received, ${result.duplicates} duplicates; ` +
        `restarted ${restarts.join(", ")}; publisher on ${pubWatch.nodes.join(" → ")}, ` +
        `consumer on ${subWatch.nodes.join(" → ")}`,
    );
    expect(result.failures).toEqual([]);
    expect(result.total).toBeGreaterThanOrEqual(10_000);
    expect(result.distinct).toBe(result.total);
    expect(await result.processed).toBe("resolved");
    // Every node was stopped, so each connection lost its node at least once and came back on another.
    expect(pubWatch.recovered(), pubWatch.states.join(",")).toBe(true);
    expect(subWatch.recovered(), subWatch.states.join(",")).toBe(true);
    expect(new Set(pubWatch.nodes).size).toBeGreaterThan(1);
    expect(new Set(subWatch.nodes).size).toBeGreaterThan(1);
  }, 300_000);

  it("loses nothing when a node is killed with SIGKILL, and fails over at once", async () => {
    const settings = { serverUrl: serverUrl(), heartbeat: 5, connectTimeoutMs: 10_000 };
    const pub = connectRabbit(settings);
    await pub.model();
    // The consumer on the publisher's node, so that the kill takes both away (connections are shuffled).
    const spares: RabbitConnection[] = [];
    let sub = connectRabbit(settings);
    await sub.model();
    while (sub.node?.server !== pub.node?.server && spares.length < 40) {
      spares.push(sub);
      sub = connectRabbit(settings);
      await sub.model();
    }
    await Promise.all(spares.map((c) => c.close()));
    const victim = nodeAt(pub.node?.server) as ClusterNode;
    expect(nodeAt(sub.node?.server)).toBe(victim);
    const { topic, subscription, queue } = await quorumPair("killed", sub, pub);
    const [pubWatch, subWatch] = [watch(pub), watch(sub)];
    const load = paced(topic, subscription, 500);
    let result: Awaited<ReturnType<typeof load.finish>>;
    let failoverMs: number;
    let sentAtKill: number;
    try {
      await waitFor(() => load.sent >= 2000, 30_000, "2,000 sends before the kill");

      sentAtKill = load.sent;
      const killedAt = Date.now();
      await the().killNode(victim);
      await waitFor(() => pub.node !== undefined && sub.node !== undefined, 15_000, "both connections on another node");
      failoverMs = Date.now() - killedAt;
      expect(nodeAt(pub.node?.server)).not.toBe(victim);
      expect(nodeAt(sub.node?.server)).not.toBe(victim);

      // The doctor, meanwhile: two of three nodes answer; the victim's URL is named as not answering.
      process.env.RABBIT_SERVER_URL = serverUrl();
      const doctor = await inspectURL(new URL(`rabbit://${queue}`), { signal: AbortSignal.timeout(20_000) });
      delete process.env.RABBIT_SERVER_URL;
      const nodesCheck = doctor.checks.find((c) => c.subject === "nodes");
      expect(nodesCheck?.status).toBe("warn");
      expect(nodesCheck?.detail).toMatch(
        new RegExp(`^2 of 3 server URLs answer.*; not answering: amqp://\\*\\*\\*@127\\.0\\.0\\.1:${victim.port} \\(`),
      );
      expect(doctor.checks.find((c) => c.subject === "queue type")?.status).toBe("ok");

      await sleep(1000);
      await the().startNode(victim);
      await awaitQuorumPlusOne(victim);
      result = await load.finish(5000);
    } finally {
      load.stop();
      delete process.env.RABBIT_SERVER_URL;
      await closeAll(topic, subscription, sub, pub);
      // The next test needs the whole cluster, whatever failed here.
      if (!the().isRunning(victim)) await the().startNode(victim);
    }
    console.info(
      `[rabbit cluster kill -9] ${victim.name} killed after ${sentAtKill} sends; ` +
        `both connections on another node ${failoverMs} ms later (connect timeout 10,000 ms, heartbeat 5 s); ` +
        `${result.total} paced sends, ${result.failures.length} failed, ${result.distinct} distinct received, ` +
        `${result.duplicates} duplicates`,
    );
    expect(failoverMs).toBeLessThan(3000);
    expect(result.failures).toEqual([]);
    expect(result.distinct).toBe(result.total);
    expect(await result.processed).toBe("resolved");
    expect(pubWatch.recovered(), pubWatch.states.join(",")).toBe(true);
    expect(subWatch.recovered(), subWatch.states.join(",")).toBe(true);
  }, 180_000);

  it("doctor: lists the nodes, and warns that a classic queue on the cluster is lost with its node", async () => {
    const classic = unique("classic");
    const quorum = unique("quorum");
    const admin = await connect(the().nodes[0]?.url as string);
    admin.on("error", () => {});
    try {
      const channel = await admin.createChannel();
      await channel.assertQueue(classic, { durable: true });
      await channel.assertQueue(quorum, { durable: true, arguments: { "x-queue-type": "quorum" } });
      process.env.RABBIT_SERVER_URL = serverUrl();
      const onClassic = await inspectURL(new URL(`rabbit://${classic}`), { signal: AbortSignal.timeout(20_000) });
      const onQuorum = await inspectURL(new URL(`rabbit://${quorum}`), { signal: AbortSignal.timeout(20_000) });
      const nodes = onClassic.checks.find((c) => c.subject === "nodes");
      expect(nodes?.status).toBe("ok");
      expect(nodes?.detail).toMatch(/^3 of 3 server URLs answer: .*; connected to amqp:\/\/\*\*\*@127\.0\.0\.1:\d+$/);
      for (const node of the().nodes) {
        expect(nodes?.detail).toContain(`amqp://***@127.0.0.1:${node.port} (RabbitMQ `);
      }
      expect(onClassic.server).toMatch(/^amqp:\/\/\*\*\*@127\.0\.0\.1:\d+$/);
      expect(onClassic.checks.find((c) => c.subject === "queue type")).toEqual({
        subject: "queue type",
        status: "warn",
        detail: `queue "${classic}" is a classic queue on a cluster of 3 nodes: it lives on one node, is unavailable while that node is down, and is lost with it`,
        fix: expect.stringContaining("queueType=quorum"),
      });
      expect(onQuorum.checks.find((c) => c.subject === "queue type")).toEqual({
        subject: "queue type",
        status: "ok",
        detail: `queue "${quorum}" is a quorum queue`,
      });
      await channel.deleteQueue(classic);
      await channel.deleteQueue(quorum);
    } finally {
      delete process.env.RABBIT_SERVER_URL;
      await admin.close().catch(() => {});
    }
  });
});
