import type { Health } from "@portable-pubsub/core";

/** The body of GET /health. */
export interface HealthReport {
  status: "ok" | "unavailable";
  topic: HealthView;
  subscription: HealthView;
  consumer: "running" | "stopped" | "failed";
  stopping: boolean;
}

export interface HealthView {
  state: Health["state"];
  since: string;
  blocked?: string;
  lastError?: string;
}

export function view(health: Health): HealthView {
  const out: HealthView = { state: health.state, since: health.since.toISOString() };
  if (health.blocked !== undefined) out.blocked = health.blocked;
  if (health.lastError) out.lastError = health.lastError.message;
  return out;
}

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
  return {
    status: ok ? "ok" : "unavailable",
    topic: view(topic),
    subscription: view(subscription),
    consumer,
    stopping,
  };
}
