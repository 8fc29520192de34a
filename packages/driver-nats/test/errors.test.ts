import { DiscardPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, errorCode, openSubscription, openTopic, PubSubError } from "@portable-pubsub/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OwnServer, startOwnServer } from "./own-server.js";

const ADMIN_PASSWORD = "admin-Secret-pw-4711";
const LIMITED_PASSWORD = "limited-Secret-pw-0815";

/**
 * Users and limits of a server of the test's own: `admin` may do anything;
 * `limited` may use the JetStream API and publish to open.>, but not publish
 * to secret.> nor look at the consumers of stream SECRET. Messages are
 * limited to 4 KiB (max_payload).
 */
const CONFIG = `
max_payload: 4096
authorization {
  users = [
    { user: admin, password: "${ADMIN_PASSWORD}" }
    {
      user: limited, password: "${LIMITED_PASSWORD}",
      permissions: {
        publish: { allow: ["$JS.API.>", "$JS.ACK.>", "open.>"], deny: ["$JS.API.CONSUMER.INFO.SECRET.>"] }
        subscribe: { allow: ["_INBOX.>"] }
      }
    }
  ]
}
`;

/** Rejects with the PubSubError `work` fails with; fails the test if it resolves. */
async function failure(work: Promise<unknown>): Promise<PubSubError> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(PubSubError);
    return err as PubSubError;
  }
  throw new Error("expected a failure");
}

describe("nats errors, provoked against a server of the test's own", () => {
  let server: OwnServer;
  let adminNc: NatsConnection;
  let adminUrl: string;
  let limitedUrl: string;
  beforeAll(async () => {
    server = await startOwnServer(CONFIG);
    adminUrl = `nats://admin:${ADMIN_PASSWORD}@127.0.0.1:${server.port}`;
    limitedUrl = `nats://limited:${LIMITED_PASSWORD}@127.0.0.1:${server.port}`;
    adminNc = await connect({ servers: server.url, user: "admin", pass: ADMIN_PASSWORD });
    const jsm = await jetstreamManager(adminNc);
    await jsm.streams.add({ name: "OPEN", subjects: ["open.>"] });
    await jsm.streams.add({ name: "SECRET", subjects: ["secret.>"] });
    await jsm.streams.add({ name: "LIMITED", subjects: ["limited.>"], max_msgs: 2, discard: DiscardPolicy.New });
    // The size counts the headers too: a message's Nats-Msg-Id (its id, a UUIDv7) takes about 60 bytes.
    await jsm.streams.add({ name: "SMALL", subjects: ["small.>"], max_msg_size: 256 });
    await jsm.consumers.add("SECRET", { durable_name: "c", ack_policy: "explicit" });
  });
  afterAll(async () => {
    await adminNc?.close();
    await server?.stop();
  });

  const noPasswords = (err: Error) => {
    expect(err.message).not.toContain(ADMIN_PASSWORD);
    expect(err.message).not.toContain(LIMITED_PASSWORD);
    expect(err.message).not.toContain("Secret-pw");
  };

  it("fails opening a topic whose subject no stream stores with NotFound", async () => {
    const err = await failure(openTopic("nats://nowhere.at.all", { serverUrl: adminUrl }));
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toBe(
      'open nats subject "nowhere.at.all": no JetStream stream stores subject "nowhere.at.all"; create a stream that covers it (nats stream add --subjects "nowhere.at.all") or open the topic with declare=true',
    );
  });

  it("fails opening a subscription on a missing stream or consumer with NotFound", async () => {
    const noStream = await failure(openSubscription("nats://NOSTREAM?consumer=c", { serverUrl: adminUrl }));
    expect(noStream.code).toBe(ErrorCode.NotFound);
    expect(noStream.message).toMatch(/^open nats consumer "c" of stream "NOSTREAM": stream not found; /);
    const noConsumer = await failure(openSubscription("nats://OPEN?consumer=missing", { serverUrl: adminUrl }));
    expect(noConsumer.code).toBe(ErrorCode.NotFound);
    expect(noConsumer.message).toMatch(/^open nats consumer "missing" of stream "OPEN": consumer not found; /);
  });

  it("fails a send the user may not publish with PermissionDenied", async () => {
    const topic = await openTopic("nats://secret.plans", { serverUrl: limitedUrl });
    try {
      const err = await failure(topic.send({ body: "x" }));
      expect(err.code).toBe(ErrorCode.PermissionDenied);
      expect(err.message).toContain('Permissions Violation for Publish to "secret.plans"');
      expect(err.message).toContain("the NATS user may not publish to");
      noPasswords(err);
    } finally {
      await topic.shutdown();
    }
    // The same user may publish where it is allowed.
    const allowed = await openTopic("nats://open.plans", { serverUrl: limitedUrl });
    await allowed.send({ body: "fine" });
    await allowed.shutdown();
  });

  it("fails opening a consumer the user may not look at with PermissionDenied", async () => {
    const err = await failure(openSubscription("nats://SECRET?consumer=c", { serverUrl: limitedUrl }));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toContain("$JS.API.CONSUMER.INFO.SECRET.c");
    noPasswords(err);
  });

  it("fails a message over the server's max_payload with InvalidArgument, alone", async () => {
    const topic = await openTopic("nats://open.big", { serverUrl: adminUrl });
    try {
      const big = topic.send({ body: new Uint8Array(5000) });
      const small = topic.send({ body: "small" });
      const err = await failure(big);
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toContain("max_payload of 4096 bytes");
      await small;
    } finally {
      await topic.shutdown();
    }
  });

  it("fails a message over the stream's max_msg_size with InvalidArgument", async () => {
    const topic = await openTopic("nats://small.x", { serverUrl: adminUrl });
    try {
      const err = await failure(topic.send({ body: new Uint8Array(400) }));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toMatch(/^send to nats subject "small.x": message size exceeds maximum allowed; /);
      await topic.send({ body: new Uint8Array(50) });
    } finally {
      await topic.shutdown();
    }
  });

  it("fails sends to a full stream (max_msgs, discard new) with ResourceExhausted", async () => {
    const topic = await openTopic("nats://limited.x", { serverUrl: adminUrl });
    try {
      await topic.send({ body: "1" });
      await topic.send({ body: "2" });
      const err = await failure(topic.send({ body: "3" }));
      expect(err.code).toBe(ErrorCode.ResourceExhausted);
      expect(err.message).toMatch(/^send to nats subject "limited.x": maximum messages exceeded; the stream is full/);
    } finally {
      await topic.shutdown();
    }
  });

  it("fails opening with a wrong password or none with PermissionDenied, naming no credentials", async () => {
    const wrong = await failure(
      openTopic("nats://open.x", { serverUrl: `nats://admin:Wrong-Secret-pw-99@127.0.0.1:${server.port}` }),
    );
    expect(wrong.code).toBe(ErrorCode.PermissionDenied);
    expect(wrong.message).toMatch(/^open nats subject "open.x": Authorization Violation; the NATS server refused/);
    expect(wrong.message).not.toContain("Wrong-Secret-pw-99");
    noPasswords(wrong);
    const none = await failure(openSubscription("nats://OPEN?consumer=c", { serverUrl: server.url }));
    expect(none.code).toBe(ErrorCode.PermissionDenied);
    expect(errorCode(none)).toBe(ErrorCode.PermissionDenied);
  });
});
