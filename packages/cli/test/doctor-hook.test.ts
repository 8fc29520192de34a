import { ErrorCode } from "@portable-pubsub/core";
import { openSubscriptionURL, openTopicURL } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";
import { registerDriver } from "../src/drivers.js";
import type { UrlInspector } from "../src/inspect.js";
import { cli, output } from "./in-process.js";

// A driver that offers the inspection hook: mem:// underneath, under its own scheme.
const inspected: string[] = [];
const inspectURL: UrlInspector = async (url) => {
  inspected.push(url.href);
  const name = url.host;
  return {
    broker: "FakeMQ 9.1",
    server: "fake://broker.example:1234",
    checks: [
      { subject: "exchange", status: "ok", detail: `exchange "${name}" exists (topic)` },
      name === "broken"
        ? {
            subject: "queue",
            status: "fail",
            code: ErrorCode.PermissionDenied,
            detail: `queue "${name}" exists but user "app" cannot read it`,
            fix: 'grant "app" read permission on the queue',
          }
        : { subject: "queue", status: "warn", detail: `queue "${name}" has no consumer`, fix: "start a consumer" },
    ],
  };
};
registerDriver("fakemq", { openTopicURL, openSubscriptionURL, inspectURL }, "fakemq-driver");

describe("pubsub doctor with a driver's inspection hook", () => {
  it("prints the driver's broker, server and checks before the portable probes", async () => {
    expect(await cli("doctor", "fakemq://orders", "--as", "topic")).toBe(0);
    expect(inspected).toEqual(["fakemq://orders"]);
    expect(output.stdout.join("")).toBe(
      [
        "pubsub doctor fakemq://orders",
        "  broker  FakeMQ 9.1",
        "  ok    driver    fakemq:// by fakemq-driver",
        "  ok    server    fake://broker.example:1234",
        '  ok    exchange  exchange "orders" exists (topic)',
        '  WARN  queue     queue "orders" has no consumer',
        "                  fix: start a consumer",
        "  ok    topic     opened; connection ready (nothing sent: a missing topic shows on the first send)",
        "0 problems, 1 warning",
        "",
      ].join("\n"),
    );
  });

  it("exits with the code of the first failed check's class", async () => {
    expect(await cli("doctor", "fakemq://broken", "--as", "topic")).toBe(5);
    const lines = output.stdout.join("").split("\n");
    expect(lines[5]).toBe('  FAIL  queue     queue "broken" exists but user "app" cannot read it');
    expect(lines[6]).toBe('                  fix: grant "app" read permission on the queue');
    expect(lines[8]).toBe("1 problem, 0 warnings");
  });
});
