import type { DriverMessage } from "@portable-pubsub/core/driver";
import { parseEntries, type RedisStreamEntry, toDriverMessage } from "./codec.js";
import type { RedisClient } from "./connection.js";

/** Most XAUTOCLAIM calls in one pass, so that a long pending list cannot hold up a receive. */
const MAX_CALLS_PER_PASS = 4;
/** Default of `idleConsumerMs`: one hour. */
export const DEFAULT_IDLE_CONSUMER_MS = 3_600_000;
/** Most time between two sweeps for idle consumers. */
const MAX_SWEEP_INTERVAL_MS = 60_000;

/**
 * The ack deadline: entries that a consumer of the group was given but has
 * not acked for `ackDeadlineMs` (it crashed, lost its connection, or nacked
 * them) are taken over with XAUTOCLAIM and delivered again, with their
 * delivery count from the pending list. A pass runs every so often, and at
 * once after a nack; the XAUTOCLAIM cursor carries over between passes, so
 * every pending entry is looked at in turn however long the list is.
 *
 * A pass that reaches the end of the pending list also sweeps the group's
 * consumers, at most every min(`idleConsumerMs`, 60 s): consumers (of this
 * and other processes) with no pending entries, idle for over
 * `idleConsumerMs`, are deleted, so that the names of crashed processes do
 * not pile up in the group. Their entries were taken over by XAUTOCLAIM
 * first, which is what leaves them with none pending.
 */
export class Reclaimer {
  readonly #client: RedisClient;
  readonly #stream: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #ackDeadlineMs: number;
  readonly #intervalMs: number;
  readonly #idleConsumerMs: number;
  #cursor = "0-0";
  #nextAt = 0;
  #nextSweepAt = 0;

  constructor(
    client: RedisClient,
    target: { stream: string; group: string; consumer: string },
    ackDeadlineMs: number,
    idleConsumerMs = DEFAULT_IDLE_CONSUMER_MS,
  ) {
    this.#client = client;
    this.#stream = target.stream;
    this.#group = target.group;
    this.#consumer = target.consumer;
    this.#ackDeadlineMs = ackDeadlineMs;
    this.#intervalMs = Math.min(Math.max(ackDeadlineMs / 4, 100), 5000);
    this.#idleConsumerMs = idleConsumerMs;
  }

  /** True when a pass is due. */
  get due(): boolean {
    return Date.now() >= this.#nextAt;
  }

  /** Makes a pass due at once, from the start of the pending list: entries were just nacked. */
  wake(): void {
    this.#cursor = "0-0";
    this.#nextAt = 0;
  }

  /**
   * Claims up to `max` entries whose deadline passed. Each comes with its
   * delivery count, this claim included, as `deliveryAttempt`: the portable
   * layer's redelivery backoff and dead-lettering read it.
   */
  async pass(max: number): Promise<DriverMessage[]> {
    const out: DriverMessage[] = [];
    let finished = false;
    for (let calls = 0; calls < MAX_CALLS_PER_PASS && out.length < max; calls++) {
      const reply = (await this.#client.callBuffer(
        "XAUTOCLAIM",
        this.#stream,
        this.#group,
        this.#consumer,
        this.#ackDeadlineMs,
        this.#cursor,
        "COUNT",
        max - out.length,
      )) as [Buffer, unknown];
      this.#cursor = reply[0].toString("latin1");
      const entries = parseEntries(this.#stream, reply[1]);
      if (entries.length > 0) {
        const counts = await this.#deliveryCounts(entries);
        // An entry acked elsewhere between the claim and XPENDING has no row; it was delivered at least twice.
        for (const entry of entries) out.push(toDriverMessage(entry, counts.get(entry.id) ?? 2));
      }
      if (this.#cursor === "0-0") {
        finished = true;
        break;
      }
    }
    // A pass that did not reach the end of the list goes on at the next receive.
    this.#nextAt = finished ? Date.now() + this.#intervalMs : 0;
    if (finished && Date.now() >= this.#nextSweepAt) await this.#sweepConsumers();
    return out;
  }

  /**
   * Deletes idle consumers without pending entries (see the class comment).
   * Housekeeping: a failure must not fail the receive that ran it, so it is
   * dropped and the next sweep tries again; a user not allowed to run EVAL
   * (NOPERM) is not asked again.
   */
  async #sweepConsumers(): Promise<void> {
    this.#nextSweepAt = Date.now() + Math.min(this.#idleConsumerMs, MAX_SWEEP_INTERVAL_MS);
    const target = { stream: this.#stream, group: this.#group, consumer: this.#consumer };
    await removeIdleConsumers(this.#client, target, this.#idleConsumerMs).catch((err: unknown) => {
      if (err instanceof Error && err.message.startsWith("NOPERM")) this.#nextSweepAt = Number.POSITIVE_INFINITY;
    });
  }

  /** The delivery count of each entry, claim included, from XPENDING: one pipelined call per entry. */
  async #deliveryCounts(entries: RedisStreamEntry[]): Promise<Map<string, number>> {
    const pipeline = this.#client.pipeline();
    for (const { id } of entries) pipeline.xpending(this.#stream, this.#group, id, id, 1);
    const results = (await pipeline.exec()) ?? [];
    const counts = new Map<string, number>();
    for (const [err, reply] of results) {
      if (err) throw err;
      const row = (reply as [string, string, number, number][] | null)?.[0];
      if (row) counts.set(row[0], Number(row[3]));
    }
    return counts;
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
