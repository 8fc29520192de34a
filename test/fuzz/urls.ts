/**
 * fast-check generators of the open calls of every scheme: resource URLs,
 * server URLs and driver options, each mostly right with a few slips (a
 * scheme-less form, a raw "/" in a password, an unknown parameter, a NaN),
 * so that both the URL layer's rejections and what follows a successful
 * open are exercised. Passwords are planted in user information, queries
 * and endpoints: a distinctive token ("Zq" and six letters or digits)
 * wrapped in characters that break URL parsing, so that a leak of the whole
 * password or of the token alone is found.
 *
 * Server URLs name loopback hosts (no DNS wait) and mostly a port nothing
 * listens on (1 or 2). A slip may leave the port empty, which means the
 * default one: where a shared broker runs there, the case meets a refused
 * login or a missing queue, which must not show the password either (no
 * broker there is fine too). Names start with "fuzz-" for that reason.
 */
import fc from "fast-check";
import { optionValue, portableOptions } from "./values.js";

/** A password planted in some input, and the texts that must never appear in any error. */
export interface Planted {
  /** As written into the input. */
  readonly written: string;
  /** The password itself, and its distinctive token. */
  readonly secrets: readonly string[];
}

/** Mostly `valid`, sometimes `hostile`. */
function mostly<T>(valid: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 10, arbitrary: valid }, { weight: 1, arbitrary: hostile });
}

const text = (written: string): Planted => ({ written, secrets: [] });
const nothing = text("");
const texts = (...values: string[]) => fc.constantFrom(...values).map(text);

function join(...parts: Planted[]): Planted {
  return { written: parts.map((p) => p.written).join(""), secrets: parts.flatMap((p) => p.secrets) };
}

const token = fc.stringMatching(/^[A-Za-z0-9]{6}$/).map((s) => `Zq${s}`);
const wrapper = fc.constantFrom(
  "",
  ",",
  "/",
  " ",
  "@",
  ":",
  "%ZZ",
  "%",
  "#",
  "?",
  "&",
  "=",
  "\\",
  "é",
  "%2C",
  "+",
  ";",
  // Kept by URL parsing (dropped or percent-encoded), and not a word's end for redaction.
  "\t",
  "\n",
  "\u00a0",
  "\u2028",
  "\u200b",
  "\u202e",
  "\x1b",
);

/**
 * A password around a distinctive token. Never ",amqp://" inside: the rabbit
 * README asks for that comma as %2C, since it would start a failover URL.
 */
export const password: fc.Arbitrary<Planted> = fc
  .tuple(wrapper, token, wrapper)
  .map(([before, t, after]) => ({ written: `${before}${t}${after}`, secrets: [`${before}${t}${after}`, t] }));

const encoded = (p: Planted): Planted => ({ written: encodeURIComponent(p.written), secrets: p.secrets });

/** `user:password@` with the password percent-encoded as it should be, or no user information. */
const goodUserInfo = fc.oneof(
  fc.constant(nothing),
  password.map((p) => join(text("user:"), encoded(p), text("@"))),
);

/** User information with the slips users make: a raw password, a bad escape, a lone "@". */
const badUserInfo = fc.oneof(
  texts("user@", "u s@", "us%ZZ@", "@", ":@"),
  fc.tuple(fc.constantFrom("user", "", "u%20v"), password).map(([user, p]) => join(text(`${user}:`), p, text("@"))),
);

/** Between scheme and the rest: "://", or the scheme-less and single-slash slips. */
const separator = mostly(fc.constant("://"), fc.constantFrom(":", ":/", ":///", "//", ""));

const junkValue = fc.constantFrom(
  "1",
  "0",
  "-1",
  "NaN",
  "1e309",
  "1.5",
  "600h",
  "10ms",
  "",
  "x",
  "true",
  "99999999999",
);

/**
 * A query with mistakes: known keys with bad values, unknown keys, and a
 * planted password under a secret-looking key (percent-encoded, as one value
 * must be). `encodedSecretKeys`: whether that key may itself be
 * percent-encoded (`pass%77ord`), which URLSearchParams reads as "password".
 */
function badQuery(keys: readonly string[], encodedSecretKeys: boolean): fc.Arbitrary<Planted> {
  const secretKeys = ["password", "token", "PASSWORD", "secret", "access_token", "auth"];
  if (encodedSecretKeys) secretKeys.push("pass%77ord", "%70assword");
  const pair = fc.oneof(
    fc.tuple(fc.constantFrom(...keys, "x%3D", "", "a b"), junkValue).map(([k, v]) => text(`${k}=${v}`)),
    fc.tuple(fc.constantFrom(...secretKeys), password).map(([k, p]) => join(text(`${k}=`), encoded(p))),
  );
  return fc
    .array(pair, { minLength: 1, maxLength: 3 })
    .map((pairs) => join(text("?"), ...pairs.flatMap((p, i) => (i === 0 ? [p] : [text("&"), p]))));
}

