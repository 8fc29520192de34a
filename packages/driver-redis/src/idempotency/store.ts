/**
 * `redisIdempotencyStore`: the idempotency store (core's `IdempotencyStore`)
 * on Redis, for the `idempotency` subscription option. A companion of the
 * driver, not part of it: any Subscription, of any broker, may use it.
 *
 * One key per message id: `r:OWNER` while claimed (with the lease as its
 * expiry), `d` once done (with the window as its expiry). Each call is one
 * Lua script over the whole batch, so one round trip, and atomic against
 * every other consumer of the same Redis.
 */
import { createHash } from "node:crypto";
import {
  type ClaimOptions,
  type ClaimOutcome,
  type CompleteOptions,
  canceledError,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type ExtendOptions,
  type IdempotencyStore,
  invalidArgument,
  type ReleaseOptions,
} from "@portable-pubsub/core/driver";
import { Cluster, type RedisOptions } from "ioredis";
import {
  closeClient,
  commandClientOptions,
  createClient,
  DEFAULT_SOCKET_TIMEOUT_MS,
  type RedisClient,
} from "../connection.js";
import { resolveServerUrl } from "../server.js";

/** Options of {@link redisIdempotencyStore}: a server (`serverUrl`, else `REDIS_SERVER_URL`) or a client of yours. */
export interface RedisIdempotencyStoreOptions {
  /**
   * The Redis server, as for `redisstream://` (redis://, rediss://,
   * redis-sentinel://, redis-cluster://). Default: `REDIS_SERVER_URL`. The
   * store opens a client of its own, which `close()` closes.
   */
  serverUrl?: string;
  /** An ioredis client (or Cluster) of yours instead of `serverUrl`; `close()` leaves it open. */
  client?: RedisClient;
  /**
   * Prepended to each message id to make its key. Default `pps:idem:`, or
   * `{pps:idem}:` on a Cluster, whose braces put every key in one slot (a
   * script's keys must share one): give a prefix of your own to spread
   * subscriptions over slots.
   */
  keyPrefix?: string;
  /** ioredis options for the client made from `serverUrl`, over the store's own. */
  redisOptions?: RedisOptions;
}

/**
 * Claim: a free key becomes `r:OWNER` for the lease; returns 0 claimed, 1 running, 2 done per key. SET NX
 * first: a new id, the common case, costs Redis one command instead of a GET and a SET.
 */
const CLAIM = `local claim = 'r:' .. ARGV[1]
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, claim, 'NX', 'PX', ARGV[2]) then
    out[i] = 0
  elseif redis.call('GET', key) == 'd' then
    out[i] = 2
  else
    out[i] = 1
  end
end
return out`;

/**
 * Complete: every key becomes `d` for the window, whoever holds it (the contract's plain write). One SET
 * per key: the GET that checked the owner first made this script cost Redis as much as the claim.
 */
const COMPLETE = `for _, key in ipairs(KEYS) do
  redis.call('SET', key, 'd', 'PX', ARGV[1])
end
return 0`;

/** Extend: a key that is the owner's claim gets the new lease. */
const EXTEND = `local mine = 'r:' .. ARGV[1]
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == mine then redis.call('PEXPIRE', key, ARGV[2]) end
end
return 0`;

/** Release: a key that is the owner's claim is deleted. */
const RELEASE = `local mine = 'r:' .. ARGV[1]
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == mine then redis.call('DEL', key) end
end
return 0`;

const OUTCOMES: readonly ClaimOutcome[] = ["claimed", "running", "done"];

interface Script {
  readonly text: string;
  readonly sha: string;
}
const script = (text: string): Script => ({ text, sha: createHash("sha1").update(text).digest("hex") });
const SCRIPTS = {
  claim: script(CLAIM),
  complete: script(COMPLETE),
  extend: script(EXTEND),
  release: script(RELEASE),
};

/**
 * An idempotency store on Redis, shared by every consumer that reaches the
 * same Redis. A claim and a done-mark are keys that expire (lease, window),
 * so nothing needs cleaning up. Its guarantee stops where Redis's does: a
 * done-mark acknowledged by a master that fails before a replica has it
 * may be lost, and a handler that succeeded in a process that died before
 * its done-mark was written runs again (after the lease) on redelivery.
 * Only the PostgreSQL store's `ctx.tx` makes a handler's database writes and
 * its done-mark one transaction.
 */
export function redisIdempotencyStore(options: RedisIdempotencyStoreOptions = {}): IdempotencyStore {
  const { serverUrl, client, keyPrefix, redisOptions } = options;
  if (serverUrl !== undefined && client !== undefined) {
    throw invalidArgument("redisIdempotencyStore: give serverUrl or client, not both");
  }
  if (keyPrefix !== undefined && typeof keyPrefix !== "string") {
    throw invalidArgument(`redisIdempotencyStore: keyPrefix must be a string, got ${typeof keyPrefix}`);
  }
  const own = client === undefined;
  const redis =
    client ??
    createClient(
      resolveServerUrl(serverUrl),
      commandClientOptions(DEFAULT_SOCKET_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS),
      { connectionName: "pps-idempotency-store", ...redisOptions },
    );
  const prefix = keyPrefix ?? (redis instanceof Cluster ? "{pps:idem}:" : "pps:idem:");
  return new RedisIdempotencyStore(redis, own, prefix);
}

class RedisIdempotencyStore implements IdempotencyStore {
  readonly #redis: RedisClient;
  readonly #own: boolean;
  readonly #prefix: string;

  constructor(redis: RedisClient, own: boolean, prefix: string) {
    this.#redis = redis;
    this.#own = own;
    this.#prefix = prefix;
  }

  async claim(ids: readonly string[], o: ClaimOptions, signal?: AbortSignal): Promise<ClaimOutcome[]> {
    if (signal?.aborted) throw canceledError("claim", signal);
    if (ids.length === 0) return [];
    const codes = (await this.#run(SCRIPTS.claim, ids, [o.owner, String(Math.ceil(o.leaseMs))])) as number[];
    return codes.map((code) => OUTCOMES[code] as ClaimOutcome);
  }

  async complete(ids: readonly string[], o: CompleteOptions): Promise<void> {
    if (ids.length > 0) await this.#run(SCRIPTS.complete, ids, [String(Math.ceil(o.windowMs))]);
  }

  async extend(ids: readonly string[], o: ExtendOptions): Promise<void> {
    if (ids.length > 0) await this.#run(SCRIPTS.extend, ids, [o.owner, String(Math.ceil(o.leaseMs))]);
  }

  async release(ids: readonly string[], o: ReleaseOptions): Promise<void> {
    if (ids.length > 0) await this.#run(SCRIPTS.release, ids, [o.owner]);
  }

  async close(): Promise<void> {
    if (this.#own) await closeClient(this.#redis, new AbortController().signal);
  }

  /** Runs a script by its hash, loading it on the first NOSCRIPT (a new or flushed server). */
  async #run(s: Script, ids: readonly string[], args: string[]): Promise<unknown> {
    const keys = ids.map((id) => this.#prefix + id);
    try {
      return await this.#redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith("NOSCRIPT")) throw err;
      return await this.#redis.eval(s.text, keys.length, ...keys, ...args);
    }
  }
}
