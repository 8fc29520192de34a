import os from "node:os";
import { ErrorCode, PubSubError } from "@portable-pubsub/core/driver";

/**
 * One bar of a grouped bar chart: `group` is where it stands on the x axis
 * (a driver, a broker, a message count), `contender` tells the bars of a group
 * apart (and colours them), `value` is its height and `label` is written above it.
 */
export interface Bar {
  group: string;
  contender: string;
  value: number;
  label: string;
}

/** What a chart says about itself: its title, the line below it, and the y axis's title. */
export interface ChartText {
  title: string;
  subtitle: string;
  yTitle: string;
  /**
   * A y axis for each group, for groups whose values differ by orders of magnitude (a broker at 1,000 msgs/s
   * beside one at 50,000); else one axis for all, so that groups compare by height.
   */
  axisPerGroup?: boolean;
}

/** The machine a figure was measured on, as a benchmark report records it. */
export interface Machine {
  cores: number;
  cpu: string;
  node: string;
}

/** This machine: its core count, its CPU model and Node's version. */
export function thisMachine(): Machine {
  const cpus = os.cpus();
  return { cores: cpus.length, cpu: cpus[0]?.model.trim() ?? "unknown CPU", node: process.version };
}

/** "2 cores, Intel(R) Xeon(R) …, Node v22.12.0, 2026-12-07": what every chart's subtitle names. */
export function machineLine(machine: Machine = thisMachine(), date: Date = new Date()): string {
  return `${machine.cores} cores, ${machine.cpu}, Node ${machine.node}, ${date.toISOString().slice(0, 10)}`;
}

/**
 * A Vega-Lite spec of grouped bars: a panel per group side by side, a bar per
 * {@link Bar} in it, coloured by contender, with its label (at most two lines,
 * split at "\n") above it. Returns a plain object: render it with {@link renderSvg}.
 */
export function groupedBarSpec(bars: readonly Bar[], text: ChartText): Record<string, unknown> {
  const x = { field: "contender", type: "nominal", title: null, sort: null, axis: null };
  const y = { field: "value", type: "quantitative", title: text.yTitle, scale: { nice: true } };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: text.title, subtitle: text.subtitle, anchor: "start" },
    data: { values: bars.map((b) => ({ ...b })) },
    facet: { column: { field: "group", type: "nominal", title: null, sort: null, header: { labelFontSize: 12 } } },
    spec: {
      width: { step: 76 },
      height: 240,
      encoding: { x, y },
      layer: [
        { mark: "bar", encoding: { color: { field: "contender", type: "nominal", sort: null, title: null } } },
        {
          // Room for two lines above the bar: Vega sets the first line at the bar's top and the rest below it.
          mark: { type: "text", baseline: "bottom", dy: -15, fontSize: 10, lineBreak: "\n" },
          encoding: { text: { field: "label" } },
        },
      ],
    },
    // Each panel shows its own contenders only.
    resolve: { scale: { x: "independent", ...(text.axisPerGroup ? { y: "independent" } : {}) } },
    config: { legend: { orient: "bottom", columns: 3, labelLimit: 260 }, font: "sans-serif" },
  };
}

/**
 * What the command uses of vega and vega-lite, declared here rather than imported from their types: the
 * published declarations must not name packages that a user without charts has not installed.
 */
interface Vega {
  View: new (runtime: unknown, options: { renderer: "none" }) => { toSVG(): Promise<string>; finalize(): void };
  parse(spec: unknown): unknown;
  logger(level: number): unknown;
  Error: number;
}
interface VegaLite {
  compile(spec: unknown, options: { logger: unknown }): { spec: unknown };
}
/** Loads a module by name; a parameter so that a test can name one that is not installed. */
export type Importer = (name: string) => Promise<unknown>;

const importModule: Importer = (name) => import(name);

/**
 * Loads vega and vega-lite, the optional peer dependencies that draw charts.
 * Throws a PubSubError (FailedPrecondition) that says how to install them when
 * either is missing.
 */
export async function loadVega(load: Importer = importModule): Promise<{ vega: Vega; vl: VegaLite }> {
  try {
    const [vega, vl] = await Promise.all([load("vega"), load("vega-lite")]);
    return { vega: vega as Vega, vl: vl as VegaLite };
  } catch (err) {
    if ((err as { code?: unknown }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new PubSubError(
      ErrorCode.FailedPrecondition,
      "charts are drawn with vega and vega-lite, which are not installed: install them where the command is " +
        "(npm install vega vega-lite, or npm install -g vega vega-lite beside a global pubsub)",
      { cause: err },
    );
  }
}

/**
 * Compiles a Vega-Lite spec and renders it to an SVG document, headless (no
 * canvas needed). Returns the SVG text.
 */
export async function renderSvg(spec: Record<string, unknown>, load?: Importer): Promise<string> {
  const { vega, vl } = await loadVega(load);
  // Errors only: Vega-Lite warns that a panel's independent x scale unions one field from the panel's layers,
  // which is what the spec means.
  const logger = vega.logger(vega.Error);
  const compiled = vl.compile(spec, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
