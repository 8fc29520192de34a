// The charts of `pnpm bench --report` (benchmarks/charts/), drawn from fixed figures written as the benchmarks
// write theirs (report() in benchmarks/lib.mjs): one bar per driver and contender, the labels and ratios, the
// machine in the subtitle, and a chart whose figures are missing skipped and named.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";

// Plain JavaScript modules, loaded by URL: the benchmarks have no type declarations.
const lib = await import(new URL("../benchmarks/lib.mjs", import.meta.url).href);
const draw = await import(new URL("../benchmarks/charts/draw.mjs", import.meta.url).href);

const dir = mkdtempSync(join(tmpdir(), "pps-test-charts-"));
const reports = join(dir, "reports");
const out = join(dir, "out");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bars = (svg: string) => svg.match(/aria-roledescription="bar"/g)?.length ?? 0;

function writeReports(): void {
  process.env.PUBSUB_BENCH_REPORT = reports;
  try {
    lib.report("end-to-end-rabbit", {
      ours: "rabbit://",
      runs: [
        { messages: 1000, rates: { "rabbit://": 1, amqplib: 1 } },
        // The benchmark's own ratio (a median of per-round ratios) is shown rather than 9200 / 10000.
        { messages: 20000, rates: { "rabbit://": 9200, amqplib: 10000 }, ratios: { amqplib: 0.94 } },
      ],
    });
    lib.report("end-to-end-redis", {
      ours: "redisstream://",
      runs: [{ messages: 50000, rates: { "redisstream://": 41000, ioredis: 50000 } }],
    });
    lib.report("end-to-end-postgres", {
      ours: "pg://",
      runs: [{ messages: 5000, rates: { "pg://": 3000, "pg-boss 12 (tuned)": 1500, "graphile-worker 0.18": 6000 } }],
    });
    lib.report("poison", {
      seconds: 10,
      rows: [
        { driver: "rabbit", policy: "default", attempts: 30, cpu: 0.0123, idle: 0.01 },
        { driver: "rabbit", policy: "immediate", attempts: 90000, cpu: 21.5, idle: 0.01 },
      ],
    });
    const points = [0, 100, 200, 300].map((t, i) => ({
      t,
      sent: 20,
      confirmed: i === 1 ? 0 : 20,
      failed: 0,
      state: i === 1 ? "reconnecting" : "ready",
    }));
    lib.report("recovery-rabbit", { timeline: { bucketMs: 100, cutAtMs: 100, healedAtMs: 200, points } });
  } finally {
    delete process.env.PUBSUB_BENCH_REPORT;
  }
}

it("report() writes nothing without PUBSUB_BENCH_REPORT, and each benchmark's figures with the machine when set", () => {
  lib.report("end-to-end-nowhere", { ours: "x://", runs: [] });
  writeReports();
  expect(readdirSync(reports).sort()).toEqual([
    "end-to-end-postgres.json",
    "end-to-end-rabbit.json",
    "end-to-end-redis.json",
    "poison.json",
    "recovery-rabbit.json",
  ]);
  const written = JSON.parse(readFileSync(join(reports, "end-to-end-redis.json"), "utf8"));
  expect(written.machine).toEqual({ cores: cpus().length, cpu: cpus()[0]?.model.trim(), node: process.version });
  expect(written.figures.runs[0].rates.ioredis).toBe(50000);
});

it("draws one bar per driver and contender, labelled with msgs/s and our ratio, and the table; skips what is missing", async () => {
  const { drawn, skipped, table } = await draw.drawAll(reports, out);
  expect(drawn).toEqual(["throughput.svg", "poison-cpu.svg", "recovery-timeline.svg"]);
  expect(skipped.map((s: { file: string }) => s.file)).toEqual(["mem-vs-bare-queue.svg", "tracing-cost.svg"]);
  expect(skipped[0].missing).toContain("end-to-end-memory");

  const throughput = readFileSync(join(out, "throughput.svg"), "utf8");
  expect(throughput.startsWith("<svg")).toBe(true);
  expect(throughput.trimEnd().endsWith("</svg>")).toBe(true);
  // rabbit 2 + redis 2 + pg 3, from the largest run of each only.
  expect(bars(throughput)).toBe(7);
  for (const label of [
    "rabbit:// (20,000)",
    "redisstream:// (50,000)",
    "pg:// (5,000)",
    "9,200",
    // Labels of two lines: the rate, then ours ÷ it.
    ">10,000</tspan>",
    ">ours 0.94×</tspan>",
    ">50,000</tspan>",
    ">ours 0.82×</tspan>",
    ">1,500</tspan>",
    ">ours 2.00×</tspan>",
    ">6,000</tspan>",
    ">ours 0.50×</tspan>",
    "amqplib",
    "graphile-worker 0.18",
  ]) {
    expect(throughput, label).toContain(label);
  }
  expect(throughput).toContain(`${cpus().length} cores, `);
  expect(throughput).toContain(`Node ${process.version}`);

  expect(table.split("\n")).toEqual([
    "| driver | messages | ours msgs/s | against | its msgs/s | ours ÷ it |",
    "| --- | ---: | ---: | --- | ---: | ---: |",
    "| `pg://` | 5,000 | 3,000 | pg-boss 12 (tuned) | 1,500 | 2.00× |",
    "| `pg://` | 5,000 | 3,000 | graphile-worker 0.18 | 6,000 | 0.50× |",
    "| `rabbit://` | 20,000 | 9,200 | amqplib | 10,000 | 0.94× |",
    "| `redisstream://` | 50,000 | 41,000 | ioredis | 50,000 | 0.82× |",
  ]);

  const poison = readFileSync(join(out, "poison-cpu.svg"), "utf8");
  expect(bars(poison)).toBe(2);
  expect(poison).toContain("0.012 s");
  expect(poison).toContain("21.500 s");

  const recovery = readFileSync(join(out, "recovery-timeline.svg"), "utf8");
  for (const text of ["cut, connections refused", "connections accepted again", "reconnecting", "confirmed"]) {
    expect(recovery, text).toContain(text);
  }
});
