import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

// In a child process: without credentials the generated client used to throw from a callback
// and kill the process; the driver must turn it into a FailedPrecondition on the send instead.
const script = `
import { openTopic } from "@portable-pubsub/core";
process.on("unhandledRejection", (e) => { console.log("unhandled:", e?.message); process.exitCode = 3; });
const topic = await openTopic("gcppubsub://proj-1/topic-1");
const error = await topic.send({ body: "x" }).catch((e) => e);
console.log(JSON.stringify({ code: error?.code, message: error?.message }));
await topic.shutdown();
`;

describe("gcppubsub:// without credentials", () => {
  it("fails the send with FailedPrecondition and says what to set, without crashing", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, GOOGLE_APPLICATION_CREDENTIALS: "/nonexistent/credentials.json" };
    delete env.PUBSUB_EMULATOR_HOST;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      env,
      cwd: new URL("..", import.meta.url).pathname,
      timeout: 30_000,
    });
    const lines = stdout.trim().split("\n");
    expect(lines.length).toBe(1);
    const result = JSON.parse(lines[0] ?? "{}");
    expect(result.code).toBe("FailedPrecondition");
    expect(result.message).toMatch(
      /^gcppubsub topic "projects\/proj-1\/topics\/topic-1": no Google Cloud credentials \(.*\); set GOOGLE_APPLICATION_CREDENTIALS/,
    );
  });
});
