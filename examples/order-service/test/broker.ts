import { skipUnlessReachable } from "@portable-pubsub/conformance";

export const RABBIT = { host: "127.0.0.1", port: 5672 };

/** Tests that need RabbitMQ skip without it, except on CI, where they fail. */
export const skipWithoutRabbit = await skipUnlessReachable(RABBIT);
