/**
 * The server URL: `amqp://user:pass@host:port/vhost?heartbeat=5`, `amqps://…`,
 * or several of them separated by commas to fail over between. Parsed here,
 * once, into what amqplib's `connect` takes, so that amqplib never sees (or
 * prints) the raw string, and so that unknown parameters are rejected.
 */
import { decodeName, describeUrl, invalidArgument, param, parseQuery } from "@portable-pubsub/core/driver";
import type { Options } from "amqplib";
import { z } from "zod";

/** One broker address, ready for amqplib's `connect`. */
export interface ServerTarget {
  /** amqplib's connect options: host, port, credentials, vhost, frame limits. */
  readonly options: Options.Connect;
  /** The URL without its password, for messages and logs. */
  readonly display: string;
}

/** Settings a server URL may carry in its query. */
export interface ServerUrlParams {
  heartbeat?: number;
  frameMax?: number;
  channelMax?: number;
  connectTimeout?: number;
}

const serverQuery = z
  .object({
    heartbeat: param.int(0, 3600).optional(),
    frameMax: param.int(0, 0xffffffff).optional(),
    channelMax: param.int(0, 0xffff).optional(),
    connectTimeout: param.duration({ maxMs: 3_600_000 }).optional(),
  })
  .strict();

/** Where the server URL comes from when neither options nor the URL give one. */
export const SERVER_URL_ENV = "RABBIT_SERVER_URL";

/**
 * Parses a server URL, or a comma-separated list of them. Throws
 * InvalidArgument naming the bad part (without its password).
 */
export function parseServerUrls(serverUrl: string): { targets: ServerTarget[]; params: ServerUrlParams } {
  const parts = serverUrl
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (parts.length === 0) {
    throw invalidArgument(
      `rabbit: the server URL is empty; set ${SERVER_URL_ENV} or the serverUrl option to amqp://host`,
    );
  }
  let params: ServerUrlParams = {};
  const targets = parts.map((part, i) => {
    const { target, query } = parseOne(part);
    // Parameters apply to the whole connection: take them from the first URL, and reject conflicting ones.
    if (i === 0) params = query;
    else if (JSON.stringify(query) !== "{}" && JSON.stringify(query) !== JSON.stringify(params)) {
      throw invalidArgument(
        `rabbit: server URL ${target.display} has query parameters that differ from the first URL's; put them on the first URL only`,
      );
    }
    return target;
  });
  return { targets, params };
}

function parseOne(text: string): { target: ServerTarget; query: ServerUrlParams } {
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw invalidArgument(
      `rabbit: server URL "${describeUrl(text)}" is not a valid URL; expected amqp://user:password@host:5672/vhost`,
      err,
    );
  }
  if (url.protocol !== "amqp:" && url.protocol !== "amqps:") {
    throw invalidArgument(
      `rabbit: server URL ${describeUrl(url)} must start with amqp:// or amqps://, not ${url.protocol}//`,
    );
  }
  if (!url.hostname) throw invalidArgument(`rabbit: server URL ${describeUrl(url)} names no host`);
  const query = parseQuery(url, serverQuery, "rabbit server URL");
  const tls = url.protocol === "amqps:";
  const vhostPath = url.pathname.replace(/^\//, "");
  const decode = (text: string, part: string) =>
    decodeName(text, () => `rabbit: server URL ${describeUrl(url)} has a badly percent-encoded ${part}`);
  const options: Options.Connect = {
    protocol: tls ? "amqps" : "amqp",
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port ? Number(url.port) : tls ? 5671 : 5672,
    username: url.username ? decode(url.username, "user name") : "guest",
    password: url.username || url.password ? decode(url.password, "password") : "guest",
    vhost: vhostPath ? decode(vhostPath, "vhost") : "/",
    ...(query.frameMax === undefined ? {} : { frameMax: query.frameMax }),
    ...(query.channelMax === undefined ? {} : { channelMax: query.channelMax }),
  };
  return { target: { options, display: describeUrl(url) }, query };
}
