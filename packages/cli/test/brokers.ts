import { randomUUID } from "node:crypto";
import { skipUnlessReachable } from "@portable-pubsub/conformance";

export const RABBIT = { host: "127.0.0.1", port: 5672, serverUrl: "amqp://guest:guest@127.0.0.1:5672" };
export const REDIS = { host: "127.0.0.1", port: 6379, serverUrl: "redis://127.0.0.1:6379" };

export const skipWithoutRabbit = await skipUnlessReachable(RABBIT);
export const skipWithoutRedis = await skipUnlessReachable(REDIS);

/** A resource name no other run uses. */
export const unique = (name: string) => `pubsub-cli-test-${name}-${randomUUID().slice(0, 8)}`;
