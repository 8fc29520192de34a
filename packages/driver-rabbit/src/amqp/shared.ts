/**
 * Which connection a driver uses: one the user gave (never closed by the
 * driver), or a shared one for its settings and role, which equal settings
 * share and the last user closes.
 *
 * Publishing and consuming get separate shared connections, as RabbitMQ
 * advises: a broker under a memory or disk alarm stops reading from
 * connections that publish, and acks sent on such a connection would stall
 * with its publishes, stopping the consumers too. Each role's connections
 * form a pool: a connection carries at most channel_max channels (one per
 * topic or subscription), and a full one gets a sibling.
 */
import { RabbitConnection } from "./connection.js";
import { type RabbitConnectionSettings, type ResolvedSettings, resolveSettings } from "./settings.js";

/** Where a driver connects: a connection of yours, or settings for the shared one (undefined: the defaults). */
export type RabbitTarget = RabbitConnection | RabbitConnectionSettings | undefined;

/** What a driver does on its connection; each role has its own shared connections. */
export type ConnectionRole = "publish" | "consume";

const pools = new Map<string, RabbitConnection[]>();

/**
 * A shared connection for `settings` and `role` with a channel to spare,
 * counted as one more user: callers `release()` it when done. Settings with
 * socketOptions get their own.
 */
export function acquireConnection(settings: ResolvedSettings, role: ConnectionRole): RabbitConnection {
  if (settings.key === undefined) return new RabbitConnection(settings, () => {}).retain();
  const key = `${role} ${settings.key}`;
  const pool = (pools.get(key) ?? []).filter((c) => !c.closed);
  let connection = pool.find((c) => c.users < c.channelMax);
  if (!connection) {
    const created: RabbitConnection = new RabbitConnection(settings, () => {
      const left = (pools.get(key) ?? []).filter((c) => c !== created);
      if (left.length > 0) pools.set(key, left);
      else pools.delete(key);
    });
    pool.push(created);
    connection = created;
  }
  pools.set(key, pool);
  return connection.retain();
}

/** Where a driver gets its connection: one of yours (`owned` false), or a shared one for these settings and role. */
export function connectionFor(
  target: RabbitTarget,
  role: ConnectionRole,
): {
  connection: RabbitConnection;
  owned: boolean;
} {
  if (target instanceof RabbitConnection) return { connection: target, owned: false };
  return { connection: acquireConnection(resolveSettings(target), role), owned: true };
}

/**
 * Builds a driver on the connection `target` names for `role`. If building
 * throws (a bad option), a shared connection acquired for it is released
 * again, so that a failed constructor leaves no socket behind.
 */
export function buildOn<D>(
  target: RabbitTarget,
  role: ConnectionRole,
  build: (connection: RabbitConnection, owned: boolean) => D,
): D {
  const { connection, owned } = connectionFor(target, role);
  try {
    return build(connection, owned);
  } catch (err) {
    if (owned) void connection.release();
    throw err;
  }
}
