// The driver module through a URL mux, as an application reaches it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, errorCode, URLMux } from "@portable-pubsub/core";
import { dirDriver } from "@portable-pubsub/example-file-driver";
import { afterAll, describe, expect, it } from "vitest";

describe("dir:// URLs", async () => {
  const root = await mkdtemp(join(tmpdir(), "dir-url-"));
  const mux = new URLMux();
  mux.registerDriver("dir", dirDriver);
  afterAll(() => rm(root, { recursive: true, force: true }));

  it("opens a topic and a subscription by URL", async () => {
    const subscription = await mux.openSubscription(`dir://${root}/orders?subscription=billing`);
    const topic = await mux.openTopic(`dir://${root}/orders`);
    await topic.send({ body: "one", metadata: { k: "v" } });
    const message = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    expect([message.text(), message.metadata]).toEqual(["one", { k: "v" }]);
    message.ack();
    await Promise.all([topic.shutdown(), subscription.shutdown()]);
  });

  it("rejects a bad URL or option with InvalidArgument", async () => {
    const failures = [
      mux.openTopic(`dir://${root}/t?subscription=x`),
      mux.openTopic(`dir://${root}/t`, { colour: "red" }),
      mux.openTopic(`dir://${root}/%ZZ`),
      mux.openSubscription(`dir://${root}/t?subscription=../up`),
    ];
    for (const failure of failures)
      expect(errorCode(await failure.catch((e: unknown) => e))).toBe(ErrorCode.InvalidArgument);
  });
});
