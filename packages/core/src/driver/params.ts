/**
 * The one vocabulary of URL query parameters and driver options. Every
 * driver validates its URLs through these, so that the same kind of value is
 * spelled the same way on every scheme (`declare=true` or `declare=1`,
 * `maxWait=500ms`, `maxBytes=64KiB`) and a mistake reads the same
 * everywhere: InvalidArgument naming the parameter, the URL (without its
 * password) and what was expected.
 */
import { z } from "zod";
import { invalidArgument, redactUrl } from "../errors.js";
import { closestName } from "./suggest.js";

/**
 * Reads a URL's query parameters through `schema`. An unknown parameter, a
 * repeated one, a missing required one, or a bad value is InvalidArgument
 * naming it (and, for a missing one, the URL with it). Build `schema` with
 * `z.object({...}).strict()` and the builders of {@link param}.
 *
 * `renamed` maps a parameter's old name to its name in the vocabulary
 * (`{ create: "declare" }`): the old name must keep working, as an alias, and
 * gives the same result as the new one; both at once is InvalidArgument. The
 * driver must not log the old name's use itself: the URL mux tells the
 * application's `logger`, once per old name, with the event
 * `pubsub.deprecated_parameter`.
 */
export function parseQuery<S extends z.ZodType>(
  url: URL,
  schema: S,
  driver: string,
  renamed: Readonly<Record<string, string>> = {},
): z.output<S> {
  const raw: Record<string, string> = {};
  /** The name each parameter was given by, where that was an old one. */
  const givenAs = new Map<string, string>();
  for (const [given, value] of url.searchParams) {
    const key = Object.hasOwn(renamed, given) ? (renamed[given] as string) : given;
    if (key in raw) {
      const first = givenAs.get(key) ?? key;
      if (first === given) {
        throw invalidArgument(`${driver}: query parameter "${given}" is given twice in ${describeUrl(url)}`);
      }
      const old = first === key ? given : first;
      throw invalidArgument(
        `${driver}: ${describeUrl(url)}: query parameter "${old}" is the old name of "${key}", and both are given; give "${key}" alone`,
      );
    }
    raw[key] = value;
    if (key !== given) givenAs.set(key, given);
  }
  const query = parseWith(schema, raw, {
    what: () => `${driver}: ${describeUrl(url)}: query parameter`,
    fix: (key, example) => `add it, as in ${describeUrl(url)}?${key}=${example}`,
    named: (key) => givenAs.get(key) ?? key,
  });
  if (givenAs.size > 0) {
    const notes = [...givenAs].map(([name, old]) => ({ driver, old, name }));
    deprecatedIn.set(url, [...(deprecatedIn.get(url) ?? []), ...notes]);
  }
  return query;
}

/** A query parameter given by its old name, which {@link parseQuery} accepted. */
export interface DeprecatedParameter {
  /** The driver's scheme, or what it named itself in parseQuery. */
  driver: string;
  /** The name the URL gave. */
  old: string;
  /** The parameter's name in the vocabulary. */
  name: string;
}

const deprecatedIn = new WeakMap<URL, DeprecatedParameter[]>();

/**
 * The old parameter names {@link parseQuery} accepted in `url` since the last
 * call, for the mux to log; a second call returns none.
 */
export function takeDeprecatedParameters(url: URL): DeprecatedParameter[] {
  const notes = deprecatedIn.get(url) ?? [];
  deprecatedIn.delete(url);
  return notes;
}

/**
 * Validates driver options (the second argument of openTopic /
 * openSubscription) through `schema`. An unknown option is InvalidArgument
 * naming the supported ones, and the portable ones when the mux handed the
 * options over.
 */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, driver: string): z.output<S> {
  const portable = typeof options === "object" && options !== null ? portableKeysOf.get(options) : undefined;
  return parseWith(schema, options ?? {}, { what: () => `${driver}: option`, portable });
}

/**
 * The zod shape that validates a driver's options type `T`: a schema for
 * each of its keys, none missing and none more. Write the schema as
 * `z.object({ ... } satisfies OptionsShape<MyURLOptions>).strict()`, so that
 * the type applications compile against and what the driver accepts at run
 * time cannot drift apart.
 */
