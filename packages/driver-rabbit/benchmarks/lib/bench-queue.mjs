// What the rabbit benchmarks share: where the broker is, and a fanout exchange with one queue bound to it,
// made (and removed) on an admin connection of their own. In lib/, so that `pnpm bench` does not run it.
import { connect } from "amqplib";

export const SERVER_URL = process.env.RABBIT_SERVER_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** Declares `prefix-<random>` as a fanout exchange and a queue bound to it; `remove` deletes both. */
export async function benchQueue(prefix) {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  const admin = await connect(SERVER_URL);
  admin.on("error", () => {});
  const channel = await admin.createChannel();
  await channel.assertExchange(name, "fanout", { durable: false });
  await channel.assertQueue(name, { durable: false });
  await channel.bindQueue(name, name, "");
  return {
    exchange: name,
    queue: name,
    purge: () => channel.purgeQueue(name),
    async remove() {
      await channel.deleteQueue(name).catch(() => {});
      await channel.deleteExchange(name).catch(() => {});
      await admin.close().catch(() => {});
    },
  };
}
