import type { z } from "zod";
import { invalidArgument, redactUrl } from "./errors.js";

/**
 * Reads a URL's query parameters through `schema`, for drivers. Every driver
 * validates its URLs this way, so errors read the same everywhere: an unknown
 * parameter, a repeated one, or a bad value is InvalidArgument naming it.
 * Build `schema` with `z.object({...}).strict()` and `z.coerce` for numbers.
 */
export function parseQuery<S extends z.ZodType>(url: URL, schema: S, driver: string): z.output<S> {
  const raw: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (key in raw) throw invalidArgument(`${driver}: query parameter "${key}" is given twice in ${describeUrl(url)}`);
    raw[key] = value;
  }
  return parseWith(schema, raw, `${driver}: ${describeUrl(url)}: query parameter`);
}

/** Validates driver options (the second argument of openTopic / openSubscription) through `schema`. */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, driver: string): z.output<S> {
  return parseWith(schema, options ?? {}, `${driver}: option`);
}

function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw invalidArgument(`${what} is invalid`);
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => `"${k}"`).join(", ");
    const known = knownKeys(schema);
    throw invalidArgument(`${what} ${keys} is not supported${known ? `; supported: ${known}` : ""}`);
  }
  const name = issue.path.length > 0 ? `"${issue.path.join(".")}"` : "";
  throw invalidArgument(`${what} ${name} is invalid: ${issue.message}`);
}

function knownKeys(schema: z.ZodType): string {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape).join(", ") : "";
}

/** A URL as it may appear in a message: without its password. */
export function describeUrl(url: URL | string): string {
  return redactUrl(String(url));
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration given as milliseconds (a number, or digits) or as a number
 * with a unit: "250ms", "5s", "2m", "1h". Returns milliseconds, or undefined
 * if `value` is not a duration. Drivers use it for timeouts in URLs.
 */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_MS[match[2] ?? "ms"] ?? 1);
}
