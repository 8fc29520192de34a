// What every chart needs: the reports a `pnpm bench --report` run wrote, the line that names the machine, and
// number formats. The bars themselves are the CLI's (`pubsub bench --chart` draws the same chart).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { machineLine } from "@portable-pubsub/cli";

export { groupedBarSpec } from "@portable-pubsub/cli";

/** Every `<name>.json` that benchmarks/lib.mjs's report() wrote into `dir`, by name. */
export function readReports(dir) {
  const reports = new Map();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const written = JSON.parse(readFileSync(join(dir, file), "utf8"));
    reports.set(written.name, written);
  }
  return reports;
}

/** A chart's subtitle: what was measured, then the machine, Node and the date of `report`. */
export const subtitleOf = (report, what) => `${what}; ${machineLine(report.machine, new Date(report.at))}`;

export const fmt = (x) => Math.round(x).toLocaleString("en-US");
/** "0.92×": ours ÷ `contender` in `run`, as the benchmark computed it, else as the ratio of the two rates. */
export const ratio = (run, ours, contender) =>
  `${(run.ratios?.[contender] ?? run.rates[ours] / run.rates[contender]).toFixed(2)}×`;
/** The run with the most messages of a throughput report (see report() in benchmarks/lib.mjs). */
export const largestRun = (report) => report.figures.runs.reduce((a, b) => (b.messages > a.messages ? b : a));
