// The packages as a user gets them: packed the way a release packs them, installed with npm into a folder outside
// the workspace, then used from ESM, CommonJS, TypeScript, a bundle, the CLI's bin and a third party's tests.
import { cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { brokerClientsOf } from "./dependencies.js";
import { linksMissingFrom } from "./readme-links.js";
import { nodeBinaries, npmInstall, pack, pathWith, publicPackages, ROOT, run, runOk, scratch } from "./workspace.js";

const FIXTURES = new URL("./app/", import.meta.url);
const THIRD_PARTY_DRIVER = "examples/file-driver";

let tmp = "";
let app = "";
const tarballs = new Map<string, string>();
let packages: { dir: string; name: string; version: string }[] = [];
let nodes: { version: string; node: string }[] = [];
/** Set when the registry could not be reached outside CI: the suite is skipped, as a missing broker's is. */
let offline: string | undefined;

const tarballOf = (name: string) => {
  const tarball = tarballs.get(name);
  if (!tarball) throw new Error(`no tarball for ${name}; packed: ${[...tarballs.keys()].join(", ")}`);
  return tarball;
};

beforeAll(async () => {
  tmp = await scratch();
  app = join(tmp, "app");
  await mkdir(join(app, "test"), { recursive: true });
  packages = await publicPackages();
  const thirdParty = JSON.parse(await readFile(join(ROOT, THIRD_PARTY_DRIVER, "package.json"), "utf8"));
  const packed = await pack([...packages.map((p) => p.dir), THIRD_PARTY_DRIVER], join(tmp, "tarballs"));
  for (const { name, version } of [...packages, thirdParty]) {
    tarballs.set(name, join(tmp, "tarballs", `${name.slice(1).replace("/", "-")}-${version}.tgz`));
  }
  expect(packed.sort()).toEqual([...tarballs.values()].sort());
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "packaging-app", private: true, type: "module" }));
  await cp(FIXTURES, app, { recursive: true });
  await cp(join(ROOT, THIRD_PARTY_DRIVER, "test/conformance.test.ts"), join(app, "test/dir.test.ts"));
  try {
    // vitest: the conformance suite's optional peer, which its user installs.
    await npmInstall(app, [...tarballs.values(), "vitest@^4", "@types/node@^20.19"]);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (process.env.CI || !/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH/.test(message)) throw err;
    offline = message;
    return;
  }
  nodes = await nodeBinaries();
}, 600_000);

afterAll(async () => {
  if (tmp && !process.env.PUBSUB_KEEP_PACKAGING) await rm(tmp, { recursive: true, force: true });
});

