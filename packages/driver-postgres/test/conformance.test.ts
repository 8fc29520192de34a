import { type Harness, runConformanceTests } from "@portable-pubsub/conformance";
import {
  declareSubscription,
  declareTopic,
  migrate,
  PgSubscriptionDriver,
  PgTopicDriver,
  resolveServer,
  sharedLink,
} from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe } from "vitest";
import { PG_ADDRESS, PG_URL, requirePg, skipPg, testSchema, unique, urlVia } from "./helpers.js";
import { type OwnServer, ownServerUnavailable, startOwnServer } from "./own-server.js";

const ackDeadlineMs = 1000;

/**
 * A harness whose drivers share the driver's own pool to `url` (the server,
 * or the fault proxy in front of it), as URL opens do, while topics and
 * subscriptions are made and removed through the admin pool. Every table
 * lives in this file's schema, dropped at the end.
 */
function makeHarness(url: string, schema: string, admin: pg.Pool): Harness {
  const server = resolveServer(url);
  return {
    async createTopic(name) {
      const topic = unique(name);
      await declareTopic(admin, schema, topic);
      return {
        driver: new PgTopicDriver(sharedLink(server), topic, { schema }),
        id: topic,
        cleanup: async () => {
          await admin.query(`DELETE FROM ${schema}.topics WHERE name = $1`, [topic]);
        },
      };
    },
    async makeNonexistentTopic() {
      return new PgTopicDriver(sharedLink(server), unique("missing"), { schema });
    },
    async createSubscription(topic, name) {
      const subscription = unique(name);
      await declareSubscription(admin, schema, topic.id as string, subscription);
      const open = () =>
        new PgSubscriptionDriver(sharedLink(server), topic.id as string, subscription, {
          schema,
          leaseMs: ackDeadlineMs,
        });
      return {
        driver: open(),
        cleanup: async () => {
          await admin.query(`DELETE FROM ${schema}.subscriptions WHERE topic = $1 AND name = $2`, [
            topic.id,
            subscription,
          ]);
        },
        openConsumer: async () => open(),
      };
    },
    async makeNonexistentSubscription() {
      return new PgSubscriptionDriver(sharedLink(server), unique("missing"), "none", { schema });
    },
  };
}

const isQueryable = (n: unknown) => typeof (n as { query?: unknown } | undefined)?.query === "function";

describe.skipIf(skipPg)("pg against PostgreSQL", () => {
  let fixture: Awaited<ReturnType<typeof testSchema>>;
  beforeAll(async () => {
    await requirePg();
    fixture = await testSchema("conformance");
  });
  // The restart case restarts a PostgreSQL of this file's own, never the shared one.
  let own: { server: OwnServer; admin: pg.Pool } | undefined;
  afterAll(async () => {
    await fixture?.drop();
    await own?.admin.end();
    await own?.server.remove();
  });
  runConformanceTests(async () => makeHarness(PG_URL, fixture.schema, fixture.admin), {
    name: "pg",
    canNack: true,
    guaranteedOrder: true,
    multipleSubscriptions: true,
    consumerGroups: true,
    ackDeadlineMs,
    messagingSystem: "postgresql",
    native: {
      topic: isQueryable,
      subscription: isQueryable,
      message: (n) => typeof (n as { message_id?: unknown })?.message_id === "string",
    },
    reconnect: {
      upstream: PG_ADDRESS,
      harness: async (address) => makeHarness(urlVia(address), fixture.schema, fixture.admin),
      // Every cut costs each pooled connection a reconnect (a backend fork): 1,000 messages span 20 and more cuts.
      messages: 1000,
    },
    ...(ownServerUnavailable === undefined
      ? {
          restart: {
            stopBroker: async () => own?.server.stop(),
            startBroker: async () => own?.server.start(),
            harness: async () => {
              if (!own) {
                const server = await startOwnServer();
                const admin = new pg.Pool({ connectionString: server.url, max: 2 });
                admin.on("error", () => {});
                await migrate(admin, fixture.schema);
                own = { server, admin };
              }
              return makeHarness(own.server.url, fixture.schema, own.admin);
            },
            messages: 1500,
          },
        }
      : {}),
  });
});
