import type { DriverAbout } from "@portable-pubsub/core/driver";

/** Plain words about mem://, for tools such as `pubsub doctor`. */
export const about: DriverAbout = {
  broker: "the in-process mem:// broker",
  server: "this process (nothing to configure)",
  topicKind: "mem topic",
  subscriptionKind: "mem subscription",
  create:
    "mem:// lives inside one process: a topic exists once that process opens it; " +
    'try it end to end with "pubsub bench mem://T mem://T", or use a broker URL such as rabbit://',
  inProcess: true,
};
