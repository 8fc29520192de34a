/**
 * A PgBouncer of the test's own, on a free port in a temporary folder, in
 * front of the shared PostgreSQL, in transaction pooling mode: each
 * transaction (or statement outside one) may run on another server
 * connection, so session state (LISTEN, session advisory locks, SET) does not
 * survive between them. It runs as the postgres user (PgBouncer refuses
 * root) and is removed by `stop`.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, reachable } from "@portable-pubsub/conformance";
import { PG_URL } from "./helpers.js";

const exec = promisify(execFile);
const BINARY = "/usr/sbin/pgbouncer";

/** Why no PgBouncer can run here, or undefined when one can (CI=true installs it: see .ci/run). */
export const pgBouncerUnavailable: string | undefined = !existsSync(BINARY)
  ? `no ${BINARY}: install it (apt-get install pgbouncer)`
  : process.getuid?.() !== 0
    ? "running PgBouncer as the postgres user needs root"
    : undefined;

export interface PgBouncer {
  /** postgres://… of the shared database through this PgBouncer. */
  url: string;
  /** The server connections it holds open to PostgreSQL now (from its admin console's SHOW SERVERS). */
  serverConnections(): Promise<number>;
  stop(): Promise<void>;
}

export async function startPgBouncer(options: { poolSize: number }): Promise<PgBouncer> {
  const target = new URL(PG_URL);
  const database = target.pathname.slice(1);
  const dir = await mkdtemp(join(tmpdir(), "pps-pgbouncer-"));
  const port = await freePort();
  await writeFile(join(dir, "users.txt"), '"postgres" ""\n');
  await writeFile(
    join(dir, "pgbouncer.ini"),
    `[databases]
${database} = host=${target.hostname} port=${target.port || 5432} dbname=${database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, "users.txt")}
admin_users = postgres
pool_mode = transaction
default_pool_size = ${options.poolSize}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,options
logfile = ${join(dir, "log")}
`,
  );
  await exec("chown", ["-R", "postgres:postgres", dir]);
  const child: ChildProcess = spawn(BINARY, ["-u", "postgres", join(dir, "pgbouncer.ini")], { stdio: "ignore" });
  const exited = once(child, "exit");
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  while (!(await reachable({ host: "127.0.0.1", port }, 500))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`PgBouncer did not start on 127.0.0.1:${port} (exit code ${child.exitCode})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    url,
    async serverConnections() {
      // The admin console speaks the simple query protocol only.
      const { stdout } = await exec("psql", [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        "pgbouncer",
        "-tAc",
        "SHOW SERVERS",
      ]);
      return stdout.split("\n").filter((line) => line.trim() !== "").length;
    },
    stop,
  };
}
