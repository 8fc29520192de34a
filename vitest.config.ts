import { defineConfig } from "vitest/config";

/**
 * Test files that share a server must not run at the same time: one file's faults (a restarted RabbitMQ, a Redis
 * refusing writes at maxmemory 1) would fail another's sends. So each shared server gets a project whose files run
 * one at a time. Projects touch different servers, so `pnpm test` (test/run.mjs) runs them side by side, one
 * vitest process each; files that use several shared servers run afterwards, beside the files that start servers
 * of their own and load the machine (a three-node RabbitMQ cluster, the packaging test's installs). A plain
 * `vitest run` runs the same files one at a time (vitest gives a group of projects one worker limit), group 1 last.
 */
const SHARED_SERVERS = {
  rabbit: ["packages/driver-rabbit/test/**/*.test.ts"],
  redis: ["packages/driver-redis/test/**/*.test.ts"],
  nats: ["packages/driver-nats/test/**/*.test.ts"],
  pg: ["packages/driver-postgres/test/**/*.test.ts"],
  // Each gcp test file starts a Pub/Sub emulator of its own: a project of its own keeps them from competing.
  gcp: ["packages/driver-gcp/test/**/*.test.ts"],
};
/** Files that use more than one shared server, or connect to the default ports. */
const SEVERAL_SERVERS = [
  "packages/cli/test/brokers.test.ts",
  "packages/cli/test/redrive-brokers.test.ts",
  "packages/cli/test/cli.test.ts",
  "examples/order-service/test/rabbit.test.ts",
  "examples/order-service/test/outbox.test.ts",
  // The outbox's tests send to RabbitMQ through the relay, from the pg package.
  "packages/driver-postgres/test/outbox*.test.ts",
  // The PostgreSQL inbox consuming from RabbitMQ, and the order service charging through it.
  "packages/driver-postgres/test/inbox.test.ts",
  "examples/order-service/test/charge-once.test.ts",
  "test/dead-letter-across.test.ts",
  "test/secrets.test.ts",
  "test/fuzz.test.ts",
  // The idempotent consumer's fault tests keep their claims in the Redis store, whatever the broker.
  "packages/driver-*/test/faults-idempotency*.test.ts",
];
/** Files that start servers of their own, or install packages: heavy on a small machine. */
const HEAVY = [
  "packages/driver-rabbit/test/restart-cluster.test.ts",
  "packages/driver-rabbit/test/cluster-idempotency.test.ts",
  "packages/driver-redis/test/cluster-*.test.ts",
  "packages/driver-postgres/test/restart-outbox.test.ts",
  "packages/driver-nats/test/cluster-*.test.ts",
  "test/packaging/**/*.test.ts",
];

/**
 * What a CI running the suite on several Node versions runs on one only (PUBSUB_SKIP_FAULT_TESTS=1 on the
 * others): cutting connections and restarting brokers test the drivers' recovery, not Node, and the packaging
 * test runs its checks on every Node itself. (vitest's --exclude does not reach projects, hence here.)
 */
const ONCE_ONLY =
  process.env.PUBSUB_SKIP_FAULT_TESTS === "1"
    ? ["**/test/faults*.test.ts", "**/test/restart*.test.ts", "**/test/cluster*.test.ts", "test/packaging/**"]
    : [];
const EXCLUDE = ["**/node_modules/**", "**/dist/**", ...ONCE_ONLY];

const sequential = (name: string, include: string[], exclude: string[] = [], groupOrder = 0) => ({
  extends: true as const,
  test: { name, include, exclude: [...EXCLUDE, ...exclude], fileParallelism: false, sequence: { groupOrder } },
});
const ALL = "**/test/**/*.test.ts";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      ...Object.entries(SHARED_SERVERS).map(([name, include]) =>
        sequential(name, include, [...HEAVY, ...SEVERAL_SERVERS]),
      ),
      sequential("local", [ALL], [...Object.values(SHARED_SERVERS).flat(), ...SEVERAL_SERVERS, ...HEAVY]),
      sequential("several servers", SEVERAL_SERVERS, [], 1),
      sequential("heavy", HEAVY, [], 1),
    ],
  },
});
