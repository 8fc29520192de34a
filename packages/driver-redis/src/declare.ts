/**
 * Creating a stream's consumer group when `declare=true` (XGROUP CREATE …
 * MKSTREAM), and the checks at open that the stream and the group exist.
 */
import { ErrorCode, PubSubError } from "@portable-pubsub/core/driver";
import type { RedisClient } from "./connection.js";

/** Where a group created by this driver starts: entries added from now on ($), or the whole stream (0). */
export type GroupStart = "new" | "all";

/**
 * Creates consumer group `group` of `stream` (and the stream) unless it
 * exists: XGROUP CREATE … MKSTREAM. `start` "new" delivers entries added
 * from now on; "all" delivers the stream's existing entries too. Rejects
 * with the ioredis error (WRONGTYPE, NOPERM, …) when Redis refuses.
 */
export async function ensureGroup(
  client: RedisClient,
  stream: string,
  group: string,
  start: GroupStart = "new",
): Promise<void> {
  try {
    await client.xgroup("CREATE", stream, group, start === "all" ? "0" : "$", "MKSTREAM");
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("BUSYGROUP")) return;
    throw err;
  }
}

/**
 * Throws NotFound unless `stream` exists as a stream (FailedPrecondition for
 * a key of another type). `what` starts the message ("open redisstream
 * stream \"x\""); `fix` says how to create it.
 */
export async function checkStream(client: RedisClient, stream: string, what: string, fix: string): Promise<void> {
  const type = await client.type(stream);
  if (type === "stream") return;
  if (type === "none") throw new PubSubError(ErrorCode.NotFound, `${what}: the stream does not exist; ${fix}`);
  throw new PubSubError(
    ErrorCode.FailedPrecondition,
    `${what}: the key holds a ${type}, not a stream; pick another stream name or delete the key`,
  );
}

/**
 * Throws NotFound unless consumer group `group` of `stream` exists (XINFO
 * GROUPS). `what` starts the message; the hint says how to create it.
 */
export async function checkGroup(client: RedisClient, stream: string, group: string, what: string): Promise<void> {
  const fix = `create it (XGROUP CREATE ${stream} ${group} $ MKSTREAM) or open the subscription with declare=true`;
  await checkStream(client, stream, what, fix);
  const groups = (await client.xinfo("GROUPS", stream)) as unknown[];
  const names = groups.map((row) => (Array.isArray(row) ? String(row[row.indexOf("name") + 1]) : undefined));
  if (!names.includes(group)) {
    throw new PubSubError(ErrorCode.NotFound, `${what}: the stream has no consumer group "${group}"; ${fix}`);
  }
}
