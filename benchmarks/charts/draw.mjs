// Draws every chart from the reports in a folder (benchmarks/lib.mjs's report(), written by
// `pnpm bench --report`) into docs/benchmarks/, and says which it could not draw for want of a report.
// Run: node benchmarks/charts/draw.mjs REPORT_DIR [OUT_DIR]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderSvg } from "@portable-pubsub/cli";
import * as memBare from "./mem-bare.mjs";
import * as poison from "./poison.mjs";
import * as recovery from "./recovery.mjs";
import { readReports } from "./spec.mjs";
import { throughputTable } from "./table.mjs";
import * as throughput from "./throughput.mjs";
import * as tracing from "./tracing.mjs";

export const CHARTS = [throughput, memBare, poison, recovery, tracing];

/**
 * Renders each chart whose reports are in `reportDir` into `outDir`; returns the files written, those skipped
 * and the throughput table (Markdown).
 */
export async function drawAll(reportDir, outDir) {
  const reports = readReports(reportDir);
  mkdirSync(outDir, { recursive: true });
  const drawn = [];
  const skipped = [];
  for (const { file, chart } of CHARTS) {
    const spec = chart(reports);
    if (spec.missing) {
      skipped.push({ file, missing: spec.missing });
      continue;
    }
    writeFileSync(join(outDir, file), await renderSvg(spec));
    drawn.push(file);
  }
  return { drawn, skipped, table: throughputTable(reports) };
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const [reportDir, outDir = new URL("../../docs/benchmarks", import.meta.url).pathname] = process.argv.slice(2);
  if (!reportDir) throw new Error("usage: node benchmarks/charts/draw.mjs REPORT_DIR [OUT_DIR]");
  const { drawn, skipped, table } = await drawAll(reportDir, outDir);
  for (const file of drawn) console.log(`charts: drew ${join(outDir, file)}`);
  for (const { file, missing } of skipped) console.log(`charts: skipped ${file}: no figures (${missing})`);
  console.log(`\n${table}`);
}