export type OptionsShape<T> = { [K in keyof T]-?: z.ZodType };

/** The portable options of the open call that left these driver options, for the message about an unknown one. */
const portableKeysOf = new WeakMap<object, readonly string[]>();

/**
 * Notes that `driverOptions` is what an open call left once it took its
 * portable options, `portable`: a driver that refuses one of them then
 * names the portable options too, which the user may have meant.
 */
export function notePortableOptions(driverOptions: object, portable: readonly string[]): void {
  portableKeysOf.set(driverOptions, portable);
}

interface ParseContext {
  /** What the message is about, such as `rabbit: option`. */
  what: () => string;
  /** How to give a missing required key: `example` stands for its value. */
  fix?: (key: string, example: string) => string;
  /** The portable option names, also accepted where the driver's options came from. */
  portable?: readonly string[] | undefined;
  /** The name a key was given by, in messages (an old name, for a key given by it); default: the key. */
  named?: (key: string) => string;
}

function parseWith<S extends z.ZodType>(schema: S, input: unknown, context: ParseContext): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const what = context.what();
  if (!issue) throw invalidArgument(`${what} is invalid`);
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => `"${k}"`).join(", ");
    const known = knownKeys(schema);
    const portable = context.portable ?? [];
    const near = issue.keys.length === 1 ? closestName(issue.keys[0] ?? "", [...known, ...portable]) : undefined;
    throw invalidArgument(
      `${what} ${keys} is not supported` +
        (known.length > 0 ? `; supported: ${known.join(", ")}` : "") +
        (portable.length > 0 ? `; portable options: ${portable.join(", ")}` : "") +
        (near === undefined ? "" : `; did you mean "${near}"?`),
    );
  }
  const [key] = issue.path;
  const named = context.named ?? ((k: string) => k);
  if (issue.path.length === 1 && typeof key === "string" && isMissing(input, key)) {
    const example = "expected" in issue && issue.expected === "string" ? "NAME" : "VALUE";
    throw invalidArgument(`${what} "${key}" is required${context.fix ? `: ${context.fix(key, example)}` : ""}`);
  }
  const path = issue.path.map((part, i) => (i === 0 && typeof part === "string" ? named(part) : String(part)));
  const name = path.length > 0 ? `"${path.join(".")}"` : "";
  throw invalidArgument(`${what} ${name} is invalid: ${issue.message}`);
}

/** Whether `key` is absent from `input` (or undefined there): zod then speaks of a wrong type, we of a missing key. */
function isMissing(input: unknown, key: string): boolean {
  if (typeof input !== "object" || input === null) return false;
  return !Object.hasOwn(input, key) || (input as Record<string, unknown>)[key] === undefined;
}

