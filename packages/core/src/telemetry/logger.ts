/**
 * The `logger` option. Its shape is what pino, winston and console have in
 * common: `info`, `warn` and `error` that take one object. Each event is
 * one object with a `message` field, which all three print well: pino as
 * fields, winston as its message and meta, console as the object.
 */

import type { Health } from "../driver/health.js";
import { redactUrl } from "../errors.js";

/** A logger: pino, winston, console, or anything with these methods. */
export interface Logger {
  /** Receives routine events (a connection made or recovered). */
  info(event: LogEvent): void;
  /** Receives events that need attention but that the library recovers from (a lost connection). */
  warn(event: LogEvent): void;
  /** Receives failures the library cannot recover from by itself. */
  error(event: LogEvent): void;
}

/** One structured event, as the logger receives it. */
export interface LogEvent {
  /**
   * What happened, such as "pubsub.state" (a health change, `draining` included), "pubsub.blocked",
   * "pubsub.unblocked", "pubsub.deadletter" or "pubsub.tracing_no_propagator".
   */
  event: string;
  /** The Topic's or Subscription's resource, without credentials. */
  resource: string;
  /** What happened, in a sentence. */
  message: string;
  [field: string]: unknown;
}

/**
 * Logs the health changes of one Topic or Subscription: every state change
 * (connecting, reconnecting with the error and how many attempts in a row,
 * ready, closed) and every change of a broker's block.
 */
export class HealthLog {
  readonly #logger: Logger;
  readonly #resource: string;
  #state: Health["state"] | undefined;
  #blocked: string | undefined;
  #attempts = 0;

  constructor(logger: Logger, resource: string) {
    this.#logger = logger;
    this.#resource = resource;
  }

  /** Reports what changed between the last health seen and `health`. */
  observe(health: Health): void {
    if (health.state !== this.#state) {
      this.#state = health.state;
      if (health.state === "reconnecting") this.#attempts++;
      else if (health.state === "ready") this.#attempts = 0;
      const error = health.lastError ? redactUrl(health.lastError.message) : undefined;
      const level = health.state === "reconnecting" ? "warn" : "info";
      this.#write(level, "pubsub.state", `${this.#resource}: ${health.state}${error ? ` (${error})` : ""}`, {
        state: health.state,
        ...(error === undefined ? {} : { error }),
        ...(health.state === "reconnecting" ? { attempt: this.#attempts } : {}),
      });
    }
    if (health.blocked !== this.#blocked) {
      this.#blocked = health.blocked;
      if (health.blocked !== undefined) {
        const reason = redactUrl(health.blocked);
        this.#write("warn", "pubsub.blocked", `${this.#resource}: the broker blocks publishing (${reason})`, {
          reason,
        });
      } else {
        this.#write("info", "pubsub.unblocked", `${this.#resource}: the broker publishes again`, {});
      }
    }
  }

  #write(level: "info" | "warn", event: string, message: string, fields: Record<string, unknown>): void {
    writeLog(this.#logger, level, { event, resource: this.#resource, message, ...fields });
  }
}

/** Hands `record` to `logger`, if there is one; a logger that throws must not break the library's bookkeeping. */
export function writeLog(logger: Logger | undefined, level: keyof Logger, record: LogEvent): void {
  if (!logger) return;
  try {
    logger[level](record);
  } catch {
    // Ignored: see above.
  }
}
