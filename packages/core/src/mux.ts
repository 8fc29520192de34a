import type { AnyData, StandardSchemaV1 } from "./codecs/schema.js";
import { loggingDeprecations } from "./deprecated-parameters.js";
import { raceSignal, throwIfAborted } from "./driver/abort.js";
import { notePortableOptions } from "./driver/params.js";
import { DriverLoader, defaultLoader } from "./driver-loader.js";
import { ErrorCode, invalidArgument, PubSubError, redactUnparsedUrl } from "./errors.js";
import type {
  OpenSubscriptionOptions,
  OpenTopicOptions,
  TypedOpenSubscriptionOptions,
  TypedOpenTopicOptions,
} from "./open-options.js";
import type { DriverModule, SubscriptionURLOpener, TopicURLOpener } from "./openers.js";
import {
  DEAD_LETTER_OPENER,
  type DeadLetterOpener,
  SUBSCRIPTION_URL,
  setDefaultDeadLetterOpener,
} from "./settling/dead-letter.js";
import type { Subscription, SubscriptionOptions } from "./subscription.js";
import type { Topic, TopicOptions } from "./topic.js";
import { unknownSchemeError } from "./unknown-scheme.js";

/** What the implementations of the open overloads return: any of their typings. */
// biome-ignore lint/suspicious/noExplicitAny: the overloads above give each call its exact type.
type AnyTyping = any;

/**
 * The schemes whose driver packages the default mux loads on first use.
 * For tools built on core (the CLI builds its own URLMux from it), not for
 * drivers: a third-party driver registers itself with `registerDriver`.
 */
export const builtinDrivers: Readonly<Record<string, string>> = {
  mem: "@portable-pubsub/driver-memory",
  rabbit: "@portable-pubsub/driver-rabbit",
  gcppubsub: "@portable-pubsub/driver-gcp",
  redisstream: "@portable-pubsub/driver-redis",
  nats: "@portable-pubsub/driver-nats",
  pg: "@portable-pubsub/driver-postgres",
};

/** A driver the mux has for a scheme: its module and, for a package it imported, the package's name. */
export interface LoadedDriver {
  scheme: string;
  /** The npm package the module came from; undefined for a module registered by hand. */
  packageName: string | undefined;
  module: DriverModule;
}

/** Options of a {@link URLMux}. */
export interface URLMuxOptions {
  /** Imports a driver package by name; default: a dynamic import from core's place, then the working directory's. */
  importDriver?: (packageName: string) => Promise<unknown>;
}

/** How long a failed open may take to close what the driver had started. */
const CLOSE_AFTER_FAILED_OPEN_MS = 2000;

const TOPIC_KEYS = [
  "batching",
  "retry",
  "maxPendingSends",
  "shutdownTimeoutMs",
  "tracing",
  "logger",
  "deadLetterTarget",
  "schema",
  "codec",
] as const;
const SUBSCRIPTION_KEYS = [
  "redelivery",
  "deadLetter",
  "maxExtensionMs",
  "maxReceiveBatchSize",
  "ackBatching",
  "retry",
  "shutdownTimeoutMs",
  "tracing",
  "logger",
  "schema",
  "codec",
  "idempotency",
] as const;

/**
 * Maps URL schemes to drivers, like the Go CDK's URLMux. `openTopic` and
 * `openSubscription` use a default one that knows the built-in schemes;
 * register your own driver's scheme on it with
 * `defaultURLMux().registerDriver(scheme, module, packageName)`.
 */
export class URLMux {
  readonly #topics = new Map<string, TopicURLOpener>();
  readonly #subscriptions = new Map<string, SubscriptionURLOpener>();
  readonly #modules = new Map<string, LoadedDriver>();
  readonly #lazy: Readonly<Record<string, string>>;
  readonly #loader: DriverLoader;

  /**
   * `lazyDrivers` maps schemes to packages that are imported the first time
   * their scheme is used. `options.importDriver` imports one by name; give
   * `(name) => import(name)` from your own module so that packages resolve
   * from where your code is installed (a tool with its own dependencies), or
   * a map of statically imported modules for a bundle.
   */
  constructor(lazyDrivers: Readonly<Record<string, string>> = {}, options: URLMuxOptions = {}) {
    this.#lazy = lazyDrivers;
    this.#loader = options.importDriver ? new DriverLoader(options.importDriver) : defaultLoader;
  }

