// An ESM application: one message through mem://, the driver loaded by core on first use.
import { openSubscription, openTopic } from "@portable-pubsub/core";

const topic = await openTopic("mem://packaging");
const sub = await openSubscription("mem://packaging");
await topic.send({ body: "hello", metadata: { from: "esm" } });
const message = await sub.receive({ signal: AbortSignal.timeout(5000) });
message.ack();
await sub.shutdown();
await topic.shutdown();
console.log(JSON.stringify({ body: message.text(), metadata: message.metadata }));
