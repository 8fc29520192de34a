// Each driver against its raw client (the end-to-end-<driver> reports), at the largest message count of
// each: a panel per driver (an axis each: pg:// and redisstream:// differ tenfold), ours first, every other
// contender's bar labelled with our ratio to it.
import { fmt, groupedBarSpec, largestRun, ratio, subtitleOf } from "./spec.mjs";

export const file = "throughput.svg";

export function chart(reports) {
  const drivers = [...reports.values()].filter(
    (r) => r.name.startsWith("end-to-end-") && r.name !== "end-to-end-memory",
  );
  if (drivers.length === 0) return { missing: "no end-to-end-<driver> report (a broker driver's end-to-end.mjs)" };
  const bars = drivers.flatMap((report) => throughputBars(report.figures.ours, largestRun(report)));
  return groupedBarSpec(bars, {
    title: "Throughput end to end: each driver against its raw client, same run, same broker",
    subtitle: subtitleOf(drivers[0], "msgs/s sent, received and acked; labels: msgs/s and ours ÷ theirs"),
    yTitle: "msgs/s (an axis per driver)",
    axisPerGroup: true,
  });
}

/** The bars of one run: ours, then each contender with our ratio to it. */
export function throughputBars(ours, run) {
  const group = `${ours} (${fmt(run.messages)})`;
  return Object.entries(run.rates).map(([contender, value]) => ({
    group,
    contender: contender === ours ? "ours" : contender,
    value,
    label: contender === ours ? fmt(value) : `${fmt(value)}\nours ${ratio(run, ours, contender)}`,
  }));
}
