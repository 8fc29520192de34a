import { runConformanceTests } from "@portable-pubsub/conformance";
import { describe, it } from "vitest";
import { createRabbitHarness } from "./harness.js";
import { BROKER, rabbitmqctl, SERVER_URL, skipWithoutBroker } from "./support.js";

const isChannel = (n: unknown) =>
  typeof n === "object" && n !== null && typeof (n as { publish?: unknown }).publish === "function";

if (skipWithoutBroker) {
  describe.skip("conformance: rabbit (RabbitMQ is not running on 127.0.0.1:5672)", () => it("skipped", () => {}));
} else {
  runConformanceTests(() => createRabbitHarness({ settings: { serverUrl: SERVER_URL } }), {
    name: "rabbit",
    messagingSystem: "rabbitmq",
    canNack: true,
    guaranteedOrder: true,
    multipleSubscriptions: true,
    consumerGroups: true,
    native: {
      topic: isChannel,
      subscription: (n) => isChannel(n) && typeof (n as { consume?: unknown }).consume === "function",
      message: (n) => typeof n === "object" && n !== null && "fields" in n && "properties" in n && "content" in n,
    },
    reconnect: {
      upstream: BROKER,
      // The case cuts every 400 ms; 10,000 messages keep it sending through several cuts.
      messages: 10_000,
      harness: (proxy) =>
        createRabbitHarness({
          settings: { serverUrl: `amqp://guest:guest@${proxy.host}:${proxy.port}`, heartbeat: 1 },
          adminSettings: { serverUrl: SERVER_URL },
        }),
    },
    restart: {
      stopBroker: async () => {
        await rabbitmqctl("stop_app");
      },
      startBroker: async () => {
        await rabbitmqctl("start_app");
        await rabbitmqctl("await_startup");
      },
      harness: () =>
        createRabbitHarness({
          settings: { serverUrl: SERVER_URL, heartbeat: 1, reconnectMaxDelayMs: 500 },
          durable: true,
        }),
    },
  });
}
