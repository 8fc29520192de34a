/**
 * @portable-pubsub/cli: the `pubsub` command. Its programmatic surface is
 * small: `runCli` for embedding, and the types of the `inspectURL` hook that a
 * driver package may export for `pubsub doctor`.
 */
export { registerDriver } from "./drivers.js";
export { ExitCode, exitCodeFor } from "./exit.js";
export type { Check, Inspection, UrlInspector } from "./inspect.js";
export { buildProgram, type CliOptions, runCli, VERSION } from "./program.js";
