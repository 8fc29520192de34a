/**
 * The floors of @portable-pubsub/core (see packages/core/WRITING-A-DRIVER.md):
 * src/driver/ is the ground floor (the contract and the kit), the portable
 * layer (Topic, Subscription, Message, settling, telemetry) stands on it, and
 * the URL mux stands on top. An import may only run down a floor, never up,
 * and never round a circle. `pnpm lint` runs this check.
 */
const MUX = "^packages/core/src/(mux|driver-loader|openers|open-options|unknown-scheme|deprecated-parameters)[.]ts$";
const ENTRIES = "^packages/core/src/(index|driver-entry)[.]ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "An import circle ties its files into one floor: break it.",
      severity: "error",
      from: { path: "^packages/core/src/" },
      to: { circular: true },
    },
    {
      name: "driver-floor",
      comment:
        "src/driver/ is the ground floor: it imports nothing of core but itself and src/errors.ts, so that a driver loads the contract and kit alone.",
      severity: "error",
      from: { path: "^packages/core/src/driver/" },
      to: { path: "^packages/core/src/", pathNot: "^packages/core/src/(driver/|errors[.]ts$)" },
    },
    {
      name: "portable-below-mux",
      comment:
        "The portable layer does not import the URL mux: the mux hands it what it needs (the dead-letter opener).",
      severity: "error",
      from: { path: "^packages/core/src/", pathNot: [MUX, ENTRIES] },
      to: { path: MUX },
    },
    {
      name: "no-entry-imports",
      comment:
        "The entry files only re-export (the /driver entry re-exports the main one); nothing else inside core imports them.",
      severity: "error",
      from: { path: "^packages/core/src/", pathNot: ENTRIES },
      to: { path: ENTRIES },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "[.]test[.]ts$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: require("node:path").join(__dirname, "packages/core/tsconfig.json") },
  },
};
