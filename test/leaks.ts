/**
 * Where a password could leak from an error: its message, its stack, every
 * `cause` down the chain (message, stack and any own field, such as the
 * `input` of Node's URL error) and `util.inspect`, which is what
 * `console.error(err)` prints. Shared by the URL tests of the drivers and the
 * corpus and fuzz tests at the root.
 */
import { inspect } from "node:util";

/** Every text of `err` a user could see: message, stack, inspected form, for it and each cause. */
export function errorTexts(err: unknown): string[] {
  const texts = [inspect(err, { depth: 10, showHidden: true })];
  const seen = new Set<unknown>();
  for (let current: unknown = err; current !== undefined && current !== null; ) {
    if (seen.has(current)) break;
    seen.add(current);
    if (typeof current !== "object") {
      texts.push(String(current));
      break;
    }
    const error = current as { message?: unknown; stack?: unknown; cause?: unknown };
    texts.push(String(error.message), String(error.stack));
    for (const value of Object.values(current)) if (typeof value === "string") texts.push(value);
    current = error.cause;
  }
  return texts;
}

/**
 * The first of `secrets` that appears in any text of `err`, in the form
 * planted or percent-encoded (as a parsed URL prints it), or undefined.
 */
export function leakedSecret(err: unknown, secrets: readonly string[]): string | undefined {
  const texts = errorTexts(err);
  for (const secret of secrets) {
    const forms = new Set([secret, encodeURIComponent(secret), secret.replaceAll(" ", "%20")]);
    for (const form of forms) if (texts.some((text) => text.includes(form))) return secret;
  }
  return undefined;
}

/** Awaits `work` and returns what it rejected with; fails if it resolved. */
export async function rejectionOf(work: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof work === "function" ? work() : work);
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection, but it succeeded");
}
