/**
 * The `pubsub doctor` hook for rabbit:// (core's UrlInspector): connects with
 * RABBIT_SERVER_URL and looks, passively, for an exchange and a queue of the
 * URL's name, since `rabbit://NAME` is an exchange as a topic and a queue as a
 * subscription, and, through the management API where it answers, whether
 * an exchange has bindings. It creates nothing and sends nothing. It also asks each
 * server URL's node on its own (inspect-cluster.ts): which answer, of which
 * cluster, and whether a queue would survive the loss of its node.
 */
import {
  type Check,
  ErrorCode,
  type Inspection,
  redactUrl,
  resourceName,
  type UrlInspector,
} from "@portable-pubsub/core/driver";
import type { Channel, ChannelModel } from "amqplib";
import { connectRabbit } from "./amqp/connection.js";
import { ReplyCode, rabbitErrors, replyCodeOf } from "./errors.js";
import { bindingsCheck } from "./inspect-bindings.js";
import { askNodes, type NodeAnswer, nodesCheck, queueTypeCheck, queueTypeOf } from "./inspect-cluster.js";

/** The `pubsub doctor` hook: passive checks of the exchange and queue a rabbit:// URL names, changing nothing. */
export const inspectURL: UrlInspector = async (url, { signal }): Promise<Inspection> => {
  const name = resourceName(url, { driver: "rabbit", kind: "exchange or queue" });
  const checks: Check[] = [];
  let broker: string | undefined;
  let server: string | undefined;
  const roles: ("topic" | "subscription")[] = [];
  let connection: ReturnType<typeof connectRabbit> | undefined;
  try {
    connection = connectRabbit({ connectionName: "portable-pubsub doctor" });
    server = connection.display;
    // Asked alongside; never rejects, so it may be left unawaited when the connection fails.
    const answers = askNodes(signal).catch((): NodeAnswer[] => []);
    const model = await connection.model(signal);
    const node = connection.node;
    if (node) server = node.server;
    const props = model.connection.serverProperties as { product?: unknown; version?: unknown } | undefined;
    if (typeof props?.product === "string") broker = `${props.product} ${String(props.version ?? "")}`.trim();
    const exchange = await passive(model, (ch) => ch.checkExchange(name));
    const queue = await passive(model, (ch) => ch.checkQueue(name));
    // rabbit://NAME names an exchange or a queue: one of the two missing is expected, both is the problem.
    const both = exchange === "missing" && queue === "missing";
    if (exchange !== "missing") roles.push("topic");
    if (queue !== "missing") roles.push("subscription");
    checks.push(check(EXCHANGE, name, exchange, both), check(QUEUE, name, queue, both));
    if (exchange !== "missing") checks.push(await bindingsCheck(name, signal));
    if (both) {
      checks.push({
        subject: "resource",
        status: "fail",
        code: ErrorCode.NotFound,
        detail: `neither an exchange nor a queue named "${name}" exists on ${server}`,
        fix: "create it, or open the URL with declare=true (rabbit://NAME?declare=true)",
      });
    }
    const nodes = await answers;
    checks.push(nodesCheck(nodes, node?.server));
    if (queue !== "missing") {
      // The nodes the server URLs name are all the doctor can know of the cluster (AMQP does not list members).
      const cluster = nodes.filter((a) => a.node).length;
      checks.push(queueTypeCheck(name, await queueTypeOf(model, name), cluster));
    }
  } catch (err) {
    checks.push({
      subject: "broker",
      status: "fail",
      code: rabbitErrors.errorCode(err),
      detail: redactUrl(err instanceof Error ? err.message : String(err)),
      fix: "check RABBIT_SERVER_URL (amqp://user:password@host:5672/vhost): that the broker runs there and the user may log in",
    });
  } finally {
    await connection?.close(AbortSignal.timeout(2000)).catch(() => {});
  }
  return { ...(broker ? { broker } : {}), ...(server ? { server } : {}), checks, ...(roles.length ? { roles } : {}) };
};

type Found = { messageCount: number; consumerCount: number } | "exists" | "missing";

/** Runs one passive check on a channel of its own: a 404 closes the channel it happens on. */
async function passive(model: ChannelModel, check: (channel: Channel) => Promise<unknown>): Promise<Found> {
  const channel = await model.createChannel();
  channel.on("error", () => {});
  try {
    const reply = (await check(channel)) as { messageCount?: number; consumerCount?: number } | undefined;
    await channel.close().catch(() => {});
    if (typeof reply?.messageCount === "number") {
      return { messageCount: reply.messageCount, consumerCount: reply.consumerCount ?? 0 };
    }
    return "exists";
  } catch (err) {
    if (replyCodeOf(err) === ReplyCode.NotFound) return "missing";
    throw err;
  }
}

/** How one kind of resource is described in checks. */
interface Kind {
  subject: "exchange" | "queue";
  /** What the other kind is, for a skipped check. */
  other: string;
  /** What fails without it. */
  failing: string;
  fix(name: string): string;
}

const EXCHANGE: Kind = {
  subject: "exchange",
  other: "a queue",
  failing: "as a topic URL, sends would fail with NotFound",
  fix: (name) => `declare the exchange, or open the topic with rabbit://${name}?declare=true`,
};

const QUEUE: Kind = {
  subject: "queue",
  other: "an exchange",
  failing: "as a subscription URL, receiving would fail with NotFound",
  fix: (name) =>
    `declare the queue and bind it, or open the subscription with rabbit://${name}?declare=true&exchange=EXCHANGE`,
};

function check(kind: Kind, name: string, found: Found, bothMissing: boolean): Check {
  const { subject } = kind;
  if (found === "missing" && !bothMissing) {
    return { subject, status: "skip", detail: `no ${subject} "${name}" (this URL names ${kind.other})` };
  }
  if (found === "missing") {
    return { subject, status: "warn", detail: `no ${subject} "${name}": ${kind.failing}`, fix: kind.fix(name) };
  }
  const counts = typeof found === "object" ? `: ${found.messageCount} ready, ${found.consumerCount} consumers` : "";
  return { subject, status: "ok", detail: `${subject} "${name}" exists${counts}` };
}
