/**
 * Connection settings: what a user may give, their defaults, and the key
 * under which equal settings share one connection.
 */
import { invalidArgument, type OptionsShape, param, parseOptions } from "@portable-pubsub/core/driver";
import type { SocketOptions } from "amqplib";
import { z } from "zod";
import { parseServerUrls, SERVER_URL_ENV, type ServerTarget } from "./server-url.js";

/** How to reach RabbitMQ. Every field is optional. */
export interface RabbitConnectionSettings {
  /**
   * `amqp://user:password@host:5672/vhost` or `amqps://…`, or several such URLs
   * separated by commas to fail over between. Default: the RABBIT_SERVER_URL
   * environment variable. Its query may set heartbeat, frameMax, channelMax
   * and connectTimeout (ms).
   */
  serverUrl?: string;
  /** Heartbeat interval in seconds; a silent peer is found within about twice this. Default 5; 0 turns heartbeats off. */
  heartbeat?: number;
  /** How long one connection attempt (TCP, TLS and the AMQP handshake) may take, in ms. Default 10000. */
  connectTimeoutMs?: number;
  /** The first reconnect delay's upper bound, in ms; delays double per failed attempt, with full jitter. Default 100. */
  reconnectInitialDelayMs?: number;
  /** The cap on any reconnect delay, in ms. Default 5000. */
  reconnectMaxDelayMs?: number;
  /**
   * Before the first connection succeeds: true (default) gives up after
   * trying each server URL once, so a wrong URL fails at open; false keeps
   * trying, as after any later loss. Once connected, recovery never gives up.
   */
  failFast?: boolean;
  /** TLS and socket options passed to amqplib (ca, cert, key, servername…). A connection with these is not shared. */
  socketOptions?: SocketOptions;
  /** Shown by the broker (`rabbitmqctl list_connections client_properties`). Default "portable-pubsub". */
  connectionName?: string;
}

/** Settings with defaults applied and the server URL parsed. */
export interface ResolvedSettings {
  readonly targets: ServerTarget[];
  readonly heartbeat: number;
  readonly connectTimeoutMs: number;
  readonly reconnectInitialDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly failFast: boolean;
  readonly socketOptions: SocketOptions | undefined;
  readonly connectionName: string;
  /** Equal keys share one connection; undefined never shares. */
  readonly key: string | undefined;
  /** The server URLs without passwords, for messages. */
  readonly display: string;
}

/** The zod shape of {@link RabbitConnectionSettings}, shared by direct constructors and URL options. */
export const settingsShape = {
  serverUrl: z.string().optional(),
  heartbeat: param.int(0, 3600).optional(),
  connectTimeoutMs: param.int(1, 3_600_000).optional(),
  reconnectInitialDelayMs: param.int(0, 3_600_000).optional(),
  reconnectMaxDelayMs: param.int(0, 3_600_000).optional(),
  failFast: param.flag().optional(),
  socketOptions: z.record(z.string(), z.unknown()).optional(),
  connectionName: param.name().optional(),
} satisfies OptionsShape<RabbitConnectionSettings>;
const settingsSchema = z.object(settingsShape).strict();

/** Validates `settings` and applies defaults. Throws InvalidArgument naming what is wrong. */
export function resolveSettings(settings: RabbitConnectionSettings = {}): ResolvedSettings {
  const given = parseOptions(settingsSchema, settings, "rabbit");
  const serverUrl = given.serverUrl ?? process.env[SERVER_URL_ENV];
  if (serverUrl === undefined || serverUrl.trim() === "") {
    throw invalidArgument(
      `rabbit: no server URL; set the ${SERVER_URL_ENV} environment variable or the serverUrl option, such as amqp://guest:guest@localhost:5672`,
    );
  }
  const { targets, params } = parseServerUrls(serverUrl);
  const initial = given.reconnectInitialDelayMs ?? 100;
  const resolved = {
    targets,
    heartbeat: given.heartbeat ?? params.heartbeat ?? 5,
    connectTimeoutMs: given.connectTimeoutMs ?? params.connectTimeout ?? 10_000,
    reconnectInitialDelayMs: initial,
    reconnectMaxDelayMs: Math.max(initial, given.reconnectMaxDelayMs ?? 5000),
    failFast: given.failFast ?? true,
    socketOptions: given.socketOptions as SocketOptions | undefined,
    connectionName: given.connectionName ?? "portable-pubsub",
    display: targets.map((t) => t.display).join(","),
  };
  const key = resolved.socketOptions
    ? undefined
    : JSON.stringify([
        targets.map((t) => t.options),
        resolved.heartbeat,
        resolved.connectTimeoutMs,
        initial,
        resolved.reconnectMaxDelayMs,
        resolved.failFast,
        resolved.connectionName,
      ]);
  return { ...resolved, key };
}