const fragment = mostly(fc.constant(""), fc.constantFrom("#frag", "#a@b"));

interface ServerUrlShape {
  schemes: readonly string[];
  paths: readonly string[];
  badPaths: readonly string[];
  queries: readonly string[];
  queryKeys: readonly string[];
}

/** One server URL: right (to an unreachable port), or with a slip somewhere. */
function oneServerUrl(shape: ServerUrlShape): fc.Arbitrary<Planted> {
  const wellFormed = fc
    .tuple(
      mostly(fc.constantFrom(...shape.schemes), fc.constantFrom("http", "amqp", "redis", "", "x+y")),
      separator,
      mostly(goodUserInfo, badUserInfo),
      mostly(fc.constantFrom("127.0.0.1", "[::1]", "localhost"), fc.constantFrom("", "[bad", "h ost", "127.0.0.1,")),
      mostly(fc.constantFrom(":1", ":2"), fc.constantFrom(":99999", ":x", ":")),
      mostly(fc.constantFrom(...shape.paths), fc.constantFrom(...shape.badPaths)),
      mostly(fc.constantFrom(...shape.queries).map(text), badQuery(shape.queryKeys, true)),
      fragment,
    )
    .map(([scheme, sep, user, host, port, path, query, frag]) =>
      join(text(`${scheme}${sep}`), user, text(`${host}${port}${path}`), query, text(frag)),
    );
  return mostly(wellFormed, fc.string().map(text));
}

/** A rabbit server URL: one, or several separated by commas. */
export const rabbitServerUrl: fc.Arbitrary<Planted> = fc
  .tuple(
    fc.array(
      oneServerUrl({
        schemes: ["amqp", "amqps", "AMQP"],
        paths: ["", "/", "/vh", "/%2F"],
        badPaths: ["/%ZZ", "/v@x"],
        queries: ["", "", "?heartbeat=5", "?connectTimeout=200ms&frameMax=131072"],
        queryKeys: ["heartbeat", "frameMax", "channelMax", "connectTimeout"],
      }),
      { minLength: 1, maxLength: 3 },
    ),
    fc.constantFrom(",", ", ", " ,"),
  )
  .map(([urls, comma]) => ({
    written: urls.map((u) => u.written).join(comma),
    secrets: urls.flatMap((u) => u.secrets),
  }));

/** A redis server URL. */
export const redisServerUrl: fc.Arbitrary<Planted> = oneServerUrl({
  schemes: ["redis", "rediss", "REDISS"],
  paths: ["", "/", "/0", "/15"],
  badPaths: ["/x", "/%ZZ", "/0@x"],
  queries: [""],
  queryKeys: ["db", "family", "tls", "maxRetriesPerRequest", "lazyConnect"],
});

/** A gcp API endpoint, unreachable: host:port, with or without scheme and credentials. */
export const gcpEndpoint: fc.Arbitrary<Planted> = mostly(
  texts("127.0.0.1:1", "http://127.0.0.1:1", "[::1]:1"),
  fc.oneof(
    texts("", "127.0.0.1:99999", "h ost:1"),
    password.map((p) => join(text("http://u:"), p, text("@127.0.0.1:1"))),
  ),
);

type Kind = "topic" | "subscription";

interface DriverShape {
  names: Record<Kind, readonly string[]>;
  badNames: readonly string[];
  queries: Record<Kind, readonly string[]>;
  queryKeys: readonly string[];
}

const drivers: Record<string, DriverShape> = {
  mem: {
    names: { topic: ["orders", "a%20b"], subscription: ["orders", "a%20b"] },
    badNames: ["", "%ZZ", "t/%E0%A4%A"],
    queries: { topic: [""], subscription: ["", "?ackDeadline=1s", "?subscription=s"] },
    queryKeys: ["ackDeadline", "subscription"],
  },
  rabbit: {
    names: { topic: ["amq.topic", "fuzz-x"], subscription: ["fuzz-q", "fuzz%20q"] },
    badNames: ["", "%ZZ"],
    queries: { topic: ["", "?routingKey=a", "?persistent=false"], subscription: ["", "?prefetch=5", "?maxWait=100ms"] },
    queryKeys: ["routingKey", "persistent", "declare", "exchangeType", "prefetch", "maxWait", "heartbeat"],
  },
  redisstream: {
    names: { topic: ["fuzz-s", "fuzz%3As"], subscription: ["fuzz-s", "fuzz%3As"] },
    badNames: ["", "%ZZ"],
    queries: { topic: ["", "?maxLen=10"], subscription: ["?group=g&declare=0", "?group=g&declare=0&block=100ms"] },
    queryKeys: ["group", "maxLen", "trim", "create", "ackDeadline", "block", "start"],
  },
  gcppubsub: {
    names: {
      topic: ["my-project/my-topic", "projects/my-project/topics/my-topic"],
      subscription: ["my-project/my-sub", "projects/my-project/subscriptions/my-sub"],
    },
    badNames: ["", "%ZZ/x", "p/t", "projects/p/queues/q"],
    queries: { topic: ["", "?linger=5ms"], subscription: ["", "?maxWait=100ms"] },
    queryKeys: ["orderingKey", "maxBatchSize", "linger", "rpcTimeout", "maxOutstandingMessages", "maxWait"],
  },
  nosuch: {
    names: { topic: ["x"], subscription: ["x"] },
    badNames: [""],
    queries: { topic: [""], subscription: [""] },
    queryKeys: ["x"],
  },
};

