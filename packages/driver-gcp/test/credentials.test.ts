import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

// In a child process: without credentials the generated client used to throw from a callback
// and kill the process; the driver must turn it into a FailedPrecondition instead: at open for a
// URL (the mux awaits the driver's ready), on the send for a direct constructor, which does not wait.
const script = `
import { openTopic } from "@portable-pubsub/core";
import { createPubSub, openGcpTopic } from "@portable-pubsub/driver-gcp";
process.on("unhandledRejection", (e) => { console.log("unhandled:", e?.message); process.exitCode = 3; });
const opened = await openTopic("gcppubsub://proj-1/topic-1").catch((e) => e);
console.log(JSON.stringify({ code: opened?.code, message: opened?.message }));
const pubsub = createPubSub("proj-1");
const topic = openGcpTopic(pubsub, "topic-1");
const error = await topic.send({ body: "x" }).catch((e) => e);
console.log(JSON.stringify({ code: error?.code, message: error?.message }));
await topic.shutdown();
await pubsub.close();
`;

describe("gcppubsub:// without credentials", () => {
  it("fails the open, or a direct constructor's send, with FailedPrecondition and says what to set, without crashing", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, GOOGLE_APPLICATION_CREDENTIALS: "/nonexistent/credentials.json" };
    delete env.PUBSUB_EMULATOR_HOST;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      env,
      cwd: new URL("..", import.meta.url).pathname,
      timeout: 30_000,
    });
    const lines = stdout.trim().split("\n");
    expect(lines.length).toBe(2);
    for (const line of lines) {
      const result = JSON.parse(line);
      expect(result.code).toBe("FailedPrecondition");
      expect(result.message).toMatch(
        /^gcppubsub topic "projects\/proj-1\/topics\/topic-1": no Google Cloud credentials \(.*\); set GOOGLE_APPLICATION_CREDENTIALS/,
      );
    }
  });
});
