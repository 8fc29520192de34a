import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  openSubscription,
  openTopic,
  type ProcessContext,
  redactUrl,
  type Subscription,
  type Topic,
  transactionOf,
} from "@portable-pubsub/core";
import { type PgIdempotencyStore, pgIdempotencyStore } from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { Charges } from "./charges.js";
import type { Config } from "./config.js";
import { healthReport } from "./health.js";
import { postOrder, sendJson } from "./http.js";
import { LibraryLog } from "./library-log.js";
import type { Logger } from "./log.js";
import { OrderStore } from "./order-store.js";
import { type Order, OrderSchema } from "./orders.js";
import { OrderProcessor, type ProcessorStats } from "./processor.js";
import { inRequestSpan } from "./tracing.js";

/** The database side of the service (ORDERS_DATABASE_URL): orders with their outbox message, and the inbox. */
interface Database {
  pool: pg.Pool;
  store: OrderStore;
  charges: Charges;
  /** The PostgreSQL inbox: the subscription's idempotency store, whose ctx.tx each charge is written in. */
  inbox: PgIdempotencyStore;
}

/** How long the consumer must have been idle before shutdown stops it: what is queued gets processed first. */
const DRAIN_IDLE_MS = 300;

/**
 * The order service: an HTTP server that publishes orders, a background
 * consumer that processes them, health from both connections, and a graceful
 * stop. Create it with {@link OrderService.start}.
 */
export class OrderService {
  readonly topic: Topic<typeof OrderSchema>;
  readonly subscription: Subscription<typeof OrderSchema>;
  readonly processor: OrderProcessor;
  /** The subscription's logger; counts the dead letters. */
  readonly library: LibraryLog;
  /** Where orders are stored with their message (ORDERS_DATABASE_URL); undefined: orders go to the topic. */
  readonly store: OrderStore | undefined;
  readonly #database: Database | undefined;
  readonly #server: Server;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #requests = new Set<Promise<void>>();
  #accepted = 0;
  #stopping: Promise<boolean> | undefined;

  private constructor(
    config: Config,
    log: Logger,
    library: LibraryLog,
    topic: Topic<typeof OrderSchema>,
    subscription: Subscription<typeof OrderSchema>,
    database?: Database,
  ) {
    this.#config = config;
    this.#database = database;
    this.store = database?.store;
    this.#log = log;
    this.library = library;
    this.topic = topic;
    this.subscription = subscription;
    // With a database, each order is charged in the inbox's transaction: once, whatever crashes.
    const charge =
      database &&
      ((order: Order, ctx: ProcessContext) => database.charges.charge(transactionOf(ctx, database.inbox), order));
    this.processor = new OrderProcessor(subscription, log, config.processDelayMs, charge);
    this.#server = createServer((req, res) => this.#route(req, res));
    for (const [name, target] of [
      ["topic", topic],
      ["subscription", subscription],
    ] as const) {
      target.onHealthChange((h) =>
        this.#log.info(`${name} connection ${h.state}`, { state: h.state, blocked: h.blocked, err: h.lastError }),
      );
    }
  }

