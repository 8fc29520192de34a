/**
 * Property-based tests over hostile and careless input (see
 * fuzz/arbitraries.ts): URLs of every scheme, server URLs, driver and
 * portable options on the URL layer of every driver, and bodies, metadata
 * and call options on mem://. Every call settles within a second and either
 * succeeds or fails with a PubSubError that has a portable code; no error
 * shows a password planted in the input; nothing is left as an unhandled
 * rejection or a process warning. What mem:// accepts arrives, byte for byte.
 *
 * CI runs a fixed seed in seconds; `pnpm fuzz` runs many more cases on a
 * random seed, which it prints (FUZZ_SEED=… replays it, FUZZ_SHRINK=1 shrinks
 * a failure to a minimal case).
 */

import { isUint8Array } from "node:util/types";
import {
  ErrorCode,
  type Message,
  openSubscription,
  openTopic,
  type Subscription,
  type Topic,
} from "@portable-pubsub/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bounded, Coverage, FUZZ_TEST_TIMEOUT_MS, fuzzParameters, ProcessWatch } from "./fuzz/harness.js";
import { type OpenCase, openCase, password } from "./fuzz/urls.js";
import { body, callOptions, metadata, optionValue, portableOptions } from "./fuzz/values.js";
import { leakedSecret } from "./leaks.js";

const watch = new ProcessWatch();
const saved = process.env.PUBSUB_EMULATOR_HOST;
beforeAll(async () => {
  // The first open of a scheme imports its driver (gcppubsub's takes about a second): not what is measured here.
  await Promise.all(
    ["driver-memory", "driver-rabbit", "driver-redis", "driver-gcp"].map((name) => import(`@portable-pubsub/${name}`)),
  );
  watch.start();
  // gcppubsub:// without an endpoint would go to Google and look for credentials; the fuzz cases give one.
  delete process.env.PUBSUB_EMULATOR_HOST;
});
afterAll(() => {
  watch.stop();
  if (saved !== undefined) process.env.PUBSUB_EMULATOR_HOST = saved;
});

const within = (ms: number) => ({ signal: AbortSignal.timeout(ms) });

/**
 * Opens `c` once with a signal aborted already (Canceled, and the open that
 * runs on must neither leak a rejection nor stay open); then for real, and
 * when that succeeds, uses it once, shuts it down, and uses it once more.
 */
async function openAndUse(c: OpenCase): Promise<void> {
  const label = `${c.kind} ${JSON.stringify(c.url)} ${JSON.stringify(c.options)}`;
  const openWith = (signal: AbortSignal) =>
    c.kind === "topic" ? openTopic(c.url, { ...c.options, signal }) : openSubscription(c.url, { ...c.options, signal });
  const abandoned = await bounded<Topic | Subscription>(`open aborted ${label}`, c.secrets, () =>
    openWith(AbortSignal.abort()),
  );
  // A URL or option the mux refuses at once is InvalidArgument first; anything that got further is Canceled.
  expect([ErrorCode.Canceled, ErrorCode.InvalidArgument], label).toContain(
    abandoned.ok ? "opened" : abandoned.error.code,
  );
  const open = () => openWith(AbortSignal.timeout(700));
  const opened = await bounded<Topic | Subscription>(`open ${label}`, c.secrets, open);
  coverage.count(`${c.scheme} ${opened.ok ? "opened" : opened.error.code}`);
  if (!opened.ok) return;
  const handle = opened.value;
  const use = () => ("send" in handle ? handle.send({ body: "x" }, within(100)) : handle.receive(within(100)));
  await bounded<unknown>(`use ${label}`, c.secrets, use);
  await bounded(`shutdown ${label}`, c.secrets, () => handle.shutdown(within(500)));
  const after = await bounded<unknown>(`use after shutdown ${label}`, c.secrets, use);
  expect(after.ok ? "succeeded" : after.error.code, label).toBe(ErrorCode.FailedPrecondition);
  // The health's last error is the driver's own (not a PubSubError), shown by health logs: no password either.
  expect(leakedSecret(handle.health.lastError, c.secrets), label).toBeUndefined();
}

/** The bytes a body that send accepted must arrive as. */
function bytesOf(value: unknown): Uint8Array {
  if (typeof value === "string") return new TextEncoder().encode(value);
  if (isUint8Array(value)) return Uint8Array.from(value);
  throw new Error(`send accepted a body that is neither bytes nor a string: ${Object.prototype.toString.call(value)}`);
}

/** What identifies a message: its bytes and metadata. */
function key(bytes: Uint8Array, metadata: unknown): string {
  const entries = metadata && typeof metadata === "object" ? Object.entries(metadata).sort() : [];
  return JSON.stringify([Buffer.from(bytes).toString("base64"), entries]);
}

const coverage = new Coverage();
let topics = 0;

