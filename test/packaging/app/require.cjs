// A CommonJS application: require() of every package's entry points (require of ESM, Node 20.19+ and 22.12+).
const core = require("@portable-pubsub/core");
const kit = require("@portable-pubsub/core/driver");
const drivers = ["memory", "rabbit", "redis", "gcp", "nats"].map((name) => require(`@portable-pubsub/driver-${name}`));
const cli = require("@portable-pubsub/cli");

async function main() {
  const topic = await core.openTopic("mem://packaging-cjs");
  const sub = await core.openSubscription("mem://packaging-cjs");
  await topic.send({ body: "hello" });
  const message = await sub.receive({ signal: AbortSignal.timeout(5000) });
  message.ack();
  await sub.shutdown();
  await topic.shutdown();
  console.log(
    JSON.stringify({
      core: typeof core.openTopic,
      kit: typeof kit.parseQuery,
      drivers: drivers.map((d) => typeof d.openTopicURL),
      cli: typeof cli.runCli,
      version: require("@portable-pubsub/core/package.json").version,
      body: message.text(),
    }),
  );
}
main();
