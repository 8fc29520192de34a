/**
 * The cluster part of `pubsub doctor` for rabbit://: which of the server
 * URLs' nodes answer, and of which cluster, and whether a queue is of a type
 * that survives the loss of a node. AMQP tells a client nothing about a
 * cluster's membership, so the nodes the doctor knows are the ones its
 * server URLs name, each asked on a connection of its own.
 */
import type { Check } from "@portable-pubsub/core/driver";
import type { Channel, ChannelModel } from "amqplib";
import { RabbitConnection } from "./amqp/connection.js";
import type { RabbitNode } from "./amqp/node.js";
import { resolveSettings } from "./amqp/settings.js";
import { replyCodeOf } from "./errors.js";

/** What one server URL answered: its node, or why not. */
export interface NodeAnswer {
  readonly server: string;
  readonly node?: RabbitNode;
  readonly error?: string;
}

/** How long the doctor waits for each node's handshake. */
const NODE_TIMEOUT_MS = 5000;

/** Connects to each server URL of RABBIT_SERVER_URL on its own, all at once, and says what each answered. */
export async function askNodes(signal: AbortSignal): Promise<NodeAnswer[]> {
  const settings = resolveSettings({ connectionName: "portable-pubsub doctor", connectTimeoutMs: NODE_TIMEOUT_MS });
  return Promise.all(
    settings.targets.map(async (target): Promise<NodeAnswer> => {
      const one = new RabbitConnection({ ...settings, targets: [target], display: target.display, key: undefined });
      try {
        await one.model(signal);
        return { server: target.display, ...(one.node ? { node: one.node } : {}) };
      } catch (err) {
        return { server: target.display, error: err instanceof Error ? err.message : String(err) };
      } finally {
        await one.close(AbortSignal.timeout(2000)).catch(() => {});
      }
    }),
  );
}

/**
 * The "nodes" check: which server URLs answer (with their broker version
 * and cluster_name, which names the node unless an operator named the
 * cluster), and which one the doctor's connection is on. Warns when some
 * do not answer.
 */
export function nodesCheck(answers: readonly NodeAnswer[], connectedTo: string | undefined): Check {
  const up = answers.filter((a) => a.node);
  const down = answers.filter((a) => !a.node);
  const listed = up
    .map((a) => `${a.server} (${a.node?.broker ?? "?"}, cluster_name ${a.node?.clusterName ?? "?"})`)
    .join(", ");
  const on = connectedTo ? `; connected to ${connectedTo}` : "";
  const detail = `${up.length} of ${answers.length} server URLs answer: ${listed}${on}`;
  if (down.length > 0) {
    return {
      subject: "nodes",
      status: "warn",
      detail: `${detail}; not answering: ${down.map((a) => `${a.server} (${a.error})`).join(", ")}`,
      fix: "start the nodes that do not answer, or take their URLs out of RABBIT_SERVER_URL",
    };
  }
  return { subject: "nodes", status: "ok", detail };
}

/**
 * The type of the existing queue `name`, or undefined when the broker does
 * not say. AMQP has no query for it: the queue is declared again as a quorum
 * queue, which changes nothing, and the broker either accepts (it is one)
 * or refuses with a 406 naming the type it has.
 */
export async function queueTypeOf(model: ChannelModel, name: string): Promise<string | undefined> {
  const channel: Channel = await model.createChannel();
  channel.on("error", () => {});
  try {
    await channel.assertQueue(name, { durable: true, arguments: { "x-queue-type": "quorum" } });
    await channel.close().catch(() => {});
    return "quorum";
  } catch (err) {
    if (replyCodeOf(err) !== 406) return undefined;
    const message = err instanceof Error ? err.message : "";
    const current = /'x-queue-type'.* current is (?:the value )?'(\w+)'/.exec(message)?.[1];
    if (current) return current;
    // No x-queue-type at all, or not durable (replicated queues always are): a classic queue.
    if (/'x-queue-type'.* current is none/.test(message) || /inequivalent arg 'durable'/.test(message)) {
      return "classic";
    }
    return undefined;
  }
}

/** The "queue type" check: a classic queue on a cluster of several nodes is a warning. */
export function queueTypeCheck(name: string, type: string | undefined, clusterNodes: number): Check {
  if (type === undefined) {
    return { subject: "queue type", status: "skip", detail: `the broker did not say the type of queue "${name}"` };
  }
  if (type === "classic" && clusterNodes > 1) {
    return {
      subject: "queue type",
      status: "warn",
      detail:
        `queue "${name}" is a classic queue on a cluster of ${clusterNodes} nodes: it lives on one node, ` +
        "is unavailable while that node is down, and is lost with it",
      fix:
        `use a quorum queue, replicated over the nodes: declare it with x-queue-type=quorum, or open the subscription ` +
        `with rabbit://NAME?declare=true&queueType=quorum (a queue's type cannot change: use a new name, or move its messages)`,
    };
  }
  return { subject: "queue type", status: "ok", detail: `queue "${name}" is a ${type} queue` };
}
