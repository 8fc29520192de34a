import type { DriverAbout } from "@portable-pubsub/core/driver";

/** Plain words about nats://, for tools such as `pubsub doctor`. */
export const about: DriverAbout = {
  broker: "NATS JetStream",
  server: "the NATS_SERVER_URL environment variable (such as nats://localhost:4222; several separated by commas)",
  topicKind: "NATS subject stored by a JetStream stream",
  subscriptionKind: "JetStream durable pull consumer (nats://STREAM?consumer=NAME)",
  create:
    'create the stream (nats stream add STREAM --subjects "SUBJECT") and the consumer (nats consumer add STREAM NAME --pull), or open them with declare=true',
};
