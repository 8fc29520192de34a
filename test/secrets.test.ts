/**
 * A corpus of tricky server URLs and resource URLs across every driver, each
 * with a password planted in it: in the user information (with commas,
 * slashes, spaces, "@", bad percent-encoding), in the query, in scheme-less
 * and single-slash forms, in environment variables. Whatever the outcome,
 * no error a user can see (message, stack, every cause, `util.inspect`, the
 * health's last error, a logger's events) contains the password.
 *
 * Most cases are rejected by the URL layer and need no broker. The few that
 * pass it use an unreachable port with short timeouts, except three that log
 * in to the shared RabbitMQ and Redis with a wrong password.
 */
import { inspect } from "node:util";
import {
  ErrorCode,
  errorCode,
  openSubscription,
  openTopic,
  PubSubError,
  type Subscription,
  type Topic,
} from "@portable-pubsub/core";
import { afterEach, describe, expect, it } from "vitest";
import { errorTexts, leakedSecret } from "./leaks.js";

type Kind = "topic" | "subscription";

interface Case {
  /** The password planted in the URL or the environment. */
  password: string;
  kind: Kind;
  url: string;
  options?: Record<string, unknown>;
  env?: Record<string, string>;
  /** The code of the first error; undefined: any portable code. */
  code?: ErrorCode;
}

const codes = new Set<string>(Object.values(ErrorCode));
const quick = () => AbortSignal.timeout(1000);
const rabbitQuick = { failFast: true, connectTimeoutMs: 500 };

/** The forms in which `password` (or a distinctive piece of it) could leak. */
function secretsOf(password: string): string[] {
  return [password, ...password.split(/[^A-Za-z0-9]+/).filter((piece) => piece.length >= 5)];
}

