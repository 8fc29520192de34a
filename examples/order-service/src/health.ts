import type { Health, HealthJSON } from "@portable-pubsub/core";

/** The body of GET /health. */
export interface HealthReport {
  status: "ok" | "unavailable";
  /**
   * `ready` when healthy; `draining` from the moment the service (or its
   * topic or subscription) starts to shut down until it exits, so that a
   * readiness probe stops sending it traffic; `unavailable` otherwise.
   */
  state: "ready" | "draining" | "unavailable";
  /** The topic's health as the library writes it: state, since, blocked, lastError `{ code, message }`, redacted. */
  topic: HealthJSON;
  subscription: HealthJSON;
  consumer: "running" | "stopped" | "failed";
  stopping: boolean;
}

const leaving = (health: Health) => health.state === "draining" || health.state === "closed";

/** Healthy means: both connections ready, publishing not blocked, the consumer running, not shutting down. */
export function healthReport(
  topic: Health,
  subscription: Health,
  consumer: HealthReport["consumer"],
  stopping: boolean,
): HealthReport {
  const ok =
    topic.state === "ready" &&
    topic.blocked === undefined &&
    subscription.state === "ready" &&
    consumer === "running" &&
    !stopping;
  const draining = stopping || leaving(topic) || leaving(subscription);
  return {
    status: ok ? "ok" : "unavailable",
    state: ok ? "ready" : draining ? "draining" : "unavailable",
    topic: topic.toJSON(),
    subscription: subscription.toJSON(),
    consumer,
    stopping,
  };
}
