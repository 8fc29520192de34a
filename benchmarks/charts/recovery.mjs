// rabbit:// through a cut of every connection and an outage (packages/driver-rabbit/benchmarks/recovery.mjs):
// sends started, confirmed and failed per time bucket, the topic's health state along the top, and rules at
// the cut and at the heal.
import { subtitleOf } from "./spec.mjs";

export const file = "recovery-timeline.svg";
const SERIES = ["sent", "confirmed", "failed"];

export function chart(reports) {
  const report = reports.get("recovery-rabbit");
  if (!report) return { missing: "the recovery-rabbit report (packages/driver-rabbit/benchmarks/recovery.mjs)" };
  const { bucketMs, cutAtMs, healedAtMs, points } = report.figures.timeline;
  const counts = points.flatMap((p) => SERIES.map((series) => ({ t: p.t, series, count: p[series] })));
  const states = points.map((p) => ({ t: p.t, t2: p.t + bucketMs, state: p.state }));
  const events = [
    // Pixel heights of the labels, one below the other: the two rules can be close.
    { t: cutAtMs, event: "cut, connections refused", y: 8 },
    { t: healedAtMs, event: "connections accepted again", y: 22 },
  ];
  const x = { field: "t", type: "quantitative", title: "ms since the start" };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "rabbit:// through a cut and an outage: sends, confirms and health over time",
      subtitle: subtitleOf(report, `per ${bucketMs} ms; one send every 5 ms`),
      anchor: "start",
    },
    config: { font: "sans-serif", legend: { orient: "bottom" } },
    vconcat: [
      {
        width: 640,
        height: 24,
        data: { values: states },
        mark: "rect",
        encoding: {
          x: { ...x, title: null, axis: null },
          x2: { field: "t2" },
          color: { field: "state", type: "nominal", title: "health", scale: { scheme: "set2" } },
        },
      },
      {
        width: 640,
        height: 240,
        layer: [
          {
            data: { values: counts },
            mark: { type: "line", interpolate: "step-after" },
            encoding: {
              x,
              y: { field: "count", type: "quantitative", title: `messages per ${bucketMs} ms` },
              color: { field: "series", type: "nominal", sort: SERIES, title: null },
            },
          },
          {
            data: { values: events },
            mark: { type: "rule", strokeDash: [4, 3], color: "gray" },
            encoding: { x },
          },
          {
            data: { values: events },
            mark: { type: "text", align: "left", dx: 4, fontSize: 10, color: "gray" },
            encoding: { x, y: { field: "y", type: "quantitative", scale: null }, text: { field: "event" } },
          },
        ],
      },
    ],
    resolve: { scale: { color: "independent" } },
  };
}
