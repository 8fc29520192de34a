import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PubSub } from "@google-cloud/pubsub";
import { FaultProxy } from "@portable-pubsub/conformance";
import { ErrorCode, errorCode } from "@portable-pubsub/core";
import { createPubSub, openGcpSubscription, openGcpTopic } from "@portable-pubsub/driver-gcp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { PROJECT, uniqueName } from "./harness.js";

const emulator = await emulatorForTests();
const CHILD = fileURLToPath(new URL("./fixtures/shutdown-child.mjs", import.meta.url));
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

interface ChildReport {
  received: number;
  shutdownMs: number;
  waiting: string;
  health: string;
  resources: string[];
}

/** Runs the child; resolves with its report and how long it took to exit after reporting. */
function runChild(
  args: string[],
): Promise<{ report: ChildReport; exitCode: number | null; exitAfterReportMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], {
      cwd: ROOT,
      env: { ...process.env, PUBSUB_EMULATOR_HOST: emulator?.address },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let reportedAt = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("\n") && reportedAt === 0) reportedAt = performance.now();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // A child that hangs is the failure this test looks for: it is killed and reported.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the child did not exit within 30 s; stdout: ${stdout}; stderr: ${stderr}`));
    }, 30_000);
    child.once("exit", (exitCode) => {
      clearTimeout(timer);
      try {
        const report = JSON.parse(stdout.trim()) as ChildReport;
        resolve({ report, exitCode, exitAfterReportMs: performance.now() - reportedAt });
      } catch {
        reject(new Error(`the child reported nothing (exit ${exitCode}); stderr: ${stderr}`));
      }
    });
  });
}

describe.skipIf(!emulator)("gcppubsub shutdown", () => {
  let admin: PubSub;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(() => {
    admin = createPubSub(PROJECT, { apiEndpoint: emulator?.address });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });
  afterAll(async () => {
    await admin?.close();
  });

  async function names() {
    const [topic] = await admin.createTopic(uniqueName("shutdown"));
    const [subscription] = await topic.createSubscription(uniqueName("shutdown"));
    cleanups.push(
      () => topic.delete(),
      () => subscription.delete(),
    );
    return { topic: topic.name, subscription: subscription.name };
  }

  it.each([
    ["clients the driver built from the URL", "owned"],
    ["a PubSub client the application built and closes", "client"],
  ])("leaves no open handle with %s: the process exits by itself", async (_, mode) => {
    const { topic, subscription } = await names();
    const { report, exitCode, exitAfterReportMs } = await runChild([topic, subscription, mode]);
    expect(exitCode).toBe(0);
    expect(report.received).toBe(50);
    expect(report.waiting).toBe(ErrorCode.FailedPrecondition);
    expect(report.health).toBe("closed");
    // No socket, timer or other handle of ours is left: only the pipes to this test process.
    expect(report.resources.filter((r) => r !== "PipeWrap" && r !== "TTYWrap")).toEqual([]);
    expect(report.shutdownMs).toBeLessThan(3000);
    expect(exitAfterReportMs).toBeLessThan(2000);
  });

  it("shuts down promptly while a receive waits for messages that do not come", async () => {
    const { topic, subscription } = await names();
    const client = createPubSub(PROJECT, { apiEndpoint: emulator?.address });
    cleanups.push(() => client.close());
    const t = openGcpTopic(client, topic);
    const s = openGcpSubscription(client, subscription);
    const waiting = s.receive().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await Promise.all([s.shutdown(), t.shutdown()]);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(errorCode(await waiting)).toBe(ErrorCode.FailedPrecondition);
  });

  it("does not hang when the network stalls: shutdown returns when its signal fires", async () => {
    const { topic, subscription } = await names();
    const proxy = await FaultProxy.start({ upstream: { host: emulator?.host ?? "", port: emulator?.port ?? 0 } });
    cleanups.push(() => proxy.close());
    const client = createPubSub(PROJECT, { apiEndpoint: proxy.address });
    cleanups.push(() => client.close());
    const t = openGcpTopic(client, topic);
    const s = openGcpSubscription(client, subscription);
    await t.send({ body: "before the stall" });
    const m = await s.receive({ signal: AbortSignal.timeout(10_000) });
    proxy.stall();
    m.ack();
    const stuck = t.send({ body: "into the stall" }).catch((e: unknown) => e);
    const started = Date.now();
    const outcomes = await Promise.allSettled([
      t.shutdown({ signal: AbortSignal.timeout(1000) }),
      s.shutdown({ signal: AbortSignal.timeout(1000) }),
    ]);
    expect(Date.now() - started).toBeLessThan(2500);
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") expect(errorCode(outcome.reason)).toBe(ErrorCode.DeadlineExceeded);
    }
    // Cut short by the shutdown's timeout signal: core fails a send still in flight with DeadlineExceeded.
    expect(errorCode(await stuck)).toBe(ErrorCode.DeadlineExceeded);
    expect(t.health.state).toBe("closed");
    expect(s.health.state).toBe("closed");
    proxy.resume();
  });
});
