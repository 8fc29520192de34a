import type { PubSub } from "@google-cloud/pubsub";
import { decodeName, describeUrl, invalidArgument } from "@portable-pubsub/core/driver";

export type ResourceKind = "topics" | "subscriptions";

/** A topic or subscription, as a URL names it. */
export interface ResourceName {
  projectId: string;
  /** The topic or subscription id, without the project. */
  id: string;
  /** The full name: `projects/P/topics/T` or `projects/P/subscriptions/S`. */
  path: string;
}

// Pub/Sub's rule for topic and subscription ids.
const RESOURCE_ID = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const PROJECT_ID = /^[a-z0-9][a-z0-9\-.:]{0,99}$/;

const SINGULAR: Record<ResourceKind, string> = { topics: "topic", subscriptions: "subscription" };

/**
 * Reads `gcppubsub://projects/P/topics/T` or its short form `gcppubsub://P/T`
 * (subscriptions alike). Throws InvalidArgument naming the expected forms.
 */
export function parseResourceUrl(url: URL, kind: ResourceKind): ResourceName {
  const singular = SINGULAR[kind];
  const forms = `gcppubsub://projects/PROJECT/${kind}/${singular.toUpperCase()} or gcppubsub://PROJECT/${singular.toUpperCase()}`;
  const segments = `${url.host}${url.pathname}`
    .split("/")
    .map((s) => decodeName(s, () => `gcppubsub: ${describeUrl(url)} has a malformed %-escape`));
  let projectId: string | undefined;
  let id: string | undefined;
  if (segments.length === 4 && segments[0] === "projects") {
    if (segments[2] !== kind) {
      throw invalidArgument(
        `gcppubsub: ${describeUrl(url)} names ${segments[2] === "topics" ? "a topic" : segments[2] === "subscriptions" ? "a subscription" : `"${segments[2]}"`} where a ${singular} is needed; use ${forms}`,
      );
    }
    [, projectId, , id] = segments;
  } else if (segments.length === 2) {
    [projectId, id] = segments;
  }
  if (projectId === undefined || id === undefined) {
    throw invalidArgument(`gcppubsub: ${describeUrl(url)} is not a ${singular} URL; use ${forms}`);
  }
  checkProject(projectId, `gcppubsub: ${describeUrl(url)}`);
  checkId(id, singular, `gcppubsub: ${describeUrl(url)}`);
  return { projectId, id, path: `projects/${projectId}/${kind}/${id}` };
}

/**
 * The full name of `name` in `pubsub`'s project: `name` itself when it is
 * already `projects/P/KIND/ID`. The project may still be the client's
 * `{{projectId}}` placeholder, which `resolveProject` fills in once known.
 */
export function resourcePath(pubsub: PubSub, name: string, kind: ResourceKind): string {
  const singular = SINGULAR[kind];
  if (typeof name !== "string" || name === "") {
    throw invalidArgument(`gcppubsub: the ${singular} name must be a non-empty string`);
  }
  const parts = name.split("/");
  if (parts[0] === "projects") {
    if (parts.length !== 4 || parts[2] !== kind) {
      throw invalidArgument(
        `gcppubsub: ${singular} name "${name}" must be projects/PROJECT/${kind}/${singular.toUpperCase()} or a bare ${singular} id`,
      );
    }
    checkProject(parts[1] as string, `gcppubsub: ${singular} name "${name}"`);
    checkId(parts[3] as string, singular, `gcppubsub: ${singular} name "${name}"`);
    return name;
  }
  checkId(name, singular, `gcppubsub: ${singular} name "${name}"`);
  return `projects/${pubsub.projectId}/${kind}/${name}`;
}

/** Replaces the client library's `{{projectId}}` placeholder with the resolved project. */
export function resolveProject(path: string, projectId: string): string {
  return path.replace("{{projectId}}", projectId);
}

function checkProject(projectId: string, where: string): void {
  if (!PROJECT_ID.test(projectId)) {
    throw invalidArgument(
      `${where}: "${projectId}" is not a Google Cloud project id (lower-case letters, digits and hyphens)`,
    );
  }
}

function checkId(id: string, singular: string, where: string): void {
  if (!RESOURCE_ID.test(id) || id.toLowerCase().startsWith("goog")) {
    throw invalidArgument(
      `${where}: "${id}" is not a valid ${singular} id: 3 to 255 characters, starting with a letter, of letters, digits and - _ . ~ + %, not starting with "goog"`,
    );
  }
}
