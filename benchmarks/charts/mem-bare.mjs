// mem:// against a bare in-process queue doing the same hand-off, per message count. From mem-fast's
// mem-vs-bare-queue report when it exists, else from driver-memory's end-to-end.mjs (the same comparison).
import { fmt, groupedBarSpec, ratio, subtitleOf } from "./spec.mjs";

export const file = "mem-vs-bare-queue.svg";
const SOURCES = ["mem-vs-bare-queue", "end-to-end-memory"];

export function chart(reports) {
  const report = SOURCES.map((name) => reports.get(name)).find(Boolean);
  if (!report) return { missing: `none of the reports ${SOURCES.join(", ")}` };
  const { ours, runs } = report.figures;
  const bars = runs.flatMap((run) =>
    Object.entries(run.rates).map(([contender, value]) => ({
      group: `${fmt(run.messages)} messages`,
      contender,
      value,
      label: contender === ours ? `${fmt(value)}\n${ratio(run, ours, otherThan(run.rates, ours))}` : fmt(value),
    })),
  );
  return groupedBarSpec(bars, {
    title: `${ours} end to end against a bare queue doing the same hand-off`,
    subtitle: subtitleOf(report, `msgs/s (from ${report.name}); label on ${ours}: its ratio to the bare queue`),
    yTitle: "msgs/s",
  });
}

/** The bare queue's name: the contender that is not ours. */
const otherThan = (rates, ours) => Object.keys(rates).find((name) => name !== ours);
