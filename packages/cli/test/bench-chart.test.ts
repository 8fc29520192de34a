// `pubsub bench --chart FILE`: the run's send and receive rates drawn as SVG bars with vega and vega-lite (optional
// peers of the command), and the advice the command gives when they are not installed.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, PubSubError } from "@portable-pubsub/core";
import { afterAll, describe, expect, it } from "vitest";
import { loadVega } from "../src/bench/chart.js";
import { cli, output } from "./in-process.js";

const dir = mkdtempSync(join(tmpdir(), "pps-test-bench-chart-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pubsub bench --chart", () => {
  it("writes an SVG with a bar for sends and one for receives, labelled with the rates the summary prints", async () => {
    const file = join(dir, "mem.svg");
    const code = await cli(
      "bench",
      "mem://pps-test-chart",
      "mem://pps-test-chart",
      "-n",
      "3000",
      "--no-progress",
      "--chart",
      file,
    );
    expect(code).toBe(0);
    const summary = output.stdout.join("");
    expect(summary).toContain("sent        3000 in ");
    expect(summary).toContain("received    3000 in ");
    const svg = readFileSync(file, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/aria-roledescription="bar"/g)?.length).toBe(2);
    // The labels above the bars are the summary's rates, word for word.
    const rates = [...summary.matchAll(/: (\S+) msgs\/s/g)].map((m) => m[1]);
    expect(rates).toHaveLength(2);
    for (const rate of rates) expect(svg).toContain(`>${rate}</tspan>`);
    expect(svg.match(/>msgs\/s<\/tspan>/g)?.length).toBe(2);
    for (const text of [
      "sent",
      "received",
      "mem://",
      "3000 messages of 128 bytes, concurrency 16",
      `Node ${process.version}`,
    ]) {
      expect(svg, text).toContain(text);
    }
  });

  it("says to install vega and vega-lite, as a FailedPrecondition, when they cannot be loaded", async () => {
    const missing = (name: string) => import(`pps-test-not-installed-${name}`);
    const failure = await loadVega(missing).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(PubSubError);
    expect((failure as PubSubError).code).toBe(ErrorCode.FailedPrecondition);
    expect((failure as PubSubError).message).toBe(
      "charts are drawn with vega and vega-lite, which are not installed: install them where the command is " +
        "(npm install vega vega-lite, or npm install -g vega vega-lite beside a global pubsub)",
    );
    // Another failure while loading is not mistaken for a missing package.
    const broken = new Error("pps-test: broken module");
    await expect(loadVega(() => Promise.reject(broken))).rejects.toBe(broken);
  });
});
