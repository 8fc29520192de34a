/**
 * The server URL: `amqp://user:pass@host:port/vhost?heartbeat=5`, `amqps://…`,
 * or several of them separated by commas to fail over between. Parsed here,
 * once, into what amqplib's `connect` takes, so that amqplib never sees (or
 * prints) the raw string, and so that unknown parameters are rejected.
 *
 * No message built here echoes anything that may hold a password: not the
 * user information, and not the path, query or fragment of a URL whose
 * password was not percent-encoded (its "/", "?" or "#" ends the authority
 * early, so the rest of the password lands there).
 */
import {
  decodeName,
  describeUrl,
  invalidArgument,
  PubSubError,
  param,
  parseQuery,
  redactUnparsedUrl,
} from "@portable-pubsub/core/driver";
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
 * A comma that separates failover URLs: one followed (after optional spaces)
 * by `amqp://` or `amqps://`. Any other comma, such as one in a password,
 * belongs to the URL it is in.
 */
const SEPARATOR = /,(?=\s*amqps?:\/\/)/i;

/** What a server URL should look like, for messages. */
const EXPECTED =
  'expected amqp://user:password@host:5672/vhost, with "%", "/", "?", "#" and "@" in the user name or password percent-encoded';

/**
 * Splits a server URL into its failover URLs: at each comma followed by
 * `amqp://` or `amqps://`, so that a comma in a password needs no escaping
 * (a password holding ",amqp://" must encode its comma as %2C). Spaces and
 * stray commas around each URL are dropped.
 */
export function splitServerUrls(serverUrl: string): string[] {
  return serverUrl
    .split(SEPARATOR)
    .map((part) => part.replace(/^[\s,]+|[\s,]+$/g, ""))
    .filter((part) => part.length > 0);
}

/**
 * Parses a server URL, or a comma-separated list of them (see
 * {@link splitServerUrls}). Throws InvalidArgument naming the bad part
 * (without its password).
 */
export function parseServerUrls(serverUrl: string): { targets: ServerTarget[]; params: ServerUrlParams } {
  const parts = splitServerUrls(serverUrl);
  if (parts.length === 0) {
    throw invalidArgument(
      `rabbit: the server URL is empty; set ${SERVER_URL_ENV} or the serverUrl option to amqp://host`,
    );
  }
  let params: ServerUrlParams = {};
  const targets = parts.map((part, i) => {
    const label = parts.length === 1 ? "server URL" : `server URL ${i + 1} of ${parts.length}`;
    const { target, query } = parseOne(part, label);
    // Parameters apply to the whole connection: take them from the first URL, and reject conflicting ones.
    if (i === 0) params = query;
    else if (JSON.stringify(query) !== "{}" && JSON.stringify(query) !== JSON.stringify(params)) {
      throw invalidArgument(
        `rabbit: ${label} ${target.display} has query parameters that differ from the first URL's; put them on the first URL only`,
      );
    }
    return target;
  });
  return { targets, params };
}

function parseOne(text: string, label: string): { target: ServerTarget; query: ServerUrlParams } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Node's error is not attached as the cause: its `input` holds the whole URL, password included. Nor is the
    // query shown, where a secret under an encoded key (pass%77ord=) would escape redaction.
    const shown = redactUnparsedUrl(text).replace(/[?#].*$/s, "");
    throw invalidArgument(`rabbit: ${label} "${shown}" is not a valid URL; ${EXPECTED}`);
  }
  if (url.protocol !== "amqp:" && url.protocol !== "amqps:") {
    // Without "//" the "scheme" may well be a user name (user:password@host): do not echo it.
    const given = text.slice(url.protocol.length).startsWith("//") ? `, not ${url.protocol}//` : "";
    throw invalidArgument(`rabbit: ${label} must start with amqp:// or amqps://${given}; ${EXPECTED}`);
  }
  // amqp:user:pw@h and amqp:/user:pw@h parse with everything in the path: echo nothing of it.
  if (!url.hostname) throw invalidArgument(`rabbit: ${label} names no host after ${url.protocol}//; ${EXPECTED}`);
  if (`${url.pathname}${url.search}${url.hash}`.includes("@")) {
    throw invalidArgument(
      `rabbit: ${label} has an "@" after its host, so part of its password was read as the host, vhost or query; ${EXPECTED}`,
    );
  }
  const tls = url.protocol === "amqps:";
  const vhostPath = url.pathname.replace(/^\//, "");
  const display = `${url.protocol}//${url.username || url.password ? "***@" : ""}${url.host}${url.pathname}`;
  const query = readQuery(url, display);
  const decode = (text: string, part: string) =>
    decodeName(text, () => `rabbit: ${label} ${display} has a badly percent-encoded ${part}`);
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
  return { target: { options, display }, query };
}

/**
 * The query through {@link serverQuery}. Core's message echoes the URL with
 * its query, where a value under a percent-encoded key such as `pass%77ord`
 * escapes redaction: it is replaced by `display`, which has no query.
 */
function readQuery(url: URL, display: string): ServerUrlParams {
  try {
    return parseQuery(url, serverQuery, "rabbit server URL");
  } catch (err) {
    if (!(err instanceof PubSubError)) throw err;
    throw invalidArgument(err.message.split(describeUrl(url)).join(display));
  }
}
