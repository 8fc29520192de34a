import { ErrorCode } from "@portable-pubsub/core";

/**
 * Plain-word knowledge about each built-in scheme, for messages and `doctor`
 * advice. Only text: the command does not otherwise treat drivers differently.
 */
export interface SchemeHint {
  /** The kind of broker. */
  broker: string;
  /** Where the driver finds its server. */
  server: string;
  /** What the resource is called as a topic and as a subscription. */
  topicKind: string;
  subscriptionKind: string;
  /** How to create a missing resource. */
  create: string;
  /** A caution to print when sending or receiving, if any. */
  note?: string;
}

export const schemeHints: Readonly<Record<string, SchemeHint>> = {
  mem: {
    broker: "the in-process mem:// broker",
    server: "this process (nothing to configure)",
    topicKind: "mem topic",
    subscriptionKind: "mem subscription",
    create:
      "mem:// lives inside one process: a topic exists once that process opens it; " +
      'try it end to end with "pubsub bench mem://T mem://T", or use a broker URL such as rabbit://',
    note: "mem:// is an in-process broker: no other process can receive or send these messages",
  },
  rabbit: {
    broker: "RabbitMQ",
    server: "the RABBIT_SERVER_URL environment variable (such as amqp://guest:guest@localhost:5672)",
    topicKind: "RabbitMQ exchange",
    subscriptionKind: "RabbitMQ queue",
    create:
      "declare the exchange and the queue, and bind the queue to the exchange " +
      "(rabbitmqadmin, the management UI, or your deployment's definitions)",
  },
  redisstream: {
    broker: "Redis",
    server: "the REDIS_SERVER_URL environment variable (such as redis://localhost:6379)",
    topicKind: "Redis stream",
    subscriptionKind: "Redis consumer group",
    create: "create the consumer group with XGROUP CREATE STREAM GROUP $ MKSTREAM",
  },
  gcppubsub: {
    broker: "Google Cloud Pub/Sub",
    server: "Application Default Credentials, or PUBSUB_EMULATOR_HOST for the emulator",
    topicKind: "Pub/Sub topic",
    subscriptionKind: "Pub/Sub subscription",
    create: "create it with gcloud pubsub topics create / gcloud pubsub subscriptions create",
  },
};

/** What to do about an error of `code` met while opening or probing `role` at a URL of `scheme`, in plain words. */
export function adviceFor(code: ErrorCode, scheme: string, role: "topic" | "subscription"): string {
  const hint = schemeHints[scheme];
  switch (code) {
    case ErrorCode.NotFound:
      return hint
        ? `the ${role === "topic" ? hint.topicKind : hint.subscriptionKind} does not exist: ${hint.create}`
        : `create the ${role}`;
    case ErrorCode.PermissionDenied:
      return "the broker refused the credentials or the user lacks permission on this resource; check the user, password and permissions";
    case ErrorCode.DeadlineExceeded:
    case ErrorCode.Canceled:
      return `the broker did not answer in time: is it running and reachable? The server comes from ${hint?.server ?? "the driver's options"}`;
    case ErrorCode.InvalidArgument:
      return "fix the URL or the option named in the message";
    case ErrorCode.Unimplemented:
      return "this driver cannot do that; update the driver package";
    case ErrorCode.ResourceExhausted:
      return "the broker is out of a resource (memory, disk, quota); free some or raise the limit";
    case ErrorCode.FailedPrecondition:
      return "the resource exists but is not usable as it is (wrong type or settings); see the message";
    default:
      return `see the message; check that the broker is reachable (server: ${hint?.server ?? "see the driver's options"})`;
  }
}
