import { DEFAULT_CONNECT_TIMEOUT_MS, ErrorCode, PubSubError } from "@portable-pubsub/core/driver";
import type { RedisClient } from "./connection.js";

/** Where a group created by this driver starts: entries added from now on ($), or the whole stream (0). */
export type GroupStart = "new" | "all";

/**
 * How long opening waited for Redis before this became the portable
 * `connectTimeoutMs` option.
 * @deprecated Use the `connectTimeoutMs` option; its default is `DEFAULT_CONNECT_TIMEOUT_MS`.
 */
export const OPEN_TIMEOUT_MS = DEFAULT_CONNECT_TIMEOUT_MS;

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

/**
 * Removes the consumers of the group, other than `self`, that hold no pending
 * entries and have been idle (XINFO CONSUMERS `idle`: since their last read,
 * claim or ack attempt) for more than `idleMs`. Returns their names.
 *
 * One Lua script, so that the check and XGROUP DELCONSUMER are atomic: a
 * consumer that read entries between a separate XINFO and DELCONSUMER would
 * lose them from the pending list for good (DELCONSUMER drops its pending
 * entries). Removing a consumer that is still alive but idle is harmless: it
 * holds nothing, and its next XREADGROUP creates it again. A live consumer
 * that is receiving is never idle for more than its BLOCK time.
 */
export async function removeIdleConsumers(
  client: RedisClient,
  target: { stream: string; group: string; consumer: string },
  idleMs: number,
): Promise<string[]> {
  const removed = await client.eval(
    REMOVE_IDLE_CONSUMERS,
    1,
    target.stream,
    target.group,
    String(Math.floor(idleMs)),
    target.consumer,
  );
  return Array.isArray(removed) ? removed.map(String) : [];
}

const REMOVE_IDLE_CONSUMERS = `
local removed = {}
for _, row in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local c = {}
  for i = 1, #row, 2 do c[row[i]] = row[i + 1] end
  if c.pending == 0 and c.idle > tonumber(ARGV[2]) and c.name ~= ARGV[3] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], c.name)
    removed[#removed + 1] = c.name
  end
end
return removed
`;
