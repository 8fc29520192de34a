// `pnpm bench`: runs every package's benchmarks (packages/*/benchmarks/*.mjs), then the benchmarks of the
// library as a whole (benchmarks/*.mjs but this file and lib.mjs), one at a time, each in its own process.
// `pnpm bench mem rabbit` runs only packages whose name contains a word; the whole-library benchmarks get
// the words and pick by them (poison.mjs: the drivers whose package name contains one; "poison" runs it
// alone, for every driver; cost-per-subscription.mjs likewise, "subscription" running it alone). Options
// (--seconds=15, --count=1000) go to the whole-library benchmarks as arguments, and to the package
// benchmarks in PUBSUB_BENCH_OPTIONS (theirs are positional counts; pg's dead-tuples.mjs reads --seconds).
// `pnpm bench --report` also has each benchmark write its figures (report() in lib.mjs) to a temporary folder,
// then draws the charts from them into docs/benchmarks/ (benchmarks/charts/draw.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const reporting = args.includes("--report");
const options = args.filter((a) => a.startsWith("--") && a !== "--report");
const reportDir = reporting ? mkdtempSync(join(tmpdir(), "pps-bench-report-")) : undefined;
const filters = args.filter((a) => !a.startsWith("--"));
// Words that name a package by its URL scheme rather than by its directory: `pnpm bench pg`.
const SCHEME_WORDS = { pg: "postgres" };
const named = (pkg, word) => pkg.includes(word) || pkg.includes(SCHEME_WORDS[word] ?? word);
let failed = 0;

function run(label, file, extra = []) {
  console.log(`\n=== ${label}`);
  const result = spawnSync(process.execPath, ["--expose-gc", file, ...extra], {
    stdio: "inherit",
    cwd: root,
    env: {
      ...process.env,
      PUBSUB_BENCH_OPTIONS: options.join(" "),
      ...(reportDir ? { PUBSUB_BENCH_REPORT: reportDir } : {}),
    },
  });
  if (result.status !== 0) failed++;
}

const mjs = (dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".mjs"))
    .sort();

for (const pkg of readdirSync(join(root, "packages")).sort()) {
  const dir = join(root, "packages", pkg, "benchmarks");
  if (!existsSync(dir)) continue;
  if (filters.length > 0 && !filters.some((f) => named(pkg, f))) continue;
  for (const file of mjs(dir)) run(`${pkg}/benchmarks/${file}`, join(dir, file));
}
const whole = join(root, "benchmarks");
for (const file of mjs(whole).filter((f) => f !== "run.mjs" && f !== "lib.mjs")) {
  run(`benchmarks/${file}`, join(whole, file), [...options, ...filters]);
}
if (reportDir) {
  // Loaded only here: the charts need the CLI's build and, to render, vega and vega-lite.
  const { drawAll } = await import("./charts/draw.mjs");
  const out = join(root, "docs", "benchmarks");
  const { drawn, skipped, table } = await drawAll(reportDir, out);
  console.log(`\n=== charts (figures in ${reportDir})`);
  for (const file of drawn) console.log(`drew docs/benchmarks/${file}`);
  for (const { file, missing } of skipped) console.log(`skipped docs/benchmarks/${file}: no figures (${missing})`);
  console.log(`\nthroughput, for the README's performance section:\n${table}`);
}
process.exit(failed === 0 ? 0 : 1);
