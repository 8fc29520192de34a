// The README's Quick start and .ci/run must not drift apart: CI runs the very test command a newcomer reads.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("..", import.meta.url);
const readme = readFileSync(new URL("README.md", root), "utf8");
const ciRun = readFileSync(new URL(".ci/run", root), "utf8");
const scripts = JSON.parse(readFileSync(new URL("package.json", root), "utf8")).scripts as Record<string, string>;

function quickStartCommands(): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith("Quick start"));
  if (!section) throw new Error("README.md has no '## Quick start' section");
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => (m[1] ?? "").trim());
}

describe("README Quick start", () => {
  it("gives exactly two one-line commands: the demo, then the tests", () => {
    const commands = quickStartCommands();
    expect(commands.length).toBe(2);
    for (const command of commands) expect(command.split("\n").length).toBe(1);
    expect(commands[0]).toMatch(/ demo$/);
    expect(commands[1]).toMatch(/ test$/);
  });

  it("is what .ci/run runs, verbatim", () => {
    const testCommand = quickStartCommands()[1] ?? "";
    const lines = ciRun.split("\n").map((l) => l.trim());
    expect(lines).toContain(testCommand);
  });

  it("names scripts that exist, and CI also lints and typechecks", () => {
    expect(Object.keys(scripts)).toEqual(
      expect.arrayContaining(["build", "test", "lint", "typecheck", "bench", "demo"]),
    );
    expect(ciRun).toMatch(/ lint\n/);
    expect(ciRun).toMatch(/ typecheck\n/);
  });
});
