import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { migrateDatabase, migrationSql } from "@portable-pubsub/driver-postgres";
import { describe, expect, it } from "vitest";
import { PG_URL, schemaFixture, skipPg, unique } from "./helpers.js";

const exec = promisify(execFile);
const CLI = fileURLToPath(new URL("../../cli/dist/main.js", import.meta.url));

/** Runs the built `pubsub` command with `env` added; resolves with its exit code and output. */
async function pubsub(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe.skipIf(skipPg)("pubsub pg migrate", () => {
  const fixture = schemaFixture("migrate");

  it("prints the migration for review, runs it against DATABASE_URL, and names no password when it fails", async () => {
    const schema = unique("cli");
    try {
      const printed = await pubsub(["pg", "migrate", "--print", "--schema", schema], {});
      expect(printed).toEqual({ code: 0, stdout: await migrationSql(schema), stderr: "" });

      const ran = await pubsub(["pg", "migrate", "--schema", schema], { DATABASE_URL: PG_URL });
      expect(ran.stdout).toMatch(new RegExp(`^pg migrate: schema ${schema} on [^ ]+ is at version 3\\n$`));
      expect(ran.code).toBe(0);
      const { rows } = await fixture().admin.query(`SELECT version FROM ${schema}.migrations ORDER BY version`);
      expect(rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
      // Again: nothing to do, same answer.
      expect((await migrateDatabase({ serverUrl: PG_URL, schema })).version).toBe(3);

      const refused = await pubsub(["pg", "migrate", "--schema", schema], {
        DATABASE_URL: "postgres://postgres:hunter2@127.0.0.1:1/test",
      });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(
        /^pubsub: Unknown: migrate pg schema .* on 127\.0\.0\.1:1\/test: connect ECONNREFUSED/,
      );
      expect(refused.stderr + refused.stdout).not.toContain("hunter2");
      const bad = await pubsub(["pg", "migrate", "--schema", "Bad-Name"], {});
      expect(bad).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/InvalidArgument: pg: "Bad-Name" is not a schema name/),
      });
    } finally {
      await fixture().admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it("pubsub outbox relay: refuses a schema without the outbox table, runs with --declare, and stops on SIGTERM with its counts", async () => {
    const schema = unique("relay_cli");
    try {
      const missing = await pubsub(["outbox", "relay", "--schema", schema], { DATABASE_URL: PG_URL });
      expect(missing.code).toBe(3);
      expect(missing.stderr).toMatch(
        new RegExp(
          `^pubsub: NotFound: start pg outbox relay of schema ${schema} on 127\\.0\\.0\\.1:5432/test: the outbox table ${schema}\\.outbox does not exist; run the package's migrations \\(pubsub pg migrate --schema ${schema}`,
        ),
      );

      const child = spawn(process.execPath, [CLI, "outbox", "relay", "--schema", schema, "--declare"], {
        env: { ...process.env, DATABASE_URL: PG_URL },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        stdout += c;
      });
      const exited = once(child, "exit");
      const deadline = Date.now() + 20_000;
      while (!stdout.includes("running")) {
        if (Date.now() > deadline) throw new Error(`the relay did not start: ${stdout}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const { rows } = await fixture().admin.query(`SELECT count(*)::int AS n FROM ${schema}.outbox`);
      expect(rows[0]?.n).toBe(0);
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      expect(stdout).toBe(
        `outbox relay: running on schema ${schema}\noutbox relay: stopped; 0 sent in 0 batches, 0 failed sends retried\n`,
      );
    } finally {
      await fixture().admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});