const corpus: Record<string, Case> = {
  // rabbit: server URLs
  "rabbit: a comma in the password, broker unreachable": {
    password: "Zq01a,bc",
    kind: "topic",
    url: "rabbit://x",
    options: { serverUrl: "amqp://user:Zq01a,bc@127.0.0.1:1", ...rabbitQuick },
  },
  "rabbit: comma, slash and space in a URL that fails to parse": {
    password: "Zq02a,b/c d",
    kind: "topic",
    url: "rabbit://x",
    options: { serverUrl: "amqp://user:Zq02a,b/c d@127.0.0.1:99999" },
    code: ErrorCode.InvalidArgument,
  },
  "rabbit: scheme-less user:password@host": {
    password: "Zq03pass",
    kind: "subscription",
    url: "rabbit://q",
    options: { serverUrl: "user:Zq03pass@127.0.0.1:5672" },
    code: ErrorCode.InvalidArgument,
  },
  "rabbit: single-colon amqp:user:password@host": {
    password: "Zq04pass",
    kind: "topic",
    url: "rabbit://x",
    options: { serverUrl: "amqp:user:Zq04pass@127.0.0.1" },
    code: ErrorCode.InvalidArgument,
  },
  "rabbit: single-slash amqps:/user:password@host": {
    password: "Zq05pass",
    kind: "topic",
    url: "rabbit://x",
    options: { serverUrl: "amqps:/user:Zq05pass@127.0.0.1" },
    code: ErrorCode.InvalidArgument,
  },
  "rabbit: password in the query": {
    password: "Zq06pass",
    kind: "topic",
    url: "rabbit://x",
    options: { serverUrl: "amqps://u@127.0.0.1:1?password=Zq06pass" },
    code: ErrorCode.InvalidArgument,
  },
  "rabbit: password under a percent-encoded query key": {
    password: "Zq07pass",
    kind: "topic",
    url: "rabbit://x",
    options: { serverUrl: "amqp://127.0.0.1:1?heartbeat=5&pass%77ord=Zq07pass" },
    code: ErrorCode.InvalidArgument,
  },
  "rabbit: %ZZ in the password": {
    password: "Zq08pa%ZZss",
    kind: "topic",
    url: "rabbit://x",
    options: { serverUrl: "amqp://user:Zq08pa%ZZss@127.0.0.1:1" },
    code: ErrorCode.InvalidArgument,
  },
  "rabbit: unencoded / in the password, read as host and vhost": {
    password: "12/Zq09pass",
    kind: "topic",
    url: "rabbit://x",
    options: { serverUrl: "amqp://user:12/Zq09pass@127.0.0.1" },
    code: ErrorCode.InvalidArgument,
  },
  "rabbit: two failover URLs from RABBIT_SERVER_URL, both unreachable": {
    password: "Zq10a,b@c",
    kind: "subscription",
    url: "rabbit://q",
    options: rabbitQuick,
    env: { RABBIT_SERVER_URL: "amqp://u:Zq10a,b%40c@127.0.0.1:1, amqp://u:Zq10a,b%40c@127.0.0.1:2" },
  },
  "rabbit: a refused login on the shared broker": {
    password: "Zq11wrong,pass",
    kind: "topic",
    url: "rabbit://amq.topic",
    options: { serverUrl: "amqp://guest:Zq11wrong,pass@127.0.0.1:5672", ...rabbitQuick },
    code: ErrorCode.PermissionDenied,
  },
  "rabbit: user information in the resource URL": {
    password: "Zq12pass",
    kind: "topic",
    url: "rabbit://u:Zq12pass@x?bogus=1",
    options: { serverUrl: "amqp://127.0.0.1:1" },
    code: ErrorCode.InvalidArgument,
  },
  // redisstream: server URLs
  "redis: a URL that fails to parse": {
    password: "Zq13pass",
    kind: "topic",
    url: "redisstream://s",
    options: { serverUrl: "redis://me:Zq13pass@[bad" },
    code: ErrorCode.InvalidArgument,
  },
  "redis: slash and space in a URL that fails to parse": {
    password: "Zq14a/b c",
    kind: "topic",
    url: "redisstream://s",
    options: { serverUrl: "redis://me:Zq14a/b c@127.0.0.1:99999" },
    code: ErrorCode.InvalidArgument,
  },
  "redis: scheme-less user:password@host from REDIS_SERVER_URL": {
    password: "Zq15pass",
    kind: "topic",
    url: "redisstream://s",
    env: { REDIS_SERVER_URL: "me:Zq15pass@127.0.0.1:6379" },
    code: ErrorCode.InvalidArgument,
  },
  "redis: single-colon redis:user:password@host": {
    password: "Zq16pass",
    kind: "subscription",
    url: "redisstream://s?group=g",
    options: { serverUrl: "redis:me:Zq16pass@127.0.0.1" },
    code: ErrorCode.InvalidArgument,
  },
  "redis: password in the query, which ioredis would honour": {
    password: "Zq17pass",
    kind: "topic",
    url: "redisstream://s",
    options: { serverUrl: "rediss://u@127.0.0.1:1?password=Zq17pass" },
    code: ErrorCode.InvalidArgument,
  },
  "redis: %ZZ in the password, which ioredis would throw a URIError for": {
    password: "Zq18pa%ZZss",
    kind: "topic",
    url: "redisstream://s",
    options: { serverUrl: "redis://me:Zq18pa%ZZss@127.0.0.1:1" },
    code: ErrorCode.InvalidArgument,
  },
  "redis: a valid URL to an unreachable server, from REDIS_SERVER_URL": {
    password: "Zq19a,b/c",
    kind: "topic",
    url: "redisstream://s",
    env: { REDIS_SERVER_URL: "redis://me:Zq19a%2Cb%2Fc@127.0.0.1:1" },
    code: ErrorCode.Unknown,
  },
  "redis: user information in the resource URL": {
    password: "Zq20pass",
    kind: "topic",
    url: "redisstream://u:Zq20pass@s?maxLen=0",
    options: { serverUrl: "redis://127.0.0.1:1" },
    code: ErrorCode.InvalidArgument,
  },
  "redis: a refused login on the shared Redis (ioredis keeps AUTH's arguments on its error)": {
    password: "Zq33a,b/c",
    kind: "subscription",
    url: "redisstream://secrets-corpus?group=g&declare=0",
    options: { serverUrl: "redis://nosuchuser:Zq33a%2Cb%2Fc@127.0.0.1:6379" },
    code: ErrorCode.PermissionDenied,
  },
  "redis: a refused login on the shared Redis, sending": {
    password: "Zq34pass",
    kind: "topic",
    url: "redisstream://secrets-corpus",
    options: { serverUrl: "redis://nosuchuser:Zq34pass@127.0.0.1:6379" },
    code: ErrorCode.PermissionDenied,
  },
  // mem
  "mem: password in the query": {
    password: "Zq21pass",
    kind: "topic",
    url: "mem://orders?password=Zq21pass",
    code: ErrorCode.InvalidArgument,
  },
  "mem: user information and bad percent-encoding": {
    password: "Zq22pass",
    kind: "topic",
    url: "mem://u:Zq22pass@t/%ZZ",
    code: ErrorCode.InvalidArgument,
  },
  "mem: user information and no name": {
    password: "Zq23pass",
    kind: "subscription",
    url: "mem://u:Zq23pass@",
    code: ErrorCode.InvalidArgument,
  },
  "mem: a space and a slash in a URL that fails to parse": {
    password: "Zq24a b/c",
    kind: "topic",
    url: "mem://u:Zq24a b/c@t",
    code: ErrorCode.InvalidArgument,
  },
  "mem: user information in a resource URL is refused": {
    password: "Zq25pass",
    kind: "topic",
    url: "mem://u:Zq25pass@secrets-corpus",
    code: ErrorCode.InvalidArgument,
  },
  // gcppubsub
  "gcp: user information and a malformed escape": {
    password: "Zq26pass",
    kind: "topic",
    url: "gcppubsub://u:Zq26pass@proj/topics/t/%ZZ",
    code: ErrorCode.InvalidArgument,
  },
  "gcp: token in the query": {
    password: "Zq27pass",
    kind: "subscription",
    url: "gcppubsub://my-project/my-sub?token=Zq27pass",
    code: ErrorCode.InvalidArgument,
  },
  "gcp: an endpoint with credentials, unreachable": {
    password: "Zq28pass",
    kind: "topic",
    url: "gcppubsub://my-project/my-topic",
    options: { apiEndpoint: "http://u:Zq28pass@127.0.0.1:1" },
    code: ErrorCode.Unknown,
  },
  "gcp: PUBSUB_EMULATOR_HOST with credentials, unreachable": {
    password: "Zq29pass",
    kind: "subscription",
    url: "gcppubsub://my-project/my-sub",
    env: { PUBSUB_EMULATOR_HOST: "u:Zq29pass@127.0.0.1:1" },
    code: ErrorCode.Unknown,
  },
  // the URL mux
  "mux: an unknown scheme with user information": {
    password: "Zq30pass",
    kind: "topic",
    url: "nosuch://u:Zq30pass@x",
    code: ErrorCode.InvalidArgument,
  },
  "mux: no scheme, a space in the password": {
    password: "Zq31a b",
    kind: "subscription",
    url: "//u:Zq31a b@x",
    code: ErrorCode.InvalidArgument,
  },
  "mux: several @ and a slash in a URL that fails to parse": {
    password: "Zq32a@b/c@d",
    kind: "topic",
    url: "rabbit://u:Zq32a@b/c@d@[x",
    code: ErrorCode.InvalidArgument,
  },
};

