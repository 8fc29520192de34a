/**
 * The child process of `crashLoop`: opens the subscription of the JSON
 * config in argv[2] through the URL mux, and runs a handler that prints the
 * delivery's `deliveryAttempt` and kills its own process with SIGKILL, as a
 * message that crashes its consumer would. SIGTERM shuts the subscription
 * down, which sends the acks it still holds (the crash loop's end: a message
 * dead-lettered by this process is acked on the way out).
 */
import { openSubscription } from "@portable-pubsub/core";

const { url, options } = JSON.parse(process.argv[2] ?? "{}") as { url: string; options: Record<string, unknown> };
const subscription = await openSubscription(url, options);
process.once("SIGTERM", () => {
  void subscription.shutdown().finally(() => process.exit(0));
});
process.stdout.write("open\n");
await subscription.process((message) => {
  process.stdout.write(`delivery ${message.deliveryAttempt}\n`, () => process.kill(process.pid, "SIGKILL"));
  return new Promise(() => {});
});