describe("fuzz", () => {
  it(
    "URL layer of every driver: opens settle in time, fail as PubSubErrors, never show a password",
    async () => {
      const parameters = fuzzParameters("urls", 250);
      await fc.assert(
        fc.asyncProperty(openCase, async (c) => {
          await openAndUse(c);
          await watch.check();
        }),
        parameters,
      );
      // Not vacuous: each driver both rejected input and got past its URL layer (rabbit: to a refused connection).
      for (const scheme of ["mem", "rabbit", "redisstream", "gcppubsub"]) {
        expect(coverage.get(`${scheme} InvalidArgument`), scheme).toBeGreaterThan(parameters.numRuns / 50);
        const past = coverage.get(`${scheme} opened`) + coverage.get(`${scheme} Unknown`);
        expect(past, `${scheme}: ${coverage}`).toBeGreaterThan(parameters.numRuns / 100);
      }
    },
    FUZZ_TEST_TIMEOUT_MS,
  );

  it(
    "mem://: bodies, metadata, call and portable options; what is accepted arrives unchanged",
    async () => {
      const send = fc.record({ body, metadata, options: callOptions });
      const scenario = fc.record({
        password,
        topicOptions: portableOptions("topic"),
        subscriptionOptions: portableOptions("subscription"),
        sends: fc.array(send, { minLength: 1, maxLength: 4 }),
        receiveOptions: callOptions,
        shutdownOptions: callOptions,
        processOptions: fc.record({ concurrency: optionValue }, { requiredKeys: [] }),
      });
      const parameters = fuzzParameters("mem", 120);
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          const secrets = s.password.secrets;
          // Resource URLs refuse user information (see the URL case), so the password goes in the options' logger
          // output and errors only through what the scenario plants; the topic is a plain one.
          const url = `mem://fuzz-${++topics}`;
          const topic = await bounded("open topic", secrets, () => openTopic(url, s.topicOptions));
          const sub = await bounded("open subscription", secrets, () => openSubscription(url, s.subscriptionOptions));
          const unacked = topic.ok && sub.ok ? await exchange(topic.value, sub.value, s, secrets) : undefined;
          for (const handle of [topic, sub].flatMap((o) => (o.ok ? [o.value] : []))) {
            const first = await bounded("shutdown", secrets, () => handle.shutdown(s.shutdownOptions() as never));
            if (!first.ok) await bounded("shutdown", secrets, () => handle.shutdown(within(500)));
            const after = await bounded<unknown>("use after shutdown", secrets, () =>
              "send" in handle ? handle.send({ body: "x" }) : handle.receive(),
            );
            expect(after.ok ? "succeeded" : after.error.code).toBe(ErrorCode.FailedPrecondition);
          }
          if (unacked) await bounded("ack after shutdown", secrets, () => unacked.ack());
          await watch.check();
        }),
        parameters,
      );
      expect(coverage.get("mem sent"), `${coverage}`).toBeGreaterThan(parameters.numRuns / 2);
      expect(coverage.get("mem send rejected"), `${coverage}`).toBeGreaterThan(parameters.numRuns / 5);
    },
    FUZZ_TEST_TIMEOUT_MS,
  );
});

afterAll(() => {
  if (process.env.FUZZ_LONG) console.log(`fuzz coverage:\n${coverage}`);
});

interface Scenario {
  sends: { body: unknown; metadata: unknown; options: () => unknown }[];
  receiveOptions: () => unknown;
  processOptions: Record<string, unknown>;
}

/**
 * Sends `s.sends`, then receives: every send that resolved arrives with its
 * body and metadata as they were when send was called; a send that was
 * canceled may arrive; nothing else does. Returns a message left unacked.
 */
async function exchange(
  topic: Topic,
  sub: Subscription,
  s: Scenario,
  secrets: readonly string[],
): Promise<Message | undefined> {
  const sent: string[] = [];
  const maybe: string[] = [];
  for (const { body, metadata, options } of s.sends) {
    const result = await bounded("send", secrets, () => topic.send({ body, metadata } as never, options() as never));
    coverage.count(result.ok ? "mem sent" : "mem send rejected");
    if (result.ok) {
      sent.push(key(bytesOf(body), metadata));
      // A broker would have copied the bytes: changing them now must not change what arrives.
      if (body instanceof Uint8Array) body.fill(0);
    } else if (result.error.code === ErrorCode.Canceled || result.error.code === ErrorCode.DeadlineExceeded) {
      // Canceled before or after it was handed over: it may arrive (if it was a valid message at all).
      try {
        maybe.push(key(bytesOf(body), metadata));
      } catch {}
    }
  }
  const arrived: Message[] = [];
  for (let i = 0; i < sent.length + maybe.length; i++) {
    const next = await bounded("receive", secrets, () => sub.receive(within(i < sent.length ? 500 : 50)));
    if (!next.ok) break;
    arrived.push(next.value);
  }
  // A receive without a signal waits for a message as long as it takes: such options get a short one.
  const given = s.receiveOptions();
  const signalled = typeof given === "object" && given !== null && (given as { signal?: unknown }).signal;
  const waitsForever = given === undefined || (typeof given === "object" && given !== null && !signalled);
  const extra = await bounded("receive", secrets, () => sub.receive((waitsForever ? within(20) : given) as never));
  if (extra.ok) arrived.push(extra.value);
  const keys = arrived.map((m) => key(m.body, { ...m.metadata }));
  for (const k of sent) expect(keys, "every accepted send arrives").toContain(k);
  for (const k of keys) expect([...sent, ...maybe], "nothing arrives that was not sent").toContain(k);
  const [unacked, ...rest] = arrived;
  for (const message of rest) await bounded("ack", secrets, () => message.ack());
  await bounded("process", secrets, () => sub.process((m) => m.ack(), { ...s.processOptions, ...within(20) } as never));
  return unacked;
}
