/**
 * The `pubsub doctor` hook for nats:// (core's UrlInspector): connects with
 * NATS_SERVER_URL and looks, without changing anything, at the server
 * (version, JetStream, and on a cluster its servers), at the stream that
 * stores the subject `nats://NAME` names as a topic, and, when the URL has
 * `?consumer=C`, at stream NAME and its consumer C as a subscription; on a
 * cluster, at the stream's replicas and leader too (inspect-cluster.ts).
 */

import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type Check,
  ErrorCode,
  type Inspection,
  raceSignal,
  redactUrl,
  resourceName,
  type UrlInspector,
} from "@portable-pubsub/core/driver";
import { connectionOptions, connectNats } from "./connection.js";
import { isConsumerNotFound, isStreamNotFound } from "./declare.js";
import { natsErrors } from "./errors.js";
import { type ClusterView, clusterCheck, clusterOf, replicasCheck } from "./inspect-cluster.js";
import { resolveServers, SERVER_URL_ENV } from "./server.js";

/** The `pubsub doctor` hook: passive checks of the server, stream and consumer a nats:// URL names. */
export const inspectURL: UrlInspector = async (url, { signal }): Promise<Inspection> => {
  const name = resourceName(url, { driver: "nats", kind: "subject or stream" });
  const consumer = url.searchParams.get("consumer") ?? undefined;
  const checks: Check[] = [];
  const roles: ("topic" | "subscription")[] = [];
  let broker: string | undefined;
  let server: string | undefined;
  let nc: NatsConnection | undefined;
  try {
    const servers = resolveServers(undefined);
    server = servers.display;
    // Each listed server once, in the order given, until one answers: a cluster with a server down still
    // answers. (maxReconnectAttempts 0 would not do: nats.js then drops two servers of the list per failure.)
    const connecting = connectNats({ ...connectionOptions(servers), reconnect: false, noRandomize: true });
    // A connection that comes after the signal fired is closed, not leaked.
    connecting.then((late) => (signal.aborted ? late.close() : undefined)).catch(() => {});
    nc = await raceSignal(connecting, signal, "doctor: connect");
    broker = `NATS ${nc.info?.version ?? "(version unknown)"}`;
    checks.push({ subject: "broker", status: "ok", detail: `connected to ${nc.getServer()}, ${broker}` });
    if (nc.info?.jetstream === false) {
      checks.push({
        subject: "jetstream",
        status: "fail",
        code: ErrorCode.FailedPrecondition,
        detail: "JetStream is not enabled on this server",
        fix: "start nats-server with -js (or jetstream {} in its configuration)",
      });
      return { broker, server, checks };
    }
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const account = await jsm.getAccountInfo();
    checks.push({
      subject: "jetstream",
      status: "ok",
      detail: `JetStream enabled: ${account.streams} streams, ${account.consumers} consumers in this account`,
    });
    const cluster = clusterOf(nc);
    if (cluster) checks.push(clusterCheck(cluster));
    const [topic, ...ofStream] = await topicChecks(jsm, name, consumer !== undefined, cluster);
    if (topic.status === "ok") roles.push("topic");
    checks.push(topic, ...ofStream);
    if (consumer !== undefined) {
      const sub = await subscriptionChecks(jsm, name, consumer, cluster);
      if (sub.every((c) => c.status !== "fail")) roles.push("subscription");
      checks.push(...sub);
    } else if (topic.status !== "ok") {
      checks.push({
        subject: "subscription",
        status: "skip",
        detail: `no ?consumer=NAME: nats://${name} is not a subscription URL (nats://STREAM?consumer=NAME)`,
      });
    }
  } catch (err) {
    checks.push({
      subject: "broker",
      status: "fail",
      code: natsErrors.errorCode(err),
      detail: redactUrl(err instanceof Error ? err.message : String(err)),
      fix: `check ${SERVER_URL_ENV} (nats://[user:password@]host:4222): that nats-server runs there with -js and the user may log in`,
    });
  } finally {
    await nc?.close().catch(() => {});
  }
  return { ...(broker ? { broker } : {}), ...(server ? { server } : {}), checks, ...(roles.length ? { roles } : {}) };
};

