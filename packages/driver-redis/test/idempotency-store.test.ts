/**
 * redisIdempotencyStore: the idempotency-store conformance suite against the
 * test Redis, and what is the Redis store's own: one script call per batch,
 * its options checked, a server URL's password never in an error, and a
 * client of the application's left open.
 */
import { idempotencyStoreSuite } from "@portable-pubsub/conformance";
import { ErrorCode, type PubSubError } from "@portable-pubsub/core";
import { redisIdempotencyStore } from "@portable-pubsub/driver-redis";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { commandClient, REDIS_URL, requireRedis, skipRedis, unique } from "./helpers.js";

describe.skipIf(skipRedis)("redisIdempotencyStore", () => {
  beforeAll(requireRedis);

  idempotencyStoreSuite({
    name: "redis",
    makeStore: () => redisIdempotencyStore({ serverUrl: REDIS_URL, keyPrefix: "pps-test-idem:" }),
  });

  it("claims, completes and releases a batch of 500 ids in one script call each", async () => {
    const client = commandClient();
    try {
      const store = redisIdempotencyStore({ client, keyPrefix: `${unique("idem")}:` });
      const evalsha = vi.spyOn(client, "evalsha");
      const ids = Array.from({ length: 500 }, (_, i) => `id-${i}`);
      const o = { owner: "me", leaseMs: 10_000, windowMs: 10_000 };
      expect(new Set(await store.claim(ids, o))).toEqual(new Set(["claimed"]));
      await store.complete(ids.slice(0, 250), o);
      await store.release(ids.slice(250), o);
      expect(evalsha).toHaveBeenCalledTimes(3);
      const outcomes = await store.claim(ids, { ...o, owner: "other" });
      expect(outcomes.slice(0, 250)).toEqual(Array(250).fill("done"));
      expect(outcomes.slice(250)).toEqual(Array(250).fill("claimed"));
      await store.close?.();
      // The application's client stays open.
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });

  it("keys each id as prefix + id, whatever its characters (the script call packs them)", async () => {
    const client = commandClient();
    const prefix = `${unique("idem")}:`;
    // Colons and digits (the packing's own characters), a newline and multi-byte UTF-8 (lengths are in bytes).
    const ids = ["12:3", ":", "a\nb", "café-€-😀", "9", "x".repeat(300)];
    try {
      const store = redisIdempotencyStore({ client, keyPrefix: prefix });
      const o = { owner: "me", leaseMs: 10_000, windowMs: 10_000 };
      expect(await store.claim(ids, o)).toEqual(Array(ids.length).fill("claimed"));
      expect(await Promise.all(ids.map((id) => client.get(prefix + id)))).toEqual(Array(ids.length).fill("r:me"));
      await store.complete(ids.slice(0, 3), o);
      await store.release(ids.slice(3), o);
      expect(await Promise.all(ids.map((id) => client.get(prefix + id)))).toEqual(["d", "d", "d", null, null, null]);
      expect(await store.claim([...ids, "12:3"], { ...o, owner: "other" })).toEqual([
        "done",
        "done",
        "done",
        "claimed",
        "claimed",
        "claimed",
        "done",
      ]);
    } finally {
      await client.del(...ids.map((id) => prefix + id));
      client.disconnect();
    }
  });

  it("refuses serverUrl and client together, and a bad URL without echoing its password", () => {
    const client = commandClient();
    try {
      const both = (() => {
        try {
          redisIdempotencyStore({ serverUrl: REDIS_URL, client });
        } catch (err) {
          return err as PubSubError;
        }
      })();
      expect(both?.code).toBe(ErrorCode.InvalidArgument);
      expect(both?.message).toBe("redisIdempotencyStore: give serverUrl or client, not both");
    } finally {
      client.disconnect();
    }
    const bad = (() => {
      try {
        redisIdempotencyStore({ serverUrl: "redis://user:s3cret-pw@localhost:6379/x?y=1" });
      } catch (err) {
        return err as PubSubError;
      }
    })();
    expect(bad?.code).toBe(ErrorCode.InvalidArgument);
    expect(bad?.message).not.toContain("s3cret-pw");
    expect(bad?.message).toContain("***@localhost:6379");
  });
});