export type Scheme = "mem" | "rabbit" | "redisstream" | "gcppubsub" | "nosuch";

/**
 * User information in a resource URL, after any separator: resource URLs
 * refuse it (and a raw "@"), and no message may echo it.
 */
const resourceUserInfo = mostly(fc.constant(nothing), goodUserInfo);

/** A resource URL of `scheme`, mostly right. */
function resourceUrl(scheme: Scheme, kind: Kind): fc.Arbitrary<Planted> {
  const shape = drivers[scheme] as DriverShape;
  return fc
    .tuple(
      mostly(fc.constant(scheme), fc.constant(scheme.toUpperCase())),
      separator,
      resourceUserInfo,
      mostly(
        fc.constantFrom(...shape.names[kind]),
        fc.oneof(fc.constantFrom(...shape.badNames), fc.string({ maxLength: 12 })),
      ),
      // Secret values under encoded keys too (pass%77ord=): messages never echo a query.
      mostly(fc.constantFrom(...shape.queries[kind]).map(text), badQuery(shape.queryKeys, true)),
      fragment,
    )
    .map(([s, sep, user, name, query, frag]) => join(text(`${s}${sep}`), user, text(name), query, text(frag)));
}

const junkOption = fc.constantFrom<[string, unknown]>(
  ["bogus", 1],
  ["serverUrl", 5],
  ["broker", {}],
  ["apiEndpoint", 5],
);

/** The driver's own options for `scheme`, mostly right, bounded so that an open fails fast. */
function driverOptions(scheme: Scheme): fc.Arbitrary<{ options: Record<string, unknown>; planted: Planted }> {
  const withJunk = (options: Record<string, unknown>, junk: [string, unknown] | null) =>
    junk ? { ...options, [junk[0]]: junk[1] } : options;
  const junk = mostly(fc.constant(null), junkOption);
  switch (scheme) {
    case "rabbit":
      return fc
        .tuple(
          rabbitServerUrl,
          mostly(fc.constant(200), optionValue),
          mostly(fc.constant(undefined), optionValue),
          junk,
        )
        .map(([url, connectTimeoutMs, heartbeat, extra]) => ({
          options: withJunk({ serverUrl: url.written, failFast: true, connectTimeoutMs, heartbeat }, extra),
          planted: url,
        }));
    case "redisstream":
      return fc
        .tuple(redisServerUrl, mostly(fc.constant("200ms"), optionValue), junk)
        .map(([url, socketTimeout, extra]) => ({
          options: withJunk({ serverUrl: url.written, socketTimeout }, extra),
          planted: url,
        }));
    case "gcppubsub":
      return fc.tuple(gcpEndpoint, junk).map(([endpoint, extra]) => ({
        options: withJunk({ apiEndpoint: endpoint.written }, extra),
        planted: endpoint,
      }));
    default:
      return junk.map((extra) => ({ options: withJunk({}, extra), planted: nothing }));
  }
}

/** One open call: which function, URL, and options (driver's and portable). */
export interface OpenCase {
  readonly kind: Kind;
  readonly scheme: Scheme;
  readonly url: string;
  readonly options: Record<string, unknown>;
  readonly secrets: readonly string[];
}

export const openCase: fc.Arbitrary<OpenCase> = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom<Scheme>("mem", "rabbit", "redisstream", "gcppubsub") },
      { weight: 1, arbitrary: fc.constant<Scheme>("nosuch") },
    ),
    fc.constantFrom<Kind>("topic", "subscription"),
  )
  .chain(([scheme, kind]) =>
    fc
      .tuple(resourceUrl(scheme, kind), driverOptions(scheme), portableOptions(kind))
      .map(([url, driver, portable]) => ({
        kind,
        scheme,
        url: url.written,
        options: { ...portable, ...driver.options },
        secrets: [...url.secrets, ...driver.planted.secrets],
      })),
  );