/**
 * Opens `c`, and when that succeeds, sends or receives once, shuts down and
 * sends or receives again (which names the resource). Returns every error
 * met on the way, the health's last error and what a logger was given.
 */
async function outcome(c: Case): Promise<{ errors: unknown[]; seen: unknown[] }> {
  const logged: unknown[] = [];
  const log = (event: unknown) => logged.push(event);
  const logger = { info: log, warn: log, error: log };
  const options = { ...c.options, logger, signal: AbortSignal.timeout(3000) };
  let handle: Topic | Subscription;
  try {
    handle = c.kind === "topic" ? await openTopic(c.url, options) : await openSubscription(c.url, options);
  } catch (err) {
    return { errors: [err], seen: logged };
  }
  const use = () =>
    "send" in handle ? handle.send({ body: "x" }, { signal: quick() }) : handle.receive({ signal: quick() });
  const errors: unknown[] = [];
  await use().catch((err: unknown) => errors.push(err));
  await handle.shutdown({ signal: quick() }).catch((err: unknown) => errors.push(err));
  await use().catch((err: unknown) => errors.push(err));
  return { errors, seen: [...logged, handle.health.lastError] };
}

describe("no password in any error, over a corpus of tricky URLs", () => {
  const saved = new Map<string, string | undefined>();
  afterEach(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    saved.clear();
  });

  it("has at least 25 cases, covering every driver", () => {
    const cases = Object.values(corpus);
    expect(cases.length).toBeGreaterThanOrEqual(25);
    for (const scheme of ["rabbit:", "redisstream:", "mem:", "gcppubsub:"]) {
      expect(cases.filter((c) => c.url.startsWith(scheme)).length, scheme).toBeGreaterThanOrEqual(4);
    }
  });

  it.each(Object.entries(corpus))("%s", async (_name, c) => {
    for (const [name, value] of Object.entries(c.env ?? {})) {
      if (!saved.has(name)) saved.set(name, process.env[name]);
      process.env[name] = value;
    }
    const { errors, seen } = await outcome(c);
    expect(errors.length, "every case fails somewhere").toBeGreaterThan(0);
    for (const err of errors) {
      expect(err, inspect(err)).toBeInstanceOf(PubSubError);
      expect(codes.has(errorCode(err))).toBe(true);
    }
    if (c.code) expect(errorCode(errors[0]), (errors[0] as Error).message).toBe(c.code);
    const secrets = secretsOf(c.password);
    for (const err of [...errors, ...seen]) {
      expect(leakedSecret(err, secrets), errorTexts(err).join("\n")).toBeUndefined();
    }
  });
});
