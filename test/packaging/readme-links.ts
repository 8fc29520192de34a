/** The links of a package's Markdown files that break once the package is installed from npm. */
import { posix } from "node:path";
import { isRelative, linkTargets } from "../../scripts/markdown-links.mjs";

/**
 * The relative links of `markdown` (the file `file` of a package, a path inside the package) whose target is not
 * among `contents`, the package's files as its tarball holds them (paths inside the package, `/`-separated).
 * A link to a folder holds when the tarball has a file inside it. Each is given as `file: target`.
 */
export function linksMissingFrom(file: string, markdown: string, contents: readonly string[]): string[] {
  const files = new Set(contents);
  const broken: string[] = [];
  for (const target of linkTargets(markdown).filter(isRelative)) {
    const path = decodeURIComponent(target.split(/[#?]/, 1)[0] ?? "");
    if (path === "") continue;
    const inside = posix.normalize(posix.join(posix.dirname(file), path)).replace(/\/$/, "");
    const found = files.has(inside) || contents.some((f) => f.startsWith(`${inside}/`));
    if (inside.startsWith("..") || !found) broken.push(`${file}: ${target}`);
  }
  return broken;
}
