/**
 * The order service's outbox relay as a process of its own: sends every
 * `order.created` message that `OrderStore.place` committed, until SIGTERM or
 * SIGINT. `pubsub outbox relay` does the same from the command line.
 *
 *   DATABASE_URL=postgres://app@db/app RABBIT_SERVER_URL=amqp://… node dist/relay-main.js
 *
 * OUTBOX_SCHEMA names the pg:// schema (default "pubsub"). Prints one JSON
 * line when it runs and one when it stops; exits 0, or 3 when it could not
 * start (the database unreachable, the outbox table missing).
 */
import { outbox } from "@portable-pubsub/driver-postgres";

const log = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ level: "info", msg, ...fields })}\n`);

let relay: outbox.Relay;
try {
  relay = await outbox.startRelay({
    schema: process.env.OUTBOX_SCHEMA || undefined,
    declare: true,
    logger: {
      info: (e) => log(e.message, { event: e.event }),
      warn: (e) => log(e.message, { event: e.event, level: "warn" }),
      error: (e) => log(e.message, { event: e.event, level: "error" }),
    },
  });
} catch (err) {
  process.stderr.write(`relay: could not start: ${(err as Error).message}\n`);
  process.exit(3);
}
log("relay running");
const stop = async () => {
  await relay.shutdown();
  log("relay stopped", { ...relay.stats() });
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
