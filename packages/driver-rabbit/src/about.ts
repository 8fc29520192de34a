import type { DriverAbout } from "@portable-pubsub/core/driver";

/** Plain words about rabbit://, for tools such as `pubsub doctor`. */
export const about: DriverAbout = {
  broker: "RabbitMQ",
  server: "the RABBIT_SERVER_URL environment variable (such as amqp://guest:guest@localhost:5672)",
  topicKind: "RabbitMQ exchange",
  subscriptionKind: "RabbitMQ queue",
  create:
    "declare the exchange and the queue, and bind the queue to the exchange " +
    "(rabbitmqadmin, the management UI, or your deployment's definitions), or open them with declare=true",
};
