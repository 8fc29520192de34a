import type { DriverAbout } from "@portable-pubsub/core/driver";

/** Plain words about pg://, for tools such as `pubsub doctor`. */
export const about: DriverAbout = {
  broker: "PostgreSQL",
  server:
    "the DATABASE_URL environment variable (such as postgres://user@localhost:5432/app), else libpq's PGHOST, PGPORT, PGDATABASE, PGUSER and PGPASSWORD",
  topicKind: "PostgreSQL table-backed topic (a row of pubsub.topics)",
  subscriptionKind: "PostgreSQL table-backed subscription (pg://TOPIC?subscription=NAME)",
  create:
    "open the URL with declare=true, or run the package's sql/001_init.sql and insert the topic and subscription rows",
};