describe("packed packages installed with npm outside the workspace", () => {
  it("have manifests a registry user can install: no workspace: ranges, metadata, engines, files", async (ctx) => {
    if (offline) ctx.skip();
    const root = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
    for (const { name } of packages) {
      const dir = join(app, "node_modules", name);
      const text = await readFile(join(dir, "package.json"), "utf8");
      const manifest = JSON.parse(text);
      expect(text, name).not.toContain("workspace:");
      expect(manifest.engines, name).toEqual(root.engines);
      expect(manifest.license, name).toBe("Apache-2.0");
      expect(manifest.publishConfig, name).toEqual({ access: "public" });
      expect(manifest.repository?.url, name).toMatch(/^git\+https:\/\//);
      expect(typeof manifest.homepage, name).toBe("string");
      expect(typeof manifest.bugs?.url, name).toBe("string");
      expect(manifest.keywords?.length, name).toBeGreaterThan(0);
      expect("sideEffects" in manifest, name).toBe(true);
      expect(manifest.exports["./package.json"], name).toBe("./package.json");
      await readFile(join(dir, "LICENSE"), "utf8").then((license) => expect(license).toContain("Apache License"));
      const contents = await filesIn(dir);
      for (const file of ["README.md", ...contents.filter((f) => f.endsWith(".md") && f !== "README.md")]) {
        const text = await readFile(join(dir, file), "utf8");
        expect(text.length, `${name}/${file}`).toBeGreaterThan(500);
        expect(linksMissingFrom(file, text, contents), `${name}/${file}`).toEqual([]);
      }
      const targets = Object.values(manifest.exports).flatMap((t) =>
        typeof t === "string" ? [t] : Object.values(t as object),
      );
      for (const target of [...targets, ...Object.values(manifest.bin ?? {})] as string[]) {
        if (target.includes("*")) {
          // A subpath pattern ("./sql/*"): the package must hold a file it matches.
          const pattern = new RegExp(`^${target.slice(2).split("*").map(escapeRegExp).join(".+")}$`);
          expect(contents.filter((file) => pattern.test(file)).length, `${name}: ${target}`).toBeGreaterThan(0);
        } else {
          await readFile(join(dir, target));
        }
      }
    }
  });

  it("ship the guides: the application guide as core's README, the driver authors' beside it", async (ctx) => {
    if (offline) ctx.skip();
    const core = join(app, "node_modules/@portable-pubsub/core");
    const guide = await readFile(join(core, "README.md"), "utf8");
    expect(guide).toMatch(/^<!-- Generated from the repository's README\.md .*\n# @portable-pubsub\/core\n/);
    for (const heading of ["## Install", "## URLs", "## The API", "### Delivery semantics"])
      expect(guide).toContain(`\n${heading}\n`);
    expect(guide).toContain(
      "https://github.com/portable-pubsub/portable-pubsub/blob/main/packages/core/WRITING-A-DRIVER.md",
    );
    const driverGuide = await readFile(join(core, "WRITING-A-DRIVER.md"), "utf8");
    expect(driverGuide).toMatch(/^# Writing a driver for portable-pubsub\n/);
    const conformanceGuide = join(app, "node_modules/@portable-pubsub/conformance/WRITING-A-DRIVER.md");
    expect(await readFile(conformanceGuide, "utf8")).toMatch(/\n# Writing a driver for portable-pubsub\n/);
    const conformance = await readFile(join(app, "node_modules/@portable-pubsub/conformance/README.md"), "utf8");
    expect(conformance).toContain(
      "https://github.com/portable-pubsub/portable-pubsub/blob/main/packages/core/WRITING-A-DRIVER.md",
    );
  });

  it("round-trip a message on mem:// from ESM, on every supported Node", async (ctx) => {
    if (offline) ctx.skip();
    for (const { version, node } of nodes) {
      const result = await run(node, ["esm-roundtrip.mjs"], { cwd: app });
      expect({ version, ...result }).toEqual({
        version,
        code: 0,
        stdout: `${JSON.stringify({ body: "hello", metadata: { from: "esm" } })}\n`,
        stderr: "",
      });
    }
  });

  it("load with require() from CommonJS, on every supported Node", async (ctx) => {
    if (offline) ctx.skip();
    const { version } = JSON.parse(await readFile(join(ROOT, "packages/core/package.json"), "utf8"));
    for (const node of nodes) {
      // --no-warnings: require() of ESM is announced as experimental on some of these versions.
      const result = await run(node.node, ["--no-warnings", "require.cjs"], { cwd: app });
      expect({ node: node.version, code: result.code, stderr: result.stderr }).toEqual({
        node: node.version,
        code: 0,
        stderr: "",
      });
      expect(JSON.parse(result.stdout)).toEqual({
        core: "function",
        kit: "function",
        drivers: ["function", "function", "function", "function", "function"],
        cli: "function",
        version,
        body: "hello",
      });
    }
  });

  it.for(["nodenext", "bundler"])(
    "compile for a TypeScript consumer (%s, strict, skipLibCheck off)",
    async (mode, ctx) => {
      if (offline) ctx.skip();
      const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
      const result = await run(process.execPath, [tsc, "-p", `tsconfig.${mode}.json`], { cwd: app });
      expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    },
  );

  it("give a working pubsub bin", async (ctx) => {
    if (offline) ctx.skip();
    const pubsub = join(app, "node_modules/.bin/pubsub");
    const env = { PATH: pathWith(process.execPath) };
    const { version } = JSON.parse(await readFile(join(ROOT, "packages/cli/package.json"), "utf8"));
    expect(await run(pubsub, ["--version"], { cwd: app, env })).toEqual({
      code: 0,
      stdout: `${version}\n`,
      stderr: "",
    });
    const send = await run(pubsub, ["send", "mem://orders", "hi"], { cwd: app, env });
    expect(send.code).toBe(2);
    expect(send.stderr).toMatch(
      /^pubsub: InvalidArgument: mem:\/\/ is an in-process broker .* run "pubsub bench mem:\/\/orders mem:\/\/orders"/,
    );
    const bench = await runOk(pubsub, ["bench", "mem://b", "mem://b", "-n", "200", "--json"], { cwd: app, env });
    expect(JSON.parse(bench.stdout)).toMatchObject({ sent: 200, received: 200, duplicates: 0, lost: 0 });
  });

  it("give a pubsub bin without the broker drivers, which are optional peers: mem:// works, others name their package", async (ctx) => {
    if (offline) ctx.skip();
    const dir = await scratch(tmp);
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "cli-alone", private: true }));
    const alone = ["@portable-pubsub/cli", "@portable-pubsub/core", "@portable-pubsub/driver-memory"];
    await npmInstall(dir, alone.map(tarballOf));
    expect(brokerClientsOf(JSON.parse(await readFile(join(dir, "package-lock.json"), "utf8")))).toEqual({
      ours: [...alone].sort(),
      clients: [],
    });
    const pubsub = join(dir, "node_modules/.bin/pubsub");
    const env = { PATH: pathWith(process.execPath) };
    const bench = await runOk(pubsub, ["bench", "mem://b", "mem://b", "-n", "50", "--json"], { cwd: dir, env });
    expect(JSON.parse(bench.stdout)).toMatchObject({ sent: 50, received: 50, lost: 0 });
    expect(await run(pubsub, ["send", "rabbit://orders", "hi"], { cwd: dir, env })).toEqual({
      code: 2,
      stdout: "",
      stderr:
        'pubsub: InvalidArgument: openTopic: the rabbit:// driver is not installed; install it with "npm install @portable-pubsub/driver-rabbit" (or pnpm add / yarn add)\n',
    });
  });

  it("run a third-party driver's conformance tests from the installed conformance package", async (ctx) => {
    if (offline) ctx.skip();
    const vitest = join(app, "node_modules/.bin/vitest");
    const result = await run(vitest, ["run", "test/dir.test.ts"], { cwd: app, timeoutMs: 120_000 });
    // vitest's own words for a failure ("FAIL", "2 failed"), not a case's name ("a handler failed on").
    expect(result.stderr).not.toMatch(/FAIL|\d+ failed/);
    expect(result.code).toBe(0);
    // Capabilities the dir:// driver does not declare are skipped; nothing fails.
    expect(result.stdout).toMatch(/Test Files\s+1 passed \(1\)\n\s+Tests\s+\d+ passed/);
    expect(result.stdout).not.toMatch(/FAIL|\d+ failed/);
  });

  it("bundle with esbuild: registered by import, the app runs; unregistered, the error says what to do", async (ctx) => {
    if (offline) ctx.skip();
    // The bundles run from a folder with no node_modules anywhere above it.
    const out = join(tmp, "bundled");
    const bundle = (entry: string, format: "esm" | "cjs", outfile: string) =>
      build({
        entryPoints: [join(app, entry)],
        absWorkingDir: app,
        bundle: true,
        platform: "node",
        format,
        outfile: join(out, outfile),
        logLevel: "silent",
      });
    await bundle("bundle-entry.mjs", "esm", "app.mjs");
    await bundle("bundle-entry.mjs", "cjs", "app.cjs");
    await bundle("bundle-unregistered.mjs", "esm", "unregistered.mjs");
    for (const file of ["app.mjs", "app.cjs"]) {
      expect(await run(process.execPath, [file], { cwd: out })).toEqual({
        code: 0,
        stdout: `${JSON.stringify({ body: "bundled hello" })}\n`,
        stderr: "",
      });
    }
    const unregistered = await runOk(process.execPath, ["unregistered.mjs"], { cwd: out });
    expect(JSON.parse(unregistered.stdout)).toEqual({
      code: "InvalidArgument",
      message:
        'openTopic: the mem:// driver "@portable-pubsub/driver-memory" cannot be imported by name from inside a bundle, where the bundler did not see it; import "@portable-pubsub/driver-memory/register" in the application\'s entry module (or call defaultURLMux().registerDriver("mem", await import("@portable-pubsub/driver-memory")))',
    });
  });

  it("pull no broker client but the one of the driver installed", async (ctx) => {
    if (offline) ctx.skip();
    const cases: [string[], string[]][] = [
      [["@portable-pubsub/core"], []],
      [["@portable-pubsub/core", "@portable-pubsub/conformance"], []],
      [["@portable-pubsub/core", "@portable-pubsub/driver-memory"], []],
      [["@portable-pubsub/core", "@portable-pubsub/driver-rabbit"], ["amqplib"]],
      [["@portable-pubsub/core", "@portable-pubsub/driver-redis"], ["ioredis"]],
      [["@portable-pubsub/core", "@portable-pubsub/driver-gcp"], ["@google-cloud/pubsub"]],
      [
        ["@portable-pubsub/core", "@portable-pubsub/driver-nats"],
        ["@nats-io/jetstream", "@nats-io/transport-node"],
      ],
      [["@portable-pubsub/core", "@portable-pubsub/driver-postgres"], ["pg"]],
    ];
    const found = await Promise.all(
      cases.map(async ([names]) => {
        const dir = await scratch(tmp);
        await writeFile(join(dir, "package.json"), JSON.stringify({ name: "deps", private: true }));
        await npmInstall(dir, names.map(tarballOf), true);
        return brokerClientsOf(JSON.parse(await readFile(join(dir, "package-lock.json"), "utf8")));
      }),
    );
    expect(found).toEqual(cases.map(([names, clients]) => ({ ours: [...names].sort(), clients })));
  });
});

/** The files of an installed package, as its tarball held them (paths inside it, `/`-separated). */
async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .filter((path) => !path.startsWith("node_modules/"));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
