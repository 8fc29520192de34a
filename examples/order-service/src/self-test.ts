import { setTimeout as sleep } from "node:timers/promises";
import type { OrderService } from "./service.js";

/** What the self-test found. */
export interface SelfTestResult {
  posted: number;
  /** Status code → how many answers had it. */
  statuses: Record<string, number>;
  processed: number;
  duplicates: number;
  lost: number;
  seconds: number;
  health: { status: number; topic: string; subscription: string };
}

const POSTERS = 16;
const ITEMS = ["book", "lamp", "kettle", "chair", "pen"];

/**
 * Posts `count` orders to the running service over HTTP, `POSTERS` at a time,
 * waits until each accepted order has been processed (or `timeoutMs`), and
 * reads /health: the whole path a client and the consumer take.
 */
export async function selfTest(service: OrderService, count: number, timeoutMs: number): Promise<SelfTestResult> {
  const started = performance.now();
  const statuses: Record<string, number> = {};
  const accepted: string[] = [];
  let next = 0;
  const poster = async () => {
    while (next < count) {
      const n = next++;
      const order = { item: ITEMS[n % ITEMS.length], quantity: 1 + (n % 5), customer: `self-test-${n}` };
      const res = await fetch(`${service.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(order),
      });
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      const body = (await res.json()) as { id?: string };
      if (res.status === 201 && body.id) accepted.push(body.id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(POSTERS, count) }, poster));
  const deadline = Date.now() + timeoutMs;
  const missing = () => accepted.filter((id) => !service.processor.hasProcessed(id)).length;
  while (missing() > 0 && Date.now() < deadline) await sleep(10);
  const seconds = (performance.now() - started) / 1000;
  const res = await fetch(`${service.url}/health`);
  const health = (await res.json()) as { topic: { state: string }; subscription: { state: string } };
  const stats = service.processor.stats;
  return {
    posted: count,
    statuses,
    processed: accepted.length - missing(),
    duplicates: stats.duplicates,
    lost: missing(),
    seconds,
    health: { status: res.status, topic: health.topic.state, subscription: health.subscription.state },
  };
}

export function selfTestSummary(r: SelfTestResult, concurrency: number): string {
  const answers = Object.entries(r.statuses)
    .map(([status, n]) => `${n} × ${status}`)
    .join(", ");
  return [
    `self-test: posted ${r.posted} orders over HTTP (${answers})`,
    `self-test: ${r.processed} processed by up to ${concurrency} concurrent handlers in ${r.seconds.toFixed(2)} s: ` +
      `${r.duplicates} duplicates, ${r.lost} lost`,
    `self-test: GET /health ${r.health.status} (topic ${r.health.topic}, subscription ${r.health.subscription})`,
  ].join("\n");
}
