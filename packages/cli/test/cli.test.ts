import { readFileSync } from "node:fs";
import { builtinDrivers } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";
import { pubsub, startPubsub } from "./run-cli.js";

describe("pubsub --help", () => {
  it.each([
    ["send", "Usage: pubsub send [options] <url> [body]"],
    ["receive", "Usage: pubsub receive [options] <url>"],
    ["redrive", "Usage: pubsub redrive [options] <from-url> [to-url]"],
    ["bench", "Usage: pubsub bench [options] <topic-url> <subscription-url>"],
    ["doctor", "Usage: pubsub doctor [options] <url>"],
  ])("%s --help prints its usage and exits 0", async (command, usage) => {
    const result = await pubsub([command, "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")[0]).toBe(usage);
    expect(result.stderr).toBe("");
  });

  it("with no command prints the usage on stderr and exits 2", async () => {
    const result = await pubsub([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n")[0]).toBe("Usage: pubsub [options] [command]");
  });
});

describe("pubsub --version", () => {
  it("prints the package's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(await pubsub(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
    expect(await pubsub(["-V"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });
});

/** The schemes an error about an unknown one lists: every built-in driver's. */
const BUILTIN_SCHEMES = Object.keys(builtinDrivers)
  .sort()
  .map((scheme) => `${scheme}://`)
  .join(", ");

const inProcess = (why: string) =>
  `pubsub: InvalidArgument: mem:// is an in-process broker that lives inside one process, and ${why}. To try mem:// end to end, run "pubsub bench mem://orders mem://orders", which sends and receives in one process\n`;

describe("pubsub send", () => {
  // Alone in its process, the command has no subscription to deliver to: it refuses rather than report a dropped
  // message as sent. Sending BODY, stdin and --lines is checked where mem:// can deliver: send-in-process.test.ts.
  it("refuses mem:// with advice, sending nothing (exit 2)", async () => {
    expect(await pubsub(["send", "mem://orders", "hello"])).toEqual({
      code: 2,
      stdout: "",
      stderr: inProcess(
        "no subscription exists in this pubsub process, so no one could receive the message; nothing was sent",
      ),
    });
  });

  it("words the missing-server advice for the command line, its example unredacted", async () => {
    const result = await pubsub(["send", "rabbit://orders", "x"], { env: { RABBIT_SERVER_URL: "" } });
    expect(result).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "pubsub: InvalidArgument: rabbit: no server URL; set the RABBIT_SERVER_URL environment variable, such as amqp://guest:guest@localhost:5672\n",
    });
  });

  it.each([
    [
      ["send", "mem://orders", "x", "-m", "novalue"],
      `pubsub: InvalidArgument: option '-m, --metadata <key=value>' argument 'novalue' is invalid. expected key=value, got "novalue"`,
    ],
    [
      ["send", "mem://orders", "x", "-m", "k=1", "-m", "k=2"],
      `pubsub: InvalidArgument: option '-m, --metadata <key=value>' argument 'k=2' is invalid. metadata key "k" is given twice`,
    ],
    [
      ["send", "orders", "x"],
      `pubsub: InvalidArgument: "orders" is not a URL; expected scheme://name, such as mem://orders`,
    ],
    [
      ["send", "kafka://orders", "x"],
      `pubsub: InvalidArgument: openTopic: no driver for scheme "kafka://"; registered schemes: ${BUILTIN_SCHEMES}`,
    ],
    [
      ["send", "mem://orders?colour=red", "x"],
      `pubsub: InvalidArgument: mem: mem://orders: query parameter "colour" is not supported; supported: subscription`,
    ],
    [
      ["send", "--lines", "mem://orders", "x"],
      "pubsub: InvalidArgument: --lines splits stdin into messages; it cannot be used with a BODY argument",
    ],
    [["send"], "pubsub: InvalidArgument: missing required argument 'url'"],
    [["sned", "mem://x"], "pubsub: InvalidArgument: unknown command 'sned' (did you mean send?)"],
    [["frobnicate"], "pubsub: InvalidArgument: unknown command 'frobnicate'"],
  ])("%j fails with exactly one line and exit code 2", async (args, line) => {
    expect(await pubsub(args)).toEqual({ code: 2, stdout: "", stderr: `${line}\n` });
  });

  it("never prints a password", async () => {
    const result = await pubsub(["send", "mem://user:secret@orders", "x"]);
    expect(result.stdout + result.stderr).not.toContain("secret");
  });
});

describe("pubsub receive", () => {
  it("refuses mem:// with advice, alone in its process (exit 2)", async () => {
    expect(await pubsub(["receive", "mem://orders?subscription=billing"])).toEqual({
      code: 2,
      stdout: "",
      stderr: inProcess("this pubsub process sends nothing, so no message could ever arrive"),
    });
  });

  it("rejects --count 0", async () => {
    const result = await pubsub(["receive", "mem://x", "--count", "0"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `pubsub: InvalidArgument: option '-n, --count <n>' argument '0' is invalid. expected a whole number of at least 1, got "0"\n`,
    );
  });
});

describe("pubsub redrive", () => {
  // Moving, --count, --dry-run and skipping are checked where mem:// can hold dead letters:
  // redrive-in-process.test.ts; across processes and a failed send: redrive-brokers.test.ts.
  it("refuses mem:// alone in its process: there is nothing to receive, and what it sent would be dropped", async () => {
    expect(await pubsub(["redrive", "mem://dead?subscription=redrive", "rabbit://orders"])).toEqual({
      code: 2,
      stdout: "",
      stderr: inProcess("this pubsub process sends nothing, so no message could ever arrive").replace(
        "mem://orders mem://orders",
        "mem://dead mem://dead",
      ),
    });
    expect(await pubsub(["redrive", "rabbit://orders-dead", "mem://orders"])).toEqual({
      code: 2,
      stdout: "",
      stderr: inProcess(
        "no subscription exists in this pubsub process, so no one could receive the message; nothing was sent",
      ),
    });
  });
});

describe("pubsub bench on mem://", () => {
  it("receives every message exactly once and reports it as JSON", async () => {
    const result = await pubsub(["bench", "mem://bench", "mem://bench", "-n", "3000", "-s", "64", "-c", "8", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({
      count: 3000,
      size: 64,
      concurrency: 8,
      sent: 3000,
      failedSends: 0,
      received: 3000,
      duplicates: 0,
      lost: 0,
      corrupt: 0,
      foreign: 0,
    });
    expect(summary.sendRate).toBeGreaterThan(0);
    expect(summary.receiveRate).toBeGreaterThan(0);
    expect(summary.sendLatencyMs.p50).toBeLessThanOrEqual(summary.sendLatencyMs.p99);
    expect(summary.endToEndMs.p50).toBeLessThanOrEqual(summary.endToEndMs.p99);
  });

  it("prints a plain summary, without a progress bar, when stderr is not a terminal", async () => {
    const result = await pubsub(["bench", "mem://bench", "mem://bench", "-n", "500"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe("bench: 500 messages of 128 bytes, concurrency 16");
    expect(lines[1]).toBe("  from mem://bench to mem://bench");
    expect(lines[2]).toMatch(
      /^sent {8}500 in \d+\.\d\d s: [\d,]+ msgs\/s \(send latency p50 [\d.]+ (µs|ms|s), p99 [\d.]+ (µs|ms|s)\)$/,
    );
    expect(lines[3]).toMatch(
      /^received {4}500 in \d+\.\d\d s: [\d,]+ msgs\/s \(end to end p50 [\d.]+ (µs|ms|s), p99 [\d.]+ (µs|ms|s)\)$/,
    );
    expect(lines[4]).toBe("duplicates  0");
    expect(lines[5]).toBe("lost        0");
  });

  it("rejects a size below the 16-byte header", async () => {
    const result = await pubsub(["bench", "mem://b", "mem://b", "-s", "8"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `pubsub: InvalidArgument: option '-s, --size <bytes>' argument '8' is invalid. expected a size of at least 16 bytes, such as 128, 4KiB or 1MiB, got "8"\n`,
    );
  });
});

describe("pubsub doctor on mem://", () => {
  it("finds the topic and the subscription and exits 0", async () => {
    const result = await pubsub(["doctor", "mem://orders"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        "pubsub doctor mem://orders",
        "  broker  the in-process mem:// broker (the driver reports no version); server from this process (nothing to configure)",
        "  ok    driver        mem:// by @portable-pubsub/driver-memory 0.1.0 (offers no inspection; probing through the portable API)",
        "  ok    topic         opened; connection ready (nothing sent: a missing topic shows on the first send)",
        "  ok    subscription  opened; no message waiting",
        "all checks passed",
        "note: mem:// is an in-process broker: no other process can receive or send these messages",
        "",
      ].join("\n"),
    );
  });

  it("reports a missing subscription, says what to do, and exits 3", async () => {
    const result = await pubsub(["doctor", "mem://orders", "--as", "subscription"]);
    expect(result.code).toBe(3);
    const lines = result.stdout.split("\n");
    expect(lines[3]).toBe(
      `  FAIL  subscription  NotFound: mem topic "orders" does not exist; open it with openTopic("mem://orders") first`,
    );
    expect(lines[4]).toMatch(/^ {22}fix: the mem subscription does not exist: mem:\/\/ lives inside one process/);
    expect(lines[5]).toBe("1 problem, 0 warnings");
  });

  it("reports an unknown scheme as a failed driver check with exit code 2", async () => {
    const result = await pubsub(["doctor", "kafka://orders"]);
    expect(result.code).toBe(2);
    expect(result.stdout.split("\n")[1]).toBe(
      `  FAIL  driver    InvalidArgument: open: no driver for scheme "kafka://"; registered schemes: ${BUILTIN_SCHEMES}`,
    );
  });
});

describe("pubsub bench interrupted", () => {
  it("stops on SIGTERM, prints what it measured, and exits 130 with a Canceled line", async () => {
    const { child, result } = startPubsub(["bench", "mem://b", "mem://b", "-n", "50000000", "--json"]);
    // A fixed wait raced the CLI's start on a loaded machine (SIGTERM before its handler existed): wait for a
    // second of the child's own CPU time instead, which loading modules does not reach and the bench soon does.
    await cpuSecondsOf(child.pid as number, 1);
    child.kill("SIGTERM");
    const { code, stdout, stderr } = await result;
    expect(code).toBe(130);
    const summary = JSON.parse(stdout);
    expect(summary.sent).toBeGreaterThan(0);
    expect(summary.sent).toBeLessThan(50_000_000);
    expect(summary.lost).toBe(0);
    expect(stderr).toBe(`pubsub: Canceled: bench interrupted after ${summary.sent} of 50000000 sends\n`);
  });
});

/** Resolves once process `pid` has used `seconds` of CPU time (Linux /proc; after that many seconds elsewhere). */
async function cpuSecondsOf(pid: number, seconds: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    let used: number;
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      used = (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
    } catch {
      used = (Date.now() - started) / 1000;
    }
    if (used >= seconds) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
