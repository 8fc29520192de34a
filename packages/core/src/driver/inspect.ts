import type { ErrorCode } from "../errors.js";

/**
 * The inspection hook of `pubsub doctor`. A driver package may export
 * `inspectURL` of type {@link UrlInspector} (see DriverModule); `pubsub doctor` then reports what the
 * driver found (broker, version, whether the exchange or queue exists) before
 * its own portable probes. Drivers without the hook are inspected through the
 * portable API alone.
 */

/** One thing that was checked. */
export interface Check {
  /** What was checked, one word or two: "broker", "topic", "subscription", "exchange", "queue". */
  subject: string;
  /** "skip": not applicable, such as probing a subscription-only URL as a topic. */
  status: "ok" | "warn" | "fail" | "skip";
  /** What was found, in plain words, without credentials. */
  detail: string;
  /** What to do about it, in plain words; expected for "warn" and "fail". */
  fix?: string;
  /** The portable code of the problem, for "fail": it decides the exit code. */
  code?: ErrorCode;
}

/** What a driver found about the broker and the resource a URL names. */
export interface Inspection {
  /** The broker product and version, such as "RabbitMQ 3.13.7", when known. */
  broker?: string;
  /** Where the driver connected, without credentials. */
  server?: string;
  checks: Check[];
  /**
   * The roles the URL can play, as far as the driver found (an existing
   * exchange is a topic, an existing queue a subscription). When the user did
   * not choose, `pubsub doctor` probes only these.
   */
  roles?: ("topic" | "subscription")[];
}

/**
 * Connects to the broker `url` points at and looks at the resource it names,
 * as a topic and as a subscription, without changing anything. It must report
 * problems it can describe as failed checks rather than throw, and must return
 * promptly when `signal` fires.
 */
export type UrlInspector = (url: URL, options: { signal: AbortSignal }) => Promise<Inspection>;
