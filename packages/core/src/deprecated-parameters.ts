/**
 * Tells the application's logger of the old query parameter names its URLs
 * use: drivers accept them as aliases (see parseQuery's `renamed`) and never
 * log, so the mux, which holds both the URL and the logger, does it here.
 */
import { describeUrl, takeDeprecatedParameters } from "./driver/params.js";
import { type Logger, writeLog } from "./telemetry/logger.js";

/** The old names each logger was told of, as "driver:old": once each is enough. */
const told = new WeakMap<object, Set<string>>();

/**
 * Waits for `opening`, the opener's result for `url`, then logs each old
 * parameter name its driver accepted in `url`, as a `pubsub.deprecated_parameter`
 * warning naming the new name: once per logger, driver and old name.
 */
export async function loggingDeprecations<T>(opening: Promise<T>, url: URL, logger: Logger | undefined): Promise<T> {
  let opened: T;
  try {
    opened = await opening;
  } finally {
    const notes = takeDeprecatedParameters(url);
    if (typeof logger === "object" && logger !== null) {
      const seen = told.get(logger) ?? new Set<string>();
      told.set(logger, seen);
      for (const { driver, old, name } of notes) {
        if (seen.has(`${driver}:${old}`)) continue;
        seen.add(`${driver}:${old}`);
        writeLog(logger, "warn", {
          event: "pubsub.deprecated_parameter",
          resource: describeUrl(url),
          message: `${driver}: query parameter "${old}" is deprecated and will be removed; use "${name}", which means the same`,
          driver,
          parameter: old,
          replacement: name,
        });
      }
    }
  }
  return opened;
}
