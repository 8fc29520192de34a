import type { DriverAbout } from "@portable-pubsub/core/driver";

/** Plain words about gcppubsub://, for tools such as `pubsub doctor`. */
export const about: DriverAbout = {
  broker: "Google Cloud Pub/Sub",
  server: "Application Default Credentials, or PUBSUB_EMULATOR_HOST for the emulator",
  topicKind: "Pub/Sub topic",
  subscriptionKind: "Pub/Sub subscription",
  create: "create it with gcloud pubsub topics create / gcloud pubsub subscriptions create",
};
