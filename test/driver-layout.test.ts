/**
 * One layout per driver: CONTRIBUTING.md's "A driver's files" lists the
 * files every driver's `src/` has (or may have, "where present") and the one
 * job each holds. This test reads that list and checks every built-in driver
 * against it: the files the list requires exist, no file is named for a
 * listed job under another name, and the marks of each listed job (the
 * registration call, the description, the URL openers, the error
 * classifier, the connection's health, the message translation, the
 * inspector, the declarations) appear in its file and in no other.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** One file of the convention: its name, whether every driver has it, and its job in words. */
interface ConventionFile {
  readonly file: string;
  readonly required: boolean;
  readonly job: string;
}

/** The list under CONTRIBUTING.md's "### A driver's files": lines "- `name.ts` (where present): job". */
function readConvention(markdown: string): ConventionFile[] {
  const start = markdown.indexOf("### A driver's files");
  if (start < 0) return [];
  const rest = markdown.slice(markdown.indexOf("\n", start) + 1);
  const end = rest.search(/^#/m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const files: ConventionFile[] = [];
  for (const match of section.matchAll(/^- `([a-z-]+\.ts)`( \(where present\))?: (.+)$/gm)) {
    files.push({ file: match[1] as string, required: match[2] === undefined, job: match[3] as string });
  }
  return files;
}

/** Names a file of a listed job must not go by: the job has its own file. */
const OTHER_NAMES: Record<string, string[]> = {
  "connection.ts": ["link", "client", "clients", "conn", "connect", "connections", "pool"],
  "codec.ts": ["encoding", "encode", "decode", "encoder", "decoder", "serde", "serialize", "wire", "messages"],
  "about.ts": ["info", "meta", "description", "describe", "capabilities"],
  "errors.ts": ["error", "error-map", "classify", "classifier", "exceptions"],
  "url.ts": ["urls", "opener", "openers", "open", "query"],
  "register.ts": ["registration", "auto-register"],
  "inspect.ts": ["doctor", "diagnose", "diagnostics"],
  "declare.ts": ["schema", "topology", "create", "ensure", "setup", "provision", "group", "groups"],
};

/**
 * The marks of each job in source text: a declaration that only the job's
 * file may hold. Comments are removed before matching.
 */
const MARKS: { file: string; what: string; pattern: RegExp }[] = [
  { file: "register.ts", what: "registers the driver", pattern: /\.registerDriver\(/ },
  { file: "about.ts", what: "declares the driver's description", pattern: /:\s*DriverAbout\b/ },
  {
    file: "url.ts",
    what: "declares a URL opener or the query parameters",
    pattern: /export\s+(const|function)\s+(openTopicURL|openSubscriptionURL|queryParameters)\b/,
  },
  { file: "errors.ts", what: "declares an error classifier", pattern: /:\s*ErrorClassifier\s*=/ },
  { file: "errors.ts", what: "declares an error class", pattern: /\bclass\s+\w+\s+extends\s+\w*Error\b/ },
  { file: "connection.ts", what: "tracks a connection's health", pattern: /new\s+HealthTracker\(/ },
  {
    file: "codec.ts",
    what: "translates messages to or from the wire form",
    pattern: /(function\s+|#)((to|from)\w*Message|(encode|decode)[A-Z]\w*)\s*\(/,
  },
  { file: "inspect.ts", what: "declares the inspector", pattern: /:\s*UrlInspector\s*=/ },
  {
    file: "declare.ts",
    what: "declares the broker's resources",
    pattern: /function\s+(ensure|declare)[A-Z]\w*\s*\(/,
  },
];

/** Source text without comments (block comments, and line comments that fill a line: not `nats://` in strings). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** Exported names declared in `text` (not re-exports). */
function declaredExports(text: string): string[] {
  const names = [];
  for (const m of code(text).matchAll(
    /^export\s+(?:declare\s+)?(?:async\s+)?(?:abstract\s+)?(?:const|let|var|function\*?|class|interface|type|enum)\s+(\w+)/gm,
  )) {
    names.push(m[1] as string);
  }
  return names;
}

/** Folders under a driver's `src/` that hold a companion of the driver, not the driver (CONTRIBUTING says so). */
const COMPANION_FOLDERS = ["outbox", "idempotency"];

/**
 * What is wrong with one driver's layout: `files` maps each path under
 * `src/` ("url.ts", "amqp/connection.ts") to its text. Empty when it follows
 * the convention.
 */
function layoutProblems(files: Map<string, string>, convention: ConventionFile[]): string[] {
  const problems: string[] = [];
  const base = (path: string) => path.split("/").pop() as string;
  const known = new Set(convention.map((c) => c.file));
  for (const { file, required } of convention) {
    if (required && !files.has(file)) problems.push(`${file} is missing`);
  }
  for (const [path, text] of files) {
    // A piece shipped beside the driver but not part of it (pg's outbox) keeps its own folder and names.
    if (COMPANION_FOLDERS.some((folder) => path.startsWith(`${folder}/`))) continue;
    const name = base(path).replace(/\.ts$/, "");
    for (const [file, others] of Object.entries(OTHER_NAMES)) {
      if (known.has(file) && others.includes(name)) problems.push(`${path} holds the job of ${file}: name it so`);
    }
    const body = code(text);
    for (const mark of MARKS) {
      if (!known.has(mark.file) || base(path) === mark.file) continue;
      if (base(path).startsWith(`${mark.file.replace(/\.ts$/, "")}-`)) continue; // inspect-cluster.ts: a part of inspect.ts
      if (mark.pattern.test(body)) problems.push(`${path} ${mark.what}: that is the job of ${mark.file}`);
    }
  }
  const about = files.get("about.ts");
  if (about !== undefined) {
    const extra = declaredExports(about).filter((n) => n !== "about");
    if (extra.length > 0) problems.push(`about.ts exports ${extra.join(", ")}: it holds only the description`);
  }
  const register = files.get("register.ts");
  if (register !== undefined && /^export\b/m.test(code(register))) {
    problems.push("register.ts exports something: it only registers the driver");
  }
  const index = files.get("index.ts");
  if (index !== undefined) {
    const stray = code(index)
      .split("\n")
      .filter((line) => line.trim() !== "")
      .join("\n")
      .replace(/^export\s+(type\s+)?(\*(\s+as\s+\w+)?|\{[^}]*\})\s+from\s+"[^"]+";$/gm, "")
      .replace(/^import\s+[^;]+;$/gm, "")
      .trim();
    if (stray !== "") problems.push(`index.ts holds code of its own: ${stray.split("\n")[0]}`);
  }
  return problems;
}

/** Every `.ts` file under `dir`, by its path relative to `dir`. */
function sources(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith(".ts")) files.set(relative(dir, path).split("\\").join("/"), readFileSync(path, "utf8"));
    }
  };
  walk(dir);
  return files;
}

const convention = readConvention(readFileSync(join(ROOT, "CONTRIBUTING.md"), "utf8"));
const drivers = readdirSync(join(ROOT, "packages")).filter((name) => name.startsWith("driver-"));

describe("one layout per driver", () => {
  it("reads the convention from CONTRIBUTING.md: the files the issue named, each with its job", () => {
    expect(convention.map((c) => c.file).sort()).toEqual(
      [
        "about.ts",
        "codec.ts",
        "connection.ts",
        "declare.ts",
        "errors.ts",
        "index.ts",
        "inspect.ts",
        "register.ts",
        "subscription.ts",
        "topic.ts",
        "url.ts",
      ].sort(),
    );
    expect(convention.filter((c) => !c.required).map((c) => c.file)).toEqual([
      "errors.ts",
      "connection.ts",
      "codec.ts",
      "inspect.ts",
      "declare.ts",
    ]);
    for (const { job } of convention) expect(job.length).toBeGreaterThan(30);
  });

  it("finds the six built-in drivers", () => {
    expect(drivers.sort()).toEqual([
      "driver-gcp",
      "driver-memory",
      "driver-nats",
      "driver-postgres",
      "driver-rabbit",
      "driver-redis",
    ]);
  });

  for (const driver of drivers) {
    it(`${driver} follows it`, () => {
      expect(layoutProblems(sources(join(ROOT, "packages", driver, "src")), convention)).toEqual([]);
    });
  }

  it("fails a driver that names its files otherwise or puts a job in another's file", () => {
    const good = sources(join(ROOT, "packages", "driver-nats", "src"));
    const renamed = new Map(good);
    renamed.set("link.ts", renamed.get("connection.ts") as string);
    renamed.delete("connection.ts");
    renamed.delete("about.ts");
    renamed.set("encoding.ts", "export const x = 1;\n");
    expect(layoutProblems(renamed, convention)).toEqual([
      "about.ts is missing",
      "link.ts holds the job of connection.ts: name it so",
      "link.ts tracks a connection's health: that is the job of connection.ts",
      "encoding.ts holds the job of codec.ts: name it so",
    ]);

    const mixed = new Map(good);
    mixed.set("about.ts", `${good.get("about.ts")}\nexport const NATS_SYSTEM = "nats";\n`);
    mixed.set("topic.ts", `${good.get("topic.ts")}\nfunction toWireMessage(m: unknown) { return m; }\n`);
    mixed.set("url.ts", `${good.get("url.ts")}\ndefaultURLMux().registerDriver("nats", driver, "x");\n`);
    mixed.set("index.ts", `${good.get("index.ts")}\nconsole.log("loaded");\n`);
    expect(layoutProblems(mixed, convention)).toEqual([
      "topic.ts translates messages to or from the wire form: that is the job of codec.ts",
      "url.ts registers the driver: that is the job of register.ts",
      "about.ts exports NATS_SYSTEM: it holds only the description",
      'index.ts holds code of its own: console.log("loaded");',
    ]);
  });
});