  /**
   * Registers `opener` for `scheme` (no "://"). Registering a scheme twice is
   * AlreadyExists. A driver package registers with `registerDriver` instead,
   * which also gives tools its inspection hook and package.
   */
  registerTopic(scheme: string, opener: TopicURLOpener): void {
    register(this.#topics, scheme, opener, "topic");
  }

  /**
   * Registers `opener` for `scheme` (no "://"). Registering a scheme twice is
   * AlreadyExists. A driver package registers with `registerDriver` instead.
   */
  registerSubscription(scheme: string, opener: SubscriptionURLOpener): void {
    register(this.#subscriptions, scheme, opener, "subscription");
  }

  /**
   * Registers a whole driver module for `scheme`: its openers, and its
   * inspection hook and broker description for tools. This is the one way to
   * register a driver, a third party's or, in a bundled application (where a
   * driver package cannot be imported by name at run time), a built-in one:
   * `defaultURLMux().registerDriver("rabbit", await import("@portable-pubsub/driver-rabbit"), "@portable-pubsub/driver-rabbit")`.
   * Registering a scheme twice is AlreadyExists.
   *
   * @param scheme The URL scheme, without "://", such as "rabbit".
   * @param module The driver package's exports: `openTopicURL`, `openSubscriptionURL`, and the optional hooks.
   * @param packageName Optional: the npm package the module came from. Tools show it, with its version
   *   (`pubsub doctor`), and name it when the installed driver lacks what they need.
   */
  registerDriver(scheme: string, module: DriverModule, packageName?: string): void {
    if (this.#modules.has(scheme) || this.#topics.has(scheme) || this.#subscriptions.has(scheme)) {
      throw new PubSubError(ErrorCode.AlreadyExists, `registerDriver: scheme "${scheme}://" is already registered`);
    }
    if (module.openTopicURL) this.registerTopic(scheme, module.openTopicURL);
    if (module.openSubscriptionURL) this.registerSubscription(scheme, module.openSubscriptionURL);
    this.#modules.set(scheme, { scheme, packageName, module });
  }

  /**
   * The driver module for `scheme`: one registered with `registerDriver`, or
   * the built-in driver package, imported on first use. Rejects with
   * InvalidArgument for an unknown scheme (naming the registered ones) or a
   * built-in driver that is not installed (naming the package to install).
   */
  async driverFor(scheme: string, operation = "open"): Promise<LoadedDriver> {
    const registered = this.#modules.get(scheme);
    if (registered) return registered;
    const pkg = this.#lazy[scheme];
    if (pkg === undefined) {
      const openers: DriverModule = {};
      const topic = this.#topics.get(scheme);
      const subscription = this.#subscriptions.get(scheme);
      if (topic) openers.openTopicURL = topic;
      if (subscription) openers.openSubscriptionURL = subscription;
      if (topic || subscription) return { scheme, packageName: undefined, module: openers };
      throw unknownSchemeError(
        scheme,
        operation,
        [...new Set([...this.topicSchemes(), ...this.subscriptionSchemes()])].sort(),
      );
    }
    return { scheme, packageName: pkg, module: await this.#loader.load(pkg, scheme, operation) };
  }

  /** The schemes that can open topics, built-in ones included. */
  topicSchemes(): string[] {
    return [...new Set([...this.#topics.keys(), ...Object.keys(this.#lazy)])].sort();
  }

  /** The schemes that can open subscriptions, built-in ones included. */
  subscriptionSchemes(): string[] {
    return [...new Set([...this.#subscriptions.keys(), ...Object.keys(this.#lazy)])].sort();
  }

  /**
   * Opens the topic that `url` names. Rejects with InvalidArgument for a bad
   * URL, scheme or option. For a literal URL, `options` is typed by its
   * scheme (see {@link OpenTopicOptions}).
   */
  openTopic<U extends string, S extends StandardSchemaV1>(
    url: U | URL,
    options: TypedOpenTopicOptions<U, S>,
  ): Promise<Topic<S>>;
  openTopic<U extends string>(url: U | URL, options: TypedOpenTopicOptions<U, undefined>): Promise<Topic<AnyData>>;
  openTopic<U extends string>(url: U | URL, options?: OpenTopicOptions<U>): Promise<Topic>;
  async openTopic<U extends string>(url: U | URL, options?: OpenTopicOptions<U>): Promise<Topic<AnyTyping>> {
    const parsed = parseUrl(url, "openTopic");
    const scheme = parsed.protocol.slice(0, -1);
    const opener = this.#topics.get(scheme) ?? (await this.#load(scheme, "openTopic")).openTopicURL;
    if (!opener) throw unknownSchemeError(scheme, "openTopic", this.topicSchemes());
    const [portable, driverOptions, signal] = split<TopicOptions>(options, TOPIC_KEYS);
    const opening = loggingDeprecations(opener(parsed, driverOptions, portable), parsed, portable.logger);
    return abandonable(whenReady(opening, signal), signal, "openTopic");
  }

  /**
   * Opens the subscription that `url` names. Rejects with InvalidArgument for
   * a bad URL, scheme or option. For a literal URL, `options` is typed by its
   * scheme (see {@link OpenSubscriptionOptions}).
   */
  openSubscription<U extends string, S extends StandardSchemaV1>(
    url: U | URL,
    options: TypedOpenSubscriptionOptions<U, S>,
  ): Promise<Subscription<S>>;
  openSubscription<U extends string>(
    url: U | URL,
    options: TypedOpenSubscriptionOptions<U, undefined>,
  ): Promise<Subscription<AnyData>>;
  openSubscription<U extends string>(url: U | URL, options?: OpenSubscriptionOptions<U>): Promise<Subscription>;
  async openSubscription<U extends string>(
    url: U | URL,
    options?: OpenSubscriptionOptions<U>,
  ): Promise<Subscription<AnyTyping>> {
    const parsed = parseUrl(url, "openSubscription");
    const scheme = parsed.protocol.slice(0, -1);
    const opener =
      this.#subscriptions.get(scheme) ?? (await this.#load(scheme, "openSubscription")).openSubscriptionURL;
    if (!opener) throw unknownSchemeError(scheme, "openSubscription", this.subscriptionSchemes());
    const [portable, driverOptions, signal] = split<SubscriptionOptions>(options, SUBSCRIPTION_KEYS);
    // A dead-letter URL opens through this mux, so that it may name a scheme registered here. One of the same
    // scheme gets the subscription's driver options too (its serverUrl, connection or broker): without them it
    // would open against the default server, not the one the subscription reads from.
    (portable as { [DEAD_LETTER_OPENER]?: DeadLetterOpener })[DEAD_LETTER_OPENER] = (dlUrl) =>
      this.openTopic(dlUrl, {
        ...(schemeOf(dlUrl) === scheme ? driverOptions : {}),
        signal,
        deadLetterTarget: true,
      } as OpenTopicOptions<string>);
    (portable as { [SUBSCRIPTION_URL]?: string })[SUBSCRIPTION_URL] = parsed.href;
    const opening = loggingDeprecations(opener(parsed, driverOptions, portable), parsed, portable.logger);
    return abandonable(whenReady(opening, signal), signal, "openSubscription");
  }

  async #load(scheme: string, operation: string): Promise<DriverModule> {
    const pkg = this.#lazy[scheme];
    if (pkg === undefined) return {};
    return this.#loader.load(pkg, scheme, operation);
  }
}

function register<T>(map: Map<string, T>, scheme: string, opener: T, kind: string): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw invalidArgument(`register${kind}: scheme "${scheme}" is not a valid URL scheme (lower case, no "://")`);
  }
  if (map.has(scheme)) {
    throw new PubSubError(ErrorCode.AlreadyExists, `register ${kind}: scheme "${scheme}://" is already registered`);
  }
  map.set(scheme, opener);
}

/** The scheme of `url` (without ":"), or undefined where it has none. */
function schemeOf(url: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
}

function parseUrl(url: string | URL, operation: string): URL {
  if (url instanceof URL) return url;
  if (typeof url !== "string") throw invalidArgument(`${operation}: the URL must be a string, got ${typeof url}`);
  try {
    return new URL(url);
  } catch {
    throw invalidArgument(
      `${operation}: "${redactUnparsedUrl(url)}" is not a valid URL; expected the form scheme://name, such as mem://orders`,
    );
  }
}

/** Splits open options into the portable ones, the driver's and the signal. */
function split<Portable>(
  given: unknown,
  portableKeys: readonly string[],
): [Portable, Record<string, unknown>, AbortSignal | undefined] {
  const options = given === undefined ? {} : given;
  if (typeof options !== "object" || options === null) {
    throw invalidArgument(`open: options must be an object, got ${options === null ? "null" : typeof options}`);
  }
  const portable: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  let signal: AbortSignal | undefined;
  for (const [key, value] of Object.entries(options)) {
    if (key === "signal") {
      if (value !== undefined && !(value instanceof AbortSignal))
        throw invalidArgument("open: signal must be an AbortSignal");
      signal = value as AbortSignal | undefined;
    } else if (portableKeys.includes(key)) portable[key] = value;
    else rest[key] = value;
  }
  notePortableOptions(rest, [...portableKeys, "signal"]);
  return [portable as Portable, rest, signal];
}

/** Waits for the opened driver's `ready`; when it fails, closes what was opened and rethrows. */
async function whenReady<T extends Topic | Subscription>(
  opening: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  const opened = await opening;
  try {
    await opened.ready({ signal });
  } catch (err) {
    await opened.shutdown({ signal: AbortSignal.timeout(CLOSE_AFTER_FAILED_OPEN_MS) }).catch(() => {});
    throw err;
  }
  return opened;
}

/** Races an open against `signal`; an object that opens after the caller gave up is shut down, not leaked. */
async function abandonable<T extends { shutdown(): Promise<void> }>(
  opening: Promise<T>,
  signal: AbortSignal | undefined,
  operation: string,
): Promise<T> {
  if (!signal) return opening;
  if (signal.aborted) {
    // The open runs on regardless: what it opens is shut down, and its failure handled.
    opening.then((opened) => opened.shutdown()).catch(() => {});
    throwIfAborted(signal, operation);
  }
  try {
    return await raceSignal(opening, signal, operation);
  } catch (err) {
    if (signal.aborted) opening.then((opened) => opened.shutdown()).catch(() => {});
    throw err;
  }
}

let defaultMux: URLMux | undefined;

/** The mux behind `openTopic` and `openSubscription`. */
export function defaultURLMux(): URLMux {
  defaultMux ??= new URLMux(builtinDrivers);
  return defaultMux;
}

/**
 * Opens the topic that `url` names, with the default mux:
 * `openTopic("rabbit://orders", { serverUrl })`. For a literal URL whose
 * driver's types are loaded, `options` takes the portable options and that
 * driver's, and nothing else (see {@link OpenTopicOptions}).
 */
export function openTopic<U extends string, S extends StandardSchemaV1>(
  url: U | URL,
  options: TypedOpenTopicOptions<U, S>,
): Promise<Topic<S>>;
export function openTopic<U extends string>(
  url: U | URL,
  options: TypedOpenTopicOptions<U, undefined>,
): Promise<Topic<AnyData>>;
export function openTopic<U extends string>(url: U | URL, options?: OpenTopicOptions<U>): Promise<Topic>;
export function openTopic<U extends string>(url: U | URL, options?: OpenTopicOptions<U>): Promise<Topic<AnyTyping>> {
  return defaultURLMux().openTopic(url, options);
}

/**
 * Opens the subscription that `url` names, with the default mux:
 * `openSubscription("rabbit://orders-billing")`. `options` is typed as in
 * {@link openTopic} (see {@link OpenSubscriptionOptions}).
 */
export function openSubscription<U extends string, S extends StandardSchemaV1>(
  url: U | URL,
  options: TypedOpenSubscriptionOptions<U, S>,
): Promise<Subscription<S>>;
export function openSubscription<U extends string>(
  url: U | URL,
  options: TypedOpenSubscriptionOptions<U, undefined>,
): Promise<Subscription<AnyData>>;
export function openSubscription<U extends string>(
  url: U | URL,
  options?: OpenSubscriptionOptions<U>,
): Promise<Subscription>;
export function openSubscription<U extends string>(
  url: U | URL,
  options?: OpenSubscriptionOptions<U>,
): Promise<Subscription<AnyTyping>> {
  return defaultURLMux().openSubscription(url, options);
}

// A subscription made with a driver's constructor opens its `deadLetter` URL through the default mux.
setDefaultDeadLetterOpener((url) => openTopic(url, { deadLetterTarget: true }));
