/**
 * Schemas: any Standard Schema v1 (zod 4, valibot, arktype and others
 * implement it). Core depends on the spec's types only, never on a schema
 * library.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";

export type { StandardSchemaV1 };

/** The type a schema accepts: what a typed `send` takes as `data`. */
export type SchemaInput<S extends StandardSchemaV1> = StandardSchemaV1.InferInput<S>;

/** The type a schema produces, transforms applied: what a typed message's `data` is. */
export type SchemaOutput<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>;

/**
 * The type parameter of a Topic or Subscription opened with a `codec` and no
 * `schema`: typed (`send({ data })`, `msg.data`), its data `unknown`.
 */
export type AnyData = StandardSchemaV1<unknown, unknown>;

/**
 * The type parameter of an untyped Topic or Subscription, the default: any
 * typing at all, so that a typed one can be passed where a plain `Topic` or
 * `Subscription` is expected (to shut it down, to watch its health); its
 * `send` takes bytes and its messages are plain `Message`s.
 */
export type Untyped = StandardSchemaV1 | undefined;

/** True for a Standard Schema v1. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const props = (value as { "~standard"?: { version?: unknown; validate?: unknown } } | null | undefined)?.[
    "~standard"
  ];
  return typeof props === "object" && props !== null && props.version === 1 && typeof props.validate === "function";
}

/**
 * Issues in one line: each issue's path and message, `qty: Expected number;
 * items[0].id: Required`; an issue without a path is the value's own.
 */
export function formatIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues.map((issue) => `${pathOf(issue.path)}: ${issue.message}`).join("; ");
}

function pathOf(path: StandardSchemaV1.Issue["path"]): string {
  if (path === undefined || path.length === 0) return "(value)";
  let out = "";
  for (const segment of path) {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment;
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "symbol") out += `[${String(key)}]`;
    else out += out === "" ? key : `.${key}`;
  }
  return out;
}
