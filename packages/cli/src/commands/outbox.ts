import { ErrorCode, PubSubError } from "@portable-pubsub/core/driver";
import { loadDriver } from "../drivers.js";
import { onInterrupt, writeOut } from "../io.js";

export interface OutboxRelayOptions {
  /** The schema of the driver's tables; default the driver's ("pubsub"). */
  schema?: string;
  /** postgres://…; default DATABASE_URL, else libpq's PG* variables. */
  serverUrl?: string;
  /** Create the outbox table when missing. */
  declare: boolean;
  /** Rows claimed and sent per transaction. */
  batchSize?: number;
  /** Poll instead of LISTEN (PgBouncer in transaction mode). */
  notify: boolean;
}

/** What `pubsub outbox relay` needs of the pg:// driver package (an optional peer, loaded by name). */
interface PgOutbox {
  outbox: {
    startRelay(options: {
      serverUrl?: string;
      schema?: string;
      declare?: boolean;
      batchSize?: number;
      notify?: boolean;
      logger?: { info(e: object): void; warn(e: object): void; error(e: object): void };
    }): Promise<{
      stats(): { sent: number; deleted: number; failed: number; batches: number };
      shutdown(): Promise<void>;
    }>;
  };
}

/** One JSON line per relay event, on stderr: stdout stays for the start and stop lines. */
const stderrLogger = {
  info: (event: object) => process.stderr.write(`${JSON.stringify({ level: "info", ...event })}\n`),
  warn: (event: object) => process.stderr.write(`${JSON.stringify({ level: "warn", ...event })}\n`),
  error: (event: object) => process.stderr.write(`${JSON.stringify({ level: "error", ...event })}\n`),
};

/**
 * `pubsub outbox relay`: runs the pg:// driver's outbox relay until SIGINT or
 * SIGTERM, sending each committed outbox row to its URL (any scheme whose
 * driver is installed, configured by its environment variables, such as
 * RABBIT_SERVER_URL). Prints one line once it runs and one with its counts
 * when it stops.
 */
export async function outboxRelay(options: OutboxRelayOptions): Promise<void> {
  const { module, packageName } = await loadDriver(new URL("pg://outbox"));
  const driver = module as unknown as Partial<PgOutbox>;
  if (typeof driver.outbox?.startRelay !== "function") {
    throw new PubSubError(
      ErrorCode.FailedPrecondition,
      `outbox relay: the pg:// driver (${packageName ?? "registered"}) installed here has no outbox; update it`,
    );
  }
  using interrupt = onInterrupt();
  const relay = await driver.outbox.startRelay({
    serverUrl: options.serverUrl,
    schema: options.schema,
    declare: options.declare,
    batchSize: options.batchSize,
    notify: options.notify,
    logger: stderrLogger,
  });
  await writeOut(`outbox relay: running on schema ${options.schema ?? "pubsub"}\n`);
  await new Promise<void>((resolve) => interrupt.signal.addEventListener("abort", () => resolve(), { once: true }));
  await relay.shutdown();
  const { sent, failed, batches } = relay.stats();
  await writeOut(`outbox relay: stopped; ${sent} sent in ${batches} batches, ${failed} failed sends retried\n`);
}
