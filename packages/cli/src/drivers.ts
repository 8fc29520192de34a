import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  builtinDrivers,
  type DriverModule,
  ErrorCode,
  invalidArgument,
  PubSubError,
  redactUrl,
  type Subscription,
  type Topic,
  URLMux,
} from "@portable-pubsub/core";

/** A driver the command has loaded for a URL's scheme. */
export interface LoadedDriver {
  scheme: string;
  /** The npm package of the driver. */
  packageName: string;
  /** Its version, when its package.json can be read. */
  version: string | undefined;
  module: DriverModule;
}

const mux = new URLMux();
const loaded = new Map<string, Promise<LoadedDriver>>();

/** Parses a URL given on the command line; a bad one is InvalidArgument with an example. */
export function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw invalidArgument(`"${redactUrl(text)}" is not a URL; expected scheme://name, such as mem://orders`);
  }
}

/**
 * Loads the driver package for `url`'s scheme and registers its openers.
 * The packages are resolved from this command's own dependencies, so the
 * command works from any directory, whatever the application next to it has installed.
 */
export function loadDriver(url: URL): Promise<LoadedDriver> {
  const scheme = url.protocol.slice(0, -1);
  let driver = loaded.get(scheme);
  if (!driver) {
    driver = importDriver(scheme);
    loaded.set(scheme, driver);
  }
  return driver;
}

/**
 * Makes the command use `module` for `scheme`, for a driver of your own when
 * embedding the command with `runCli`. The module has the shape of a driver
 * package's exports. Call it before the scheme is first used: a scheme whose
 * driver is loaded already is AlreadyExists.
 */
export function registerDriver(scheme: string, module: DriverModule, packageName = "(registered)"): void {
  if (module.openTopicURL) mux.registerTopic(scheme, module.openTopicURL);
  if (module.openSubscriptionURL) mux.registerSubscription(scheme, module.openSubscriptionURL);
  loaded.set(scheme, Promise.resolve({ scheme, packageName, version: undefined, module }));
}

async function importDriver(scheme: string): Promise<LoadedDriver> {
  const packageName = builtinDrivers[scheme];
  if (packageName === undefined) {
    const known = Object.keys(builtinDrivers)
      .map((s) => `${s}://`)
      .join(", ");
    throw invalidArgument(`no driver for scheme "${scheme}://"; the pubsub command knows ${known}`);
  }
  let module: DriverModule;
  try {
    module = (await import(packageName)) as DriverModule;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw invalidArgument(
        `the ${scheme}:// driver is not installed; install ${packageName} next to the pubsub command`,
      );
    }
    throw err;
  }
  if (module.openTopicURL) mux.registerTopic(scheme, module.openTopicURL);
  if (module.openSubscriptionURL) mux.registerSubscription(scheme, module.openSubscriptionURL);
  return { scheme, packageName, version: await packageVersion(packageName), module };
}

/** Opens the topic `url` names through its driver. */
export async function openTopicAt(url: URL): Promise<Topic> {
  const { module, packageName, scheme } = await loadDriver(url);
  if (!module.openTopicURL) throw unimplemented(scheme, packageName, "topics");
  return mux.openTopic(url);
}

/** Opens the subscription `url` names through its driver. */
export async function openSubscriptionAt(url: URL): Promise<Subscription> {
  const { module, packageName, scheme } = await loadDriver(url);
  if (!module.openSubscriptionURL) throw unimplemented(scheme, packageName, "subscriptions");
  return mux.openSubscription(url);
}

function unimplemented(scheme: string, packageName: string, what: string): PubSubError {
  return new PubSubError(
    ErrorCode.Unimplemented,
    `the ${scheme}:// driver (${packageName}) installed here cannot open ${what} yet; update it`,
  );
}

/** Reads a package's version by walking up from its entry point (its exports do not include package.json). */
async function packageVersion(packageName: string): Promise<string | undefined> {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(packageName)));
    for (let depth = 0; depth < 4; depth++, dir = dirname(dir)) {
      const manifest = await readFile(join(dir, "package.json"), "utf8").catch(() => undefined);
      if (manifest === undefined) continue;
      const parsed = JSON.parse(manifest) as { name?: string; version?: string };
      if (parsed.name === packageName) return parsed.version;
    }
  } catch {
    // The version is only informative.
  }
  return undefined;
}
