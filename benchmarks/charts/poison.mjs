// What one poison message (a handler that always fails) costs the client in CPU per minute, per driver,
// under the default redelivery policy and under immediate redelivery (benchmarks/poison.mjs).
import { groupedBarSpec, subtitleOf } from "./spec.mjs";

export const file = "poison-cpu.svg";
/** poison.mjs names drivers by package; the chart by URL scheme. */
const SCHEMES = { mem: "mem", rabbit: "rabbit", redis: "redisstream", nats: "nats", gcp: "gcppubsub" };

export function chart(reports) {
  const report = reports.get("poison");
  if (!report || report.figures.rows.length === 0) return { missing: "the poison report (benchmarks/poison.mjs)" };
  const bars = report.figures.rows.map((row) => ({
    // A panel per policy, each with its own axis: immediate redelivery costs hundreds of times the default.
    group: `${row.policy} redelivery`,
    contender: `${SCHEMES[row.driver] ?? row.driver}://`,
    value: Math.max(row.cpu, 0),
    label: `${row.cpu.toFixed(3)} s`,
  }));
  return groupedBarSpec(bars, {
    title: "CPU per minute of one poison message (target under 0.5 s with the default policy)",
    subtitle: subtitleOf(report, `${report.figures.seconds} s windows, client process CPU minus an idle window`),
    yTitle: "client CPU s per minute (an axis per policy)",
    axisPerGroup: true,
  });
}
