import { execFile } from "node:child_process";
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
      expect(ran.stdout).toMatch(new RegExp(`^pg migrate: schema ${schema} on [^ ]+ is at version 2\\n$`));
      expect(ran.code).toBe(0);
      const { rows } = await fixture().admin.query(`SELECT version FROM ${schema}.migrations ORDER BY version`);
      expect(rows).toEqual([{ version: 1 }, { version: 2 }]);
      // Again: nothing to do, same answer.
      expect((await migrateDatabase({ serverUrl: PG_URL, schema })).version).toBe(2);

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
});
