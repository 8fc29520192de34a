/**
 * Which connection a driver uses: one the user gave (never closed by the
 * driver), or the shared one for its settings, which equal settings share
 * and the last user closes.
 */
import { RabbitConnection } from "./connection.js";
import { type RabbitConnectionSettings, type ResolvedSettings, resolveSettings } from "./settings.js";

/** Where a driver connects: a connection of yours, or settings for the shared one (undefined: the defaults). */
export type RabbitTarget = RabbitConnection | RabbitConnectionSettings | undefined;

const shared = new Map<string, RabbitConnection>();

/**
 * The shared connection for `settings`, counted as one more user: callers
 * `release()` it when done. Settings with socketOptions get their own.
 */
export function acquireConnection(settings: ResolvedSettings): RabbitConnection {
  const key = settings.key;
  if (key === undefined) return new RabbitConnection(settings, () => {}).retain();
  let connection = shared.get(key);
  if (!connection || connection.closed) {
    const created: RabbitConnection = new RabbitConnection(settings, () => {
      if (shared.get(key) === created) shared.delete(key);
    });
    connection = created;
    shared.set(key, connection);
  }
  return connection.retain();
}

/** Where a driver gets its connection: one of yours (`owned` false), or the shared one for these settings. */
export function connectionFor(target: RabbitTarget): {
  connection: RabbitConnection;
  owned: boolean;
} {
  if (target instanceof RabbitConnection) return { connection: target, owned: false };
  return { connection: acquireConnection(resolveSettings(target)), owned: true };
}

/**
 * Builds a driver on the connection `target` names. If building throws (a
 * bad option), a shared connection acquired for it is released again, so
 * that a failed constructor leaves no socket behind.
 */
export function buildOn<D>(target: RabbitTarget, build: (connection: RabbitConnection, owned: boolean) => D): D {
  const { connection, owned } = connectionFor(target);
  try {
    return build(connection, owned);
  } catch (err) {
    if (owned) void connection.release();
    throw err;
  }
}
