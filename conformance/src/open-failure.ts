/**
 * One check for an open that must fail, shared by the drivers' tests of
 * unreachable servers, refused certificates and missing resources: it must
 * reject (never resolve, never hang) within a bound, with a PubSubError of
 * the expected code whose message names what it should.
 */
import net from "node:net";
import { inspect } from "node:util";
import { type ErrorCode, errorCode, PubSubError } from "@portable-pubsub/core";
import { expect } from "vitest";

/** What {@link expectOpenFailure} checks. */
export interface OpenFailure {
  /** The portable code the open must fail with. */
  code: ErrorCode;
  /** Texts the message must contain, such as the broker's name and address. */
  mentions: readonly string[];
  /** The open must settle within this many ms. */
  withinMs: number;
  /** Texts (passwords) that must appear nowhere in the error: message, stack, causes, own fields. */
  hides?: readonly string[];
}

/**
 * Runs `open` and checks that it rejects as `expected` says. Returns the
 * error and how long the open took, for further checks.
 */
export async function expectOpenFailure(
  open: () => Promise<{ shutdown(): Promise<void> }>,
  expected: OpenFailure,
): Promise<{ error: PubSubError; elapsedMs: number }> {
  const started = Date.now();
  let outcome: unknown;
  const bound = new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), expected.withinMs + 5000).unref());
  const settled = await Promise.race([
    open().then(
      async (opened) => {
        await opened.shutdown();
        return "opened" as const;
      },
      (err: unknown) => {
        outcome = err;
        return "rejected" as const;
      },
    ),
    bound,
  ]);
  const elapsedMs = Date.now() - started;
  expect(settled).toBe("rejected");
  expect(outcome).toBeInstanceOf(PubSubError);
  const error = outcome as PubSubError;
  expect({ code: errorCode(error), message: error.message }).toMatchObject({ code: expected.code });
  for (const text of expected.mentions) expect(error.message).toContain(text);
  expect(elapsedMs).toBeLessThan(expected.withinMs);
  const everything = inspect(error, { depth: 10, showHidden: true });
  for (const secret of expected.hides ?? []) expect(everything).not.toContain(secret);
  return { error, elapsedMs };
}

/** See {@link startSilentServer}. */
export interface SilentServer {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** Closes every connection and stops listening. */
  close(): Promise<void>;
}

/**
 * A TCP server that accepts connections and never says a word: a broker
 * whose host is up but whose process hangs, or a stalled network. For
 * tests of connect timeouts.
 */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => sockets.add(socket.on("error", () => {})));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