/** The "topic" check (which stream stores the subject), and on a cluster that stream's "replicas" check. */
async function topicChecks(
  jsm: JetStreamManager,
  subject: string,
  isSubscriptionUrl: boolean,
  cluster: ClusterView | undefined,
): Promise<[Check, ...Check[]]> {
  if (isSubscriptionUrl) {
    return [{ subject: "topic", status: "skip", detail: "the URL has ?consumer=: it names a stream, not a subject" }];
  }
  try {
    const stream = await jsm.streams.find(subject);
    const found: Check = {
      subject: "topic",
      status: "ok",
      detail: `subject "${subject}" is stored by stream "${stream}"`,
    };
    const replicas = cluster && replicasCheck(await jsm.streams.info(stream), cluster);
    return replicas ? [found, replicas] : [found];
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    return [
      {
        subject: "topic",
        status: "fail",
        code: ErrorCode.NotFound,
        detail: `no stream stores subject "${subject}": as a topic URL, opening it fails with NotFound`,
        fix: `create one (nats stream add --subjects "${subject}") or open the topic with nats://${subject}?declare=true`,
      },
    ];
  }
}

async function subscriptionChecks(
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
  cluster: ClusterView | undefined,
): Promise<Check[]> {
  try {
    const info = await jsm.streams.info(stream);
    const checks: Check[] = [
      {
        subject: "stream",
        status: "ok",
        detail: `stream "${stream}" exists: ${info.state.messages} messages, subjects ${info.config.subjects?.join(", ") ?? "(none)"}`,
      },
    ];
    const replicas = replicasCheck(info, cluster);
    if (replicas) checks.push(replicas);
    try {
      const c = await jsm.consumers.info(stream, consumer);
      const pull = !c.config.deliver_subject;
      checks.push({
        subject: "consumer",
        status: pull ? "ok" : "fail",
        ...(pull
          ? {}
          : { code: ErrorCode.FailedPrecondition, fix: "create a pull consumer (nats consumer add --pull)" }),
        detail: `consumer "${consumer}" ${pull ? "is a durable pull consumer" : "is a push consumer"}: ${c.num_pending} pending, ${c.num_ack_pending} awaiting ack, ${c.num_waiting} pulls waiting`,
      });
      const maxDeliver = c.config.max_deliver ?? -1;
      if (maxDeliver > 0) {
        // The server stops delivering a message at max_deliver, so the portable dead-lettering never sees it fail again.
        checks.push({
          subject: "redelivery",
          status: "warn",
          detail: `consumer "${consumer}" has max_deliver ${maxDeliver}: a message delivered ${maxDeliver} times is never delivered again, and stays in the stream unacked, not dead-lettered`,
          fix: `set the subscription's redelivery.maxDeliveries below ${maxDeliver} (and maxAttempts no higher, with deadLetter), or remove the consumer's limit (max_deliver -1, unlimited)`,
        });
      }
    } catch (err) {
      if (!isConsumerNotFound(err)) throw err;
      checks.push({
        subject: "consumer",
        status: "fail",
        code: ErrorCode.NotFound,
        detail: `no consumer "${consumer}" on stream "${stream}": receiving would fail with NotFound`,
        fix: `create it (nats consumer add ${stream} ${consumer} --pull) or open nats://${stream}?consumer=${consumer}&declare=true`,
      });
    }
    return checks;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    return [
      {
        subject: "stream",
        status: "fail",
        code: ErrorCode.NotFound,
        detail: `no stream "${stream}": receiving would fail with NotFound`,
        fix: `create it (nats stream add ${stream} --subjects SUBJECT) or open nats://${stream}?consumer=${consumer}&declare=true`,
      },
    ];
  }
}
