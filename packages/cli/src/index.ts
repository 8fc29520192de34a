/**
 * @portable-pubsub/cli: the `pubsub` command. Its programmatic surface is
 * small: `runCli` for embedding, the types of the `inspectURL` hook that a
 * driver package may export for `pubsub doctor`, and the chart helpers behind
 * `pubsub bench --chart` (which need the optional peers vega and vega-lite).
 */
export {
  type Bar,
  type ChartText,
  groupedBarSpec,
  type Machine,
  machineLine,
  renderSvg,
  thisMachine,
} from "./bench/chart.js";
export { registerDriver } from "./drivers.js";
export { ExitCode, exitCodeFor } from "./exit.js";
export type { Check, Inspection, UrlInspector } from "./inspect.js";
export { buildProgram, type CliOptions, runCli, VERSION } from "./program.js";