  /** Opens the topic (first: on mem:// the subscription needs it), the subscription, starts consuming and listening. */
  static async start(config: Config, log: Logger): Promise<OrderService> {
    const topic = await openTopic(config.topicUrl, { schema: OrderSchema });
    if (new URL(config.deadLetterUrl).protocol === "mem:") await keepMemDeadLetters(config.deadLetterUrl);
    const library = new LibraryLog(log);
    // With a database, the PostgreSQL inbox: a consumer's charge and its order's done-mark commit together.
    const inbox =
      config.databaseUrl === undefined
        ? undefined
        : pgIdempotencyStore({
            serverUrl: config.databaseUrl,
            schema: config.outboxSchema,
            poolSize: config.concurrency + 2,
          });
    let subscription: Subscription<typeof OrderSchema>;
    try {
      // A failed order comes back after a backoff; after maxAttempts it goes to the dead-letter topic (opened here
      // with the subscription, so that a wrong URL fails the start) and is acked once the broker confirmed that.
      // An order that fails OrderSchema never reaches the handler: it is dead-lettered at once, with the reason.
      subscription = await openSubscription(config.subscriptionUrl, {
        schema: OrderSchema,
        redelivery: {
          maxAttempts: config.maxAttempts,
          initialDelayMs: config.redeliveryDelayMs,
          maxDelayMs: config.redeliveryMaxDelayMs,
        },
        deadLetter: config.deadLetterUrl,
        logger: library,
        ...(inbox && { idempotency: { store: inbox, leaseMs: config.idempotencyLeaseMs } }),
      });
    } catch (err) {
      await inbox?.close();
      await topic.shutdown({ signal: AbortSignal.timeout(config.shutdownTimeoutMs) }).catch(() => {});
      throw err;
    }
    let database: Database | undefined;
    if (config.databaseUrl !== undefined && inbox !== undefined) {
      const pool = new pg.Pool({ connectionString: config.databaseUrl });
      pool.on("error", (err) => log.warn("database connection lost", { err }));
      try {
        const store = await OrderStore.open(pool, {
          topicUrl: config.topicUrl,
          ordersSchema: config.ordersSchema,
          outboxSchema: config.outboxSchema,
        });
        const charges = await Charges.open(pool, config.ordersSchema);
        database = { pool, store, charges, inbox };
      } catch (err) {
        await pool.end().catch(() => {});
        await subscription.shutdown({ signal: AbortSignal.timeout(config.shutdownTimeoutMs) }).catch(() => {});
        await topic.shutdown({ signal: AbortSignal.timeout(config.shutdownTimeoutMs) }).catch(() => {});
        await inbox.close();
        throw err;
      }
    }
    const service = new OrderService(config, log, library, topic, subscription, database);
    service.processor.start(config.concurrency);
    service.#server.listen(config.port, config.host);
    await once(service.#server, "listening");
    log.info("listening", {
      url: service.url,
      topic: redactUrl(config.topicUrl),
      subscription: redactUrl(config.subscriptionUrl),
      deadLetter: redactUrl(config.deadLetterUrl),
      maxAttempts: config.maxAttempts,
      concurrency: config.concurrency,
    });
    return service;
  }

  /** Where the server listens, such as http://127.0.0.1:8080. */
  get url(): string {
    const { address, port } = this.#server.address() as AddressInfo;
    return `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
  }

  /** Orders confirmed by the broker and answered 201. */
  get accepted(): number {
    return this.#accepted;
  }

  /** What GET /stats answers: orders accepted, the consumer's counters, and the dead letters sent. */
  get stats(): { accepted: number; rejected: number; deadLettered: number } & ProcessorStats {
    const processor = this.processor.stats;
    return {
      accepted: this.#accepted,
      ...processor,
      duplicates: processor.duplicates + this.library.duplicates,
      rejected: this.library.rejected,
      deadLettered: this.library.deadLettered,
    };
  }

  /**
   * Graceful stop: refuse new orders, let running requests finish, flush the
   * topic, drain the consumer, shut the subscription down, close the HTTP
   * server. Until then GET /health answers 503 with state `draining`, so a
   * readiness probe takes the service out of rotation. Resolves true if
   * all that finished within the shutdown deadline. Calling it again returns
   * the first call's promise.
   */
  stop(reason: string): Promise<boolean> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<boolean> {
    const started = Date.now();
    const deadline = AbortSignal.timeout(this.#config.shutdownTimeoutMs);
    this.#log.info("shutting down", { reason, deadlineMs: this.#config.shutdownTimeoutMs });
    // Keep-alive connections stay open: a request on one gets its 503 with "connection: close", rather than a
    // connection closed under a request already on its way.
    let ok = true;
    const step = async (name: string, work: Promise<unknown>) => {
      try {
        await work;
      } catch (err) {
        ok = false;
        this.#log.error(`shutdown: ${name} did not finish`, { err });
      }
    };
    await step("HTTP requests", Promise.race([Promise.all(this.#requests), aborted(deadline)]));
    if (this.#database !== undefined) await step("database pool", this.#database.pool.end());
    await step("topic flush", this.topic.shutdown({ signal: deadline }));
    // Keep a little of the deadline for the subscription's own shutdown.
    const drainBudget = AbortSignal.any([deadline, AbortSignal.timeout(this.#config.shutdownTimeoutMs * 0.8)]);
    await step("consumer drain", this.processor.drain(DRAIN_IDLE_MS, drainBudget));
    await step("subscription shutdown", this.subscription.shutdown({ signal: deadline }));
    await step("consumer stop", Promise.race([this.processor.stopped(), aborted(deadline)]));
    // After the subscription: its last done-marks and releases go through the inbox.
    if (this.#database !== undefined) await step("inbox close", this.#database.inbox.close());
    // The server listens until here: /health answers 503 "draining" for the whole drain.
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await step("HTTP server close", Promise.race([closed, aborted(deadline)]));
    this.#server.closeAllConnections();
    this.#log.info(ok ? "stopped" : "stopped with work left undone", { ms: Date.now() - started, ...this.stats });
    return ok;
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path === "/health" && req.method === "GET") {
      const consumer = this.processor.failure ? "failed" : "running";
      const report = healthReport(this.topic.health, this.subscription.health, consumer, this.#stopping !== undefined);
      sendJson(res, report.status === "ok" ? 200 : 503, report, this.#stopping ? { connection: "close" } : {});
      return;
    }
    if (this.#stopping) {
      sendJson(
        res,
        503,
        { error: "FailedPrecondition", message: "the service is shutting down" },
        { connection: "close" },
      );
      return;
    }
    if (path === "/orders" && req.method === "POST") {
      const handled = inRequestSpan(req, "/orders", () =>
        postOrder(req, res, {
          topic: this.topic,
          store: this.store,
          log: this.#log,
          sendTimeoutMs: this.#config.sendTimeoutMs,
        }),
      )
        .then(() => {
          if (res.statusCode === 201) this.#accepted++;
        })
        .catch((err: unknown) => {
          this.#log.error("POST /orders failed", { err });
          if (!res.headersSent) sendJson(res, 500, { error: "Internal", message: "unexpected error" });
        })
        .finally(() => this.#requests.delete(handled));
      this.#requests.add(handled);
      return;
    }
    if (path === "/stats" && req.method === "GET") {
      sendJson(res, 200, this.stats);
      return;
    }
    const known = path === "/orders" || path === "/health" || path === "/stats";
    sendJson(res, known ? 405 : 404, { error: known ? "method not allowed" : "not found" });
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(signal.reason);
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
}

/**
 * On mem://, a send that no subscription receives fails, so a dead letter would loop: a named
 * subscription of the dead-letter topic ("held") keeps them while the process lives, for
 * `pubsub redrive` run in the process or a look in a debugger.
 */
async function keepMemDeadLetters(url: string): Promise<void> {
  const topic = await openTopic(url);
  const held = new URL(url);
  held.searchParams.set("subscription", "held");
  await (await openSubscription(held.href)).shutdown();
  await topic.shutdown();
}
