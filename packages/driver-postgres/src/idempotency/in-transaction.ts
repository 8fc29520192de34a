/**
 * The inbox: a handler's transaction that also writes its message id's
 * done-mark. BEGIN on a connection of its own, the handler's work with that
 * connection as `tx`, the done-mark, COMMIT: the work's writes (an
 * `outbox.send(tx, …)` included) and "done" commit together or not at all.
 * The done-mark comes last so that its row lock is held only for the
 * commit; a concurrent run of the same id (its claim taken over after a
 * lease ended) waits on that lock, then finds the id done and rolls its own
 * work back.
 */
import type pg from "pg";
import type { ConnectingQueryable } from "../connection.js";

/** What {@link runInTransaction} needs of its store. */
export interface InboxTable {
  /** Where the transaction's connection comes from. */
  readonly pool: ConnectingQueryable;
  /** The done-mark statement ($1 id, $2 owner, $3 window in ms): a row when it marked, none when already done. */
  readonly markDone: string;
  /** The PubSubError of a database failure during `operation`. */
  fail(err: unknown, operation: string): Error;
}

/**
 * Runs `work` in a transaction and marks the id of `done` ([id, owner,
 * windowMs]) in it. Returns "completed" once COMMIT succeeded, "duplicate"
 * after rolling back when the id was already done. Rethrows `work`'s error
 * as it is after rolling back; a database failure is a PubSubError. A
 * failed COMMIT leaves the outcome unknown, as with any commit whose reply
 * was lost: the redelivery finds the id done or runs the handler again,
 * and either way its writes happened once.
 */
export async function runInTransaction(
  inbox: InboxTable,
  done: [id: string, owner: string, windowMs: number],
  work: (tx: pg.PoolClient) => Promise<void>,
): Promise<"completed" | "duplicate"> {
  let client: pg.PoolClient;
  try {
    client = await inbox.pool.connect();
  } catch (err) {
    throw inbox.fail(err, "connect for a handler's transaction to");
  }
  // A connection whose state is unknown (a failed statement other than the work's, a failed ROLLBACK) is
  // destroyed, never given back to the pool in the middle of a transaction.
  let broken: Error | undefined;
  const rollback = async () => {
    try {
      await client.query("ROLLBACK");
    } catch (err) {
      broken = err as Error;
    }
  };
  try {
    try {
      await client.query("BEGIN");
    } catch (err) {
      broken = err as Error;
      throw inbox.fail(err, "begin a handler's transaction in");
    }
    try {
      await work(client);
    } catch (err) {
      await rollback();
      throw err;
    }
    let marked: number;
    try {
      marked = (await client.query(inbox.markDone, done)).rowCount ?? 0;
    } catch (err) {
      await rollback();
      throw inbox.fail(err, "mark an id done in");
    }
    if (marked === 0) {
      await rollback();
      return "duplicate";
    }
    try {
      await client.query("COMMIT");
    } catch (err) {
      broken = err as Error;
      throw inbox.fail(err, "commit a handler's transaction in");
    }
    return "completed";
  } finally {
    client.release(broken);
  }
}
