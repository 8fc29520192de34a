// What tracing costs: end-to-end msgs/s with no OpenTelemetry SDK and with one (packages/core/benchmarks/
// tracing.mjs), per broker it ran on; each SDK bar labelled with its cost against "no SDK".
import { fmt, groupedBarSpec, subtitleOf } from "./spec.mjs";

export const file = "tracing-cost.svg";

export function chart(reports) {
  const runs = [...reports.values()].filter((r) => r.name.startsWith("tracing-"));
  if (runs.length === 0) return { missing: "a tracing-<broker> report (packages/core/benchmarks/tracing.mjs)" };
  const bars = runs.flatMap(({ figures }) => {
    const plain = figures.rates["no SDK"];
    return Object.entries(figures.rates).map(([contender, value]) => ({
      group: figures.broker,
      contender,
      value,
      label: contender === "no SDK" ? fmt(value) : `${fmt(value)}\n${((value / plain - 1) * 100).toFixed(1)}%`,
    }));
  });
  return groupedBarSpec(bars, {
    title: "What tracing costs: msgs/s end to end without and with an OpenTelemetry SDK",
    subtitle: subtitleOf(runs[0], `${fmt(runs[0].figures.messages)} messages per run; labels: change against no SDK`),
    yTitle: "msgs/s",
  });
}
