/**
 * One dial that does not sit out a stalled handshake. An attempt made while
 * the network is partitioned can have its bytes held (a blackhole, a stalled
 * link): it would wait out the whole connect timeout even though the network
 * healed long before, and a silent drop of its SYN costs TCP's own
 * retransmission backoff. So while an attempt is still pending, a fresh one
 * starts every `hedgeMs` (to the next server URL, when there are several: a
 * node gone silent must not hold up failover to the others for the whole
 * timeout); the first to finish the AMQP handshake wins, and
 * the others are aborted (or closed, should they finish too). At most
 * `maxPending` attempts are open at once, the oldest giving way to a new
 * one, and the dial as a whole fails after `timeoutMs`, so that backoff and
 * failover to the next server URL work as for any failed attempt.
 */

import { ErrorCode } from "@portable-pubsub/core/driver";
import type { ChannelModel } from "amqplib";
import { RabbitError, rabbitErrors, replyCodeOf } from "../errors.js";
import type { ServerTarget } from "./server-url.js";

export interface DialTiming {
  /** How long an attempt may be pending before another one starts. */
  readonly hedgeMs: number;
  /** The most attempts open at once. */
  readonly maxPending: number;
  /** When the dial as a whole gives up. */
  readonly timeoutMs: number;
}

/**
 * Runs `open` (one attempt, which must give up when its signal fires; it
 * gets the attempt's number, 0 first, to pick its server) as described in
 * the module comment. Rejects with the last attempt's error
 * once every attempt failed (a refused connection fails at once, without
 * hedging), with ETIMEDOUT at `timeoutMs`, or with `stop`'s reason.
 */
export function dialHedged<T extends { readonly model: ChannelModel }>(
  open: (signal: AbortSignal, attempt: number) => Promise<T>,
  timing: DialTiming,
  stop: AbortSignal,
): Promise<T> {
  if (stop.aborted) return Promise.reject(stop.reason);
  return new Promise<T>((resolve, reject) => {
    const pending = new Set<AbortController>();
    let done = false;
    let lastError: unknown;
    let attempts = 0;
    const finish = (err: unknown, model?: T) => {
      if (done) return;
      done = true;
      clearInterval(hedge);
      clearTimeout(deadline);
      stop.removeEventListener("abort", onStop);
      for (const controller of pending) controller.abort();
      pending.clear();
      if (model) resolve(model);
      else reject(err);
    };
    const attempt = () => {
      const controller = new AbortController();
      pending.add(controller);
      if (pending.size > timing.maxPending) {
        const oldest = pending.values().next().value as AbortController;
        pending.delete(oldest);
        oldest.abort();
      }
      open(controller.signal, attempts++).then(
        (model) => {
          pending.delete(controller);
          if (done || controller.signal.aborted) discard(model.model);
          else finish(undefined, model);
        },
        (err: unknown) => {
          // An attempt aborted here was already forgotten; its error says nothing about the server.
          if (!pending.delete(controller)) return;
          lastError = err;
          if (pending.size === 0) finish(err);
        },
      );
    };
    const onStop = () => finish(stop.reason);
    const hedge = setInterval(attempt, timing.hedgeMs);
    const deadline = setTimeout(() => finish(lastError ?? handshakeTimeout(timing.timeoutMs)), timing.timeoutMs);
    stop.addEventListener("abort", onStop, { once: true });
    attempt();
  });
}

/** A late winner: closed at once, with a listener so that its errors go nowhere. */
function discard(model: ChannelModel): void {
  model.on("error", () => {});
  model.close().catch(() => {});
}

function handshakeTimeout(ms: number): Error {
  return Object.assign(new Error(`connect ETIMEDOUT: no AMQP handshake within ${ms} ms`), { code: "ETIMEDOUT" });
}

/** A failed connection attempt, without credentials; `rabbitErrors.hint` says what to check. */
export function connectError(target: ServerTarget, cause: unknown): RabbitError {
  const replyCode = replyCodeOf(cause);
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new RabbitError(`cannot connect to ${target.display}: ${detail}`, {
    cause,
    role: "connect",
    vhost: target.options.vhost ?? "/",
    ...(replyCode === undefined ? {} : { replyCode }),
    // No answer within the connect timeout is DeadlineExceeded, as the portable layer's bound on opening says.
    ...((cause as { code?: unknown } | null)?.code === "ETIMEDOUT" ? { portable: ErrorCode.DeadlineExceeded } : {}),
    // A refusal (bad login, vhost) stays refused; anything else but a programming error may pass.
    retryable: replyCode === undefined ? rabbitErrors.isRetryable(cause) || !(cause instanceof TypeError) : false,
  });
}