function knownKeys(schema: z.ZodType): string[] {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

/**
 * A URL as it may appear in a message: without its password, and without
 * its query and fragment, whose values may be secrets under any name (an
 * error about a parameter names the parameter itself).
 */
export function describeUrl(url: URL | string): string {
  const text = String(url);
  const query = text.search(/[?#]/);
  return redactUrl(query === -1 ? text : text.slice(0, query));
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration given as milliseconds (a number, or digits) or as a number
 * with a unit: "250ms", "5s", "2m", "1h". Returns milliseconds, or undefined
 * if `value` is not a duration.
 */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_MS[match[2] ?? "ms"] ?? 1);
}

const SIZE = /^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i;
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Parses a size given as bytes (a number, or digits) or with a unit: "512KiB", "1MB", "4MiB". Undefined if it is not one. */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = SIZE.exec(value.trim());
  if (!match) return undefined;
  const bytes = Number(match[1]) * (UNIT_BYTES[(match[2] ?? "b").toLowerCase()] ?? 1);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Bounds of a duration parameter, in ms. */
export interface DurationBounds {
  /** Whether 0 is allowed. Default false: a duration must be positive. */
  allowZero?: boolean;
  /** The largest value allowed, in ms. Default: none. */
  maxMs?: number;
}

const TRUE = new Set(["true", "1"]);
const FALSE = new Set(["false", "0"]);

/**
 * Builders of zod schemas for URL query parameters and driver options. Each
 * takes a string (from a URL) or the native type (from an options object).
 */
export const param = {
  /** A duration: milliseconds, or "500ms", "30s", "2m", "1h". Yields ms. */
  duration(bounds: DurationBounds = {}) {
    const { allowZero = false, maxMs = Number.POSITIVE_INFINITY } = bounds;
    const limit = Number.isFinite(maxMs) ? ` of at most ${maxMs} ms` : "";
    const message = `must be a ${allowZero ? "" : "positive "}duration${limit}, such as 500ms, 30s or 2m`;
    return z.unknown().transform((value, ctx) => {
      const ms = parseDurationMs(value);
      if (ms === undefined || (!allowZero && ms <= 0) || ms > maxMs) {
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
      }
      return ms;
    });
  },
  /** A boolean: true or false, also 1 or 0. */
  flag() {
    return z.unknown().transform((value, ctx) => {
      if (typeof value === "boolean") return value;
      const text = String(value);
      if (TRUE.has(text)) return true;
      if (FALSE.has(text)) return false;
      ctx.addIssue({ code: "custom", message: "must be true or false (or 1 or 0)" });
      return z.NEVER;
    });
  },
  /** A whole number from `min` to `max`. */
  int(min = 1, max = Number.MAX_SAFE_INTEGER) {
    return z.coerce
      .number({ message: "must be a whole number" })
      .int("must be a whole number")
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`);
  },
  /** A size in bytes: digits, or "512KiB", "1MB", "4MiB". Yields bytes. */
  byteSize(min = 1, max = Number.MAX_SAFE_INTEGER) {
    return z.unknown().transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === undefined || bytes < min || bytes > max) {
        ctx.addIssue({
          code: "custom",
          message: `must be a size from ${min} to ${max} bytes, such as 65536, 64KiB or 1MB`,
        });
        return z.NEVER;
      }
      return bytes;
    });
  },
  /** A non-empty name (of a group, a consumer, an exchange, a metadata key). */
  name() {
    return z.string().min(1, "must not be empty");
  },
};

/** How a driver names its resources in messages: `{ driver: "rabbit", kind: "queue" }`. */
export interface ResourceNaming {
  /** The driver's scheme, such as "rabbit". */
  driver: string;
  /** What the URL names, such as "exchange", "queue", "stream", "topic". */
  kind: string;
}

/**
 * The resource a URL names, percent-decoded: `scheme://NAME` (host and
 * path), or `scheme:///NAME` for a name that is not a valid host (one with a
 * colon or upper-case letters, which hosts lose). Bad percent-encoding, an
 * empty name, user information or a raw "@" (what credentials look like) is
 * InvalidArgument naming the URL and the expected form.
 */
export function resourceName(url: URL, naming: ResourceNaming): string {
  if (url.username || url.password || (url.host + url.pathname).includes("@")) {
    throw invalidArgument(
      `${naming.driver}: ${describeUrl(url)}: a ${naming.kind} URL takes no user name or password (write an "@" in a name as %40); ` +
        "credentials belong in the server URL",
    );
  }
  const raw = url.host ? url.host + url.pathname : url.pathname.replace(/^\//, "");
  const decoded = decodeName(
    raw,
    () => `${naming.driver}: ${describeUrl(url)} has a badly percent-encoded ${naming.kind} name`,
  );
  if (!decoded) {
    throw invalidArgument(
      `${naming.driver}: ${describeUrl(url)} names no ${naming.kind}; use ${naming.driver}://${naming.kind.toUpperCase()}`,
    );
  }
  return decoded;
}

/**
 * The URL of resource `name` of a scheme, which {@link resourceName} reads
 * back as `name`: `scheme://NAME` where the name is a plain host, else
 * `scheme:///NAME` percent-encoded. For a driver's `url` hook.
 */
export function resourceUrl(scheme: string, name: string): string {
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)
    ? `${scheme}://${name}`
    : `${scheme}:///${encodeURIComponent(name)}`;
}

/** Percent-decodes `text`; bad encoding is InvalidArgument with the message `describe()` gives. */
export function decodeName(text: string, describe: () => string): string {
  try {
    return decodeURIComponent(text);
  } catch (err) {
    throw invalidArgument(`${describe()}; escape "%" as %25`, err);
  }
}
