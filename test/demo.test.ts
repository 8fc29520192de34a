// The Quick start demo must keep working: CI runs it as a test, and checks what it prints.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("the Quick start demo", () => {
  it("sends and receives 300 orders on mem://, prints what happened, and exits 0", async () => {
    const root = new URL("..", import.meta.url).pathname;
    const { stdout } = await run(process.execPath, ["examples/demo.mjs"], { cwd: root, timeout: 60_000 });
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toBe("sent 300 orders to mem://orders (each send resolved once the broker accepted it)");
    expect(lines[1]).toMatch(/^billing workers handled 300 distinct orders: A (\d+), B (\d+)$/);
    const [, a, b] = /A (\d+), B (\d+)/.exec(lines[1] ?? "") ?? [];
    expect(Number(a) + Number(b)).toBe(300);
    expect(lines[2]).toBe("6 orders failed once, were nacked, and came back");
    expect(lines[3]).toBe("audit subscription received all 300");
    expect(lines[4]).toBe("health: topic ready, subscriptions ready/ready");
    expect(lines[5]).toMatch(/^shut down cleanly in \d+ ms; state now closed$/);
    expect(lines[6]).toBe(
      'a bad URL gives InvalidArgument: mem: mem://orders: query parameter "colour" is not supported; supported: subscription',
    );
  });
});
