/**
 * Which node a connection is on: the server URL that answered, with what
 * the broker said of itself in the handshake.
 */
import type { ChannelModel } from "amqplib";
import type { ServerTarget } from "./server-url.js";

/** Which server a connection is on: what `RabbitConnection.node` returns. */
export interface RabbitNode {
  /** The server URL connected to, without user and password: one of the failover URLs, so one node of a cluster. */
  readonly server: string;
  /**
   * The broker's `cluster_name` server property: the cluster's name when an
   * operator set one (`rabbitmqctl set_cluster_name`), else, on the versions
   * tested, the node's own name with its full host name (rabbit@host.example).
   */
  readonly clusterName: string | undefined;
  /** The broker's product and version from the handshake, such as "RabbitMQ 3.13.7". */
  readonly broker: string | undefined;
}

/** The node `model` (dialed at `target`) is on. */
export function nodeOf(model: ChannelModel, target: ServerTarget): RabbitNode {
  const props = model.connection.serverProperties as Record<string, unknown> | undefined;
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  const product = text(props?.product);
  return {
    server: target.display,
    clusterName: text(props?.cluster_name),
    broker: product && `${product} ${text(props?.version) ?? ""}`.trim(),
  };
}
