/**
 * The options of `openTopic` and `openSubscription`, typed by the URL's
 * scheme: for a URL written as a literal whose scheme a driver package has
 * registered below, the portable options and that driver's own, and nothing
 * else; for any other URL, the portable options and any other key, which the
 * driver checks at run time.
 */
import type { Codec } from "./codecs/codec.js";
import type { StandardSchemaV1 } from "./codecs/schema.js";
import type { SubscriptionOptions } from "./subscription.js";
import type { TopicOptions } from "./topic.js";

/**
 * A driver's own options of `openTopic`, by URL scheme. Each driver package
 * adds its scheme when its types are loaded, by declaration merging:
 *
 * ```ts
 * declare module "@portable-pubsub/core" {
 *   interface TopicOptionsByScheme { rabbit: RabbitURLOptions }
 * }
 * ```
 *
 * An application whose code imports only core, and leaves the driver to be
 * imported on first use, loads a driver's types with a type-only import,
 * which no JavaScript keeps: `import type {} from "@portable-pubsub/driver-rabbit";`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: empty until driver packages merge their schemes into it.
export interface TopicOptionsByScheme {}

/** A driver's own options of `openSubscription`, by URL scheme; see {@link TopicOptionsByScheme}. */
// biome-ignore lint/suspicious/noEmptyInterface: empty until driver packages merge their schemes into it.
export interface SubscriptionOptionsByScheme {}

/** The option every open takes besides the portable and the driver's ones. */
export interface OpenSignal {
  /**
   * Gives up opening when it fires: the call rejects with Canceled, and what
   * the driver opens afterwards is shut down again.
   */
  signal?: AbortSignal;
}

/**
 * The scheme of a URL written as a literal, in lower case: `"rabbit"` for
 * `"rabbit://orders"`. `never` for a `string` whose value the compiler
 * does not know.
 */
export type SchemeOf<U extends string> = string extends U
  ? never
  : U extends `${infer Scheme}:${string}`
    ? Lowercase<Scheme>
    : never;

/**
 * `T`, or `T` with any other keys, which the driver checks at run time. The
 * first form lets a variable typed as TopicOptions (an interface, which has
 * no index signature) pass.
 */
type WithDriverOptions<T> = T | (T & Record<string, unknown>);

/** The portable options and the driver's, for a scheme that `ByScheme` knows; otherwise any key goes. */
type OptionsFor<U extends string, Portable, ByScheme> = [SchemeOf<U>] extends [never]
  ? WithDriverOptions<Portable>
  : [SchemeOf<U>] extends [keyof ByScheme]
    ? Portable & ByScheme[SchemeOf<U> & keyof ByScheme]
    : WithDriverOptions<Portable>;

/**
 * Options of `openTopic(url, options)`: the portable ones (see
 * {@link TopicOptions}), `signal`, and the driver's own (such as
 * `serverUrl`). When `url` is a literal whose scheme's driver types are
 * loaded, an unknown key does not compile; otherwise the driver refuses it
 * at run time with InvalidArgument.
 */
export type OpenTopicOptions<U extends string = string> = OptionsFor<
  U,
  TopicOptions & OpenSignal,
  TopicOptionsByScheme
>;

/** Options of `openSubscription(url, options)`: the portable ones, `signal`, and the driver's own; see {@link OpenTopicOptions}. */
export type OpenSubscriptionOptions<U extends string = string> = OptionsFor<
  U,
  SubscriptionOptions & OpenSignal,
  SubscriptionOptionsByScheme
>;

/**
 * Options of `openTopic(url, options)` for a typed Topic: those of
 * {@link OpenTopicOptions} with `schema` of type `S` (or, with `S`
 * undefined, a `codec` and no schema). The schema's own type is kept apart
 * from the portable options' so that inference stays shallow for schema
 * libraries with deep types.
 */
export type TypedOpenTopicOptions<U extends string, S extends StandardSchemaV1 | undefined> = OptionsFor<
  U,
  Omit<TopicOptions, "schema" | "codec"> & OpenSignal & TypedBy<S>,
  TopicOptionsByScheme
>;

/** Options of `openSubscription(url, options)` for a typed Subscription; see {@link TypedOpenTopicOptions}. */
export type TypedOpenSubscriptionOptions<U extends string, S extends StandardSchemaV1 | undefined> = OptionsFor<
  U,
  Omit<SubscriptionOptions, "schema" | "codec"> & OpenSignal & TypedBy<S>,
  SubscriptionOptionsByScheme
>;

/** A `schema` of type `S` and maybe a codec; for `S` undefined, a codec alone. */
type TypedBy<S extends StandardSchemaV1 | undefined> = [S] extends [StandardSchemaV1]
  ? { schema: S; codec?: Codec }
  : { schema?: undefined; codec: Codec };
