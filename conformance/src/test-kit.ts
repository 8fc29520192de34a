/**
 * Small helpers that broker drivers' own tests share (beyond the suite
 * itself): free ports for servers a test starts, a consumer that counts
 * what arrived and how often, a record of health states, and a wait for a
 * condition.
 */
import { createServer } from "node:net";
import type { HealthState, Subscription, Topic } from "@portable-pubsub/core/driver";

/**
 * `count` distinct local ports that were free a moment ago, for servers a
 * test starts itself. They are chosen below the kernel's ephemeral range
 * (32768 and up on Linux): a port from that range, free while its server is
 * stopped for a restart, can be taken meanwhile as the local port of any
 * outgoing connection on the machine, and the server then cannot start again.
 */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = FIXED_PORTS_FROM + Math.floor(Math.random() * FIXED_PORTS_SPAN);
    if (!ports.includes(port) && (await canListen(port))) ports.push(port);
  }
  return ports;
}

/** Where {@link freePorts} picks: 20000–31999, below the ephemeral range. */
const FIXED_PORTS_FROM = 20_000;
const FIXED_PORTS_SPAN = 12_000;

/** True if a server can listen on 127.0.0.1:`port` now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** One local port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0] as number;
}

/** What {@link collectDistinct} has seen so far. */
export interface Collected {
  /** The distinct bodies received, as text. */
  readonly seen: Set<string>;
  /** Deliveries beyond the first of each body. */
  readonly duplicates: number;
  /** Deliveries whose message id was not the one `expectedId` gives for their body. */
  readonly wrongIds: number;
}

/**
 * Processes `subscription` in the background, `concurrency` handlers at
 * once, acking everything and recording each body once; the processing
 * ends when the subscription is shut down. With `expectedId`, it counts
 * the deliveries whose `id` is not `expectedId(body)`.
 */
export function collectDistinct(
  subscription: Subscription,
  concurrency = 4,
  expectedId?: (body: string) => string,
): Collected {
  const seen = new Set<string>();
  let deliveries = 0;
  let wrongIds = 0;
  subscription
    .process(
      (message) => {
        deliveries++;
        const body = message.text();
        seen.add(body);
        if (expectedId !== undefined && message.id !== expectedId(body)) wrongIds++;
      },
      { concurrency },
    )
    .catch(() => {});
  return {
    seen,
    get duplicates() {
      return deliveries - seen.size;
    },
    get wrongIds() {
      return wrongIds;
    },
  };
}

/** Records every health state `target` reports from now on, in order. */
export function healthStates(target: Topic | Subscription): HealthState[] {
  const states: HealthState[] = [];
  target.onHealthChange((health) => states.push(health.state));
  return states;
}

/** What {@link watchEventLoop} measured. */
export interface EventLoopWatch {
  /**
   * The longest time the event loop was held by this process's own work:
   * for each gap between two ticks of a 10 ms interval, the smaller of the
   * gap and the CPU time the process used during it. A gap the process
   * spent waiting for a CPU (a loaded machine) is not the library blocking
   * the loop, and does not count.
   */
  readonly worstStallMs: number;
  /** The longest gap between two ticks, CPU or not. */
  readonly worstGapMs: number;
  /** Stops the interval. */
  stop(): void;
}

/** Starts a 10 ms interval that measures how long the event loop goes without running timers. */
export function watchEventLoop(): EventLoopWatch {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let worstStallMs = 0;
  let worstGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const gap = now - last;
    worstGapMs = Math.max(worstGapMs, gap);
    worstStallMs = Math.max(worstStallMs, Math.min(gap, (cpu.user + cpu.system) / 1000));
    last = now;
    lastCpu = process.cpuUsage();
  }, 10);
  return {
    get worstStallMs() {
      return worstStallMs;
    },
    get worstGapMs() {
      return worstGapMs;
    },
    stop: () => clearInterval(ticker),
  };
}

/**
 * Resolves once `check()` holds, polling every 20 ms; rejects naming `what`
 * (a text, or a function that tells the state at the deadline) after
 * `timeoutMs`.
 */
export async function until(check: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
