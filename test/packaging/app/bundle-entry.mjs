// A bundled application (esbuild, ESM or CommonJS): the driver registered by a static import the bundler follows.
import "@portable-pubsub/driver-memory/register";
import { openSubscription, openTopic } from "@portable-pubsub/core";

async function main() {
  const topic = await openTopic("mem://bundled");
  const sub = await openSubscription("mem://bundled");
  await topic.send({ body: "bundled hello" });
  const message = await sub.receive({ signal: AbortSignal.timeout(5000) });
  message.ack();
  await sub.shutdown();
  await topic.shutdown();
  console.log(JSON.stringify({ body: message.text() }));
}
main();
