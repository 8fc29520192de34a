// The README's throughput table from the same reports as the charts: per driver (and mem:// against its bare
// queue), the largest run's msgs/s of ours and of each other contender, and ours ÷ each, measured in one run.
import { fmt, largestRun, ratio } from "./spec.mjs";

/** Markdown: one row per driver and contender; empty when there is no throughput report. */
export function throughputTable(reports) {
  const throughput = [...reports.values()].filter((r) => r.name.startsWith("end-to-end-"));
  if (throughput.length === 0) return "";
  const rows = throughput.flatMap((report) => {
    const { ours } = report.figures;
    const run = largestRun(report);
    return Object.entries(run.rates)
      .filter(([name]) => name !== ours)
      .map(
        ([name, theirs]) =>
          `| \`${ours}\` | ${fmt(run.messages)} | ${fmt(run.rates[ours])} | ${name} | ${fmt(theirs)} | ${ratio(run, ours, name)} |`,
      );
  });
  return [
    "| driver | messages | ours msgs/s | against | its msgs/s | ours ÷ it |",
    "| --- | ---: | ---: | --- | ---: | ---: |",
    ...rows,
  ].join("\n");
}
