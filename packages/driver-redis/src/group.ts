import { ErrorCode, PubSubError, raceSignal } from "@portable-pubsub/core/driver";
import type { Redis } from "ioredis";
import { describeServer } from "./connection.js";

/** Where a group created by this driver starts: entries added from now on ($), or the whole stream (0). */
export type GroupStart = "new" | "all";

/** How long opening a subscription waits for Redis to create its group. */
export const OPEN_TIMEOUT_MS = 10_000;

/**
 * Creates consumer group `group` of `stream` (and the stream) unless it
 * exists: XGROUP CREATE … MKSTREAM. `start` "new" delivers entries added
 * from now on; "all" delivers the stream's existing entries too. Rejects
 * with the ioredis error (WRONGTYPE, NOPERM, …) when Redis refuses.
 */
export async function ensureGroup(
  client: Redis,
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
 * {@link ensureGroup}, bounded: commands wait in ioredis's offline queue while
 * Redis is unreachable, so without a bound an open against a server that is
 * down would never end. After OPEN_TIMEOUT_MS it fails with DeadlineExceeded
 * naming the server; when `signal` fires, with Canceled.
 */
export async function ensureGroupWithin(
  client: Redis,
  target: { stream: string; group: string },
  start: GroupStart,
  signal: AbortSignal,
): Promise<void> {
  const timeout = AbortSignal.timeout(OPEN_TIMEOUT_MS);
  try {
    await raceSignal(
      ensureGroup(client, target.stream, target.group, start),
      AbortSignal.any([signal, timeout]),
      "open",
    );
  } catch (err) {
    if (!timeout.aborted || signal.aborted) throw err;
    throw new PubSubError(
      ErrorCode.DeadlineExceeded,
      `redisstream: could not reach Redis at ${describeServer(client)} within ${OPEN_TIMEOUT_MS} ms to create the consumer group; is the server running?`,
    );
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
  client: Redis,
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
