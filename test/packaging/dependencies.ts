/** What an npm lockfile says was installed: our packages, and the broker clients among the rest. */

/** Every broker client a driver of ours depends on, and others a stray dependency could pull. */
const BROKER_CLIENTS = [
  "amqplib",
  "ioredis",
  "redis",
  "@google-cloud/pubsub",
  "@nats-io/jetstream",
  "@nats-io/transport-node",
  "nats",
  "pg",
  "kafkajs",
  "@aws-sdk/client-sqs",
];

/** Our packages and the broker clients in a package-lock.json (v3), each sorted. */
export function brokerClientsOf(lock: { packages: Record<string, unknown> }): { ours: string[]; clients: string[] } {
  const names = new Set(
    Object.keys(lock.packages)
      .filter((path) => path.startsWith("node_modules/"))
      .map((path) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)),
  );
  return {
    ours: [...names].filter((n) => n.startsWith("@portable-pubsub/")).sort(),
    clients: BROKER_CLIENTS.filter((n) => names.has(n)).sort(),
  };
}
