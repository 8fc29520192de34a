/**
 * A PostgreSQL server of the test's own, on a free port in a temporary
 * folder, for tests that stop and start the server: the shared one is never
 * restarted. It runs as the postgres user (PostgreSQL refuses root), with
 * fsync off (a crash of the server process, not of the machine, loses nothing).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "@portable-pubsub/conformance";

const exec = promisify(execFile);
const BIN = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"].find((dir) =>
  existsSync(join(dir, "initdb")),
);

/** Why an own server cannot run here, or undefined when it can. */
export const ownServerUnavailable: string | undefined =
  BIN === undefined
    ? "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql"
    : process.getuid?.() !== 0
      ? "starting a server of its own needs root (to run it as the postgres user)"
      : undefined;

export interface OwnServer {
  url: string;
  port: number;
  /** Stops the server at once (immediate shutdown: connections are cut, as in a crash). */
  stop(): Promise<void>;
  /** Starts it again; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  remove(): Promise<void>;
}

const asPostgres = (command: string, args: string[]) =>
  exec("runuser", ["-u", "postgres", "--", join(BIN as string, command), ...args], { timeout: 60_000 });

export async function startOwnServer(): Promise<OwnServer> {
  const dir = await mkdtemp(join(tmpdir(), "pps-pg-"));
  await exec("chown", ["postgres:postgres", dir]);
  const data = join(dir, "data");
  const port = await freePort();
  await asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const server: OwnServer = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      await asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    },
    async start() {
      // A failed start is tried twice more: a port free while the server was stopped may be held for a moment.
      for (let attempt = 1; ; attempt++) {
        try {
          await asPostgres("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "start"]);
          return;
        } catch (err) {
          if (attempt === 3) {
            const log = await readFile(join(dir, "log"), "utf8").catch(() => "");
            throw new Error(`own PostgreSQL on port ${port} did not start; its log ends: ${log.slice(-800)}`, {
              cause: err,
            });
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    },
    async remove() {
      await server.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
