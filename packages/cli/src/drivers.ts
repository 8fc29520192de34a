import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  builtinDrivers,
  type DriverAbout,
  type DriverModule,
  ErrorCode,
  invalidArgument,
  type LoadedDriver,
  type OpenSubscriptionOptions,
  PubSubError,
  redactUrl,
  type Subscription,
  type Topic,
  URLMux,
} from "@portable-pubsub/core/driver";

/** A driver the command has loaded for a URL's scheme, with its package's version for `doctor`. */
export interface DriverInfo extends LoadedDriver {
  /** Its version, when its package.json can be read. */
  version: string | undefined;
}

/**
 * The command's own mux: the built-in drivers, imported on first use by core,
 * plus those an embedder registers. Not the default mux, so that a driver
 * registered for the command does not leak into the embedding application.
 */
// Driver packages resolve from where the command is installed: mem:// is its dependency, the broker drivers are
// optional peers, found beside it in the project (or the global folder) that installed both. Not from the current
// folder: a driver found there would bring its own copy of core, whose errors this copy cannot read.
const mux = new URLMux(builtinDrivers, { importDriver: (name) => import(name) });

/** Parses a URL given on the command line; a bad one is InvalidArgument with an example. */
export function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw invalidArgument(`"${redactUrl(text)}" is not a URL; expected scheme://name, such as mem://orders`);
  }
}

/** The scheme of `url`, without "://". */
export function schemeOf(url: URL): string {
  return url.protocol.slice(0, -1);
}

/**
 * Loads the driver for `url`'s scheme through the mux. Rejects with
 * InvalidArgument for an unknown scheme or a driver that is not installed.
 */
export async function loadDriver(url: URL): Promise<DriverInfo> {
  const driver = await mux.driverFor(schemeOf(url));
  const version = driver.packageName === undefined ? undefined : await packageVersion(driver.packageName);
  return { ...driver, version };
}

/** What the driver of `url`'s scheme says about its broker, if anything; `operation` names the step in errors. */
export async function aboutOf(url: URL, operation = "open"): Promise<DriverAbout | undefined> {
  return (await mux.driverFor(schemeOf(url), operation)).module.about;
}

/**
 * Makes the command use `module` for `scheme`, for a driver of your own when
 * embedding the command with `runCli`. The module has the shape of a driver
 * package's exports. Call it before the scheme is first used; registering a
 * scheme twice is AlreadyExists.
 */
export function registerDriver(scheme: string, module: DriverModule, packageName = "(registered)"): void {
  mux.registerDriver(scheme, module, packageName);
}

/**
 * The topic URL that reaches the subscription `source` names alone (a dead
 * letter's `deadletter.source`), from its driver's `topicURLFor`; or why
 * there is none, as a note for the user.
 */
export async function topicReaching(source: string): Promise<URL | string> {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return "its deadletter.source is not a subscription URL (written by an older version?)";
  }
  if (url.username || url.password || source.includes("***")) {
    return "its deadletter.source had credentials, which were redacted";
  }
  let driver: LoadedDriver;
  try {
    driver = await mux.driverFor(schemeOf(url), "redrive");
  } catch {
    return `no driver for ${url.protocol}// in this pubsub`;
  }
  const hook = driver.module.topicURLFor;
  let target: string | undefined;
  try {
    target = hook?.(url);
  } catch {
    return "its deadletter.source is not a valid subscription URL";
  }
  if (target === undefined) {
    return hook
      ? `this ${url.protocol}// subscription has no name a send can reach alone`
      : `the ${url.protocol}// driver cannot send to one subscription alone (a send to its topic reaches every subscription of it)`;
  }
  return new URL(target);
}

/** Opens the topic `url` names through its driver. */
export async function openTopicAt(url: URL): Promise<Topic> {
  const { module, packageName, scheme } = await mux.driverFor(schemeOf(url), "openTopic");
  if (!module.openTopicURL) throw unimplemented(scheme, packageName, "topics");
  return mux.openTopic(url);
}

/** Opens the subscription `url` names through its driver, with the portable `options`. */
export async function openSubscriptionAt(url: URL, options: OpenSubscriptionOptions = {}): Promise<Subscription> {
  const { module, packageName, scheme } = await mux.driverFor(schemeOf(url), "openSubscription");
  if (!module.openSubscriptionURL) throw unimplemented(scheme, packageName, "subscriptions");
  return mux.openSubscription(url, options);
}

function unimplemented(scheme: string, packageName: string | undefined, what: string): PubSubError {
  return new PubSubError(
    ErrorCode.Unimplemented,
    `the ${scheme}:// driver (${packageName ?? "registered"}) installed here cannot open ${what} yet; update it`,
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
