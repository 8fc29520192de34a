#!/usr/bin/env node
/**
 * Generates packages/core/README.md, the application guide that npm shows for @portable-pubsub/core, from the
 * repository's README.md, which stays the one source: `pnpm readme`. What changes on the way: a header saying
 * so, an "Install" section in place of the Quick start (whose commands need a clone), no "Development" section
 * (it is about the repository), and every relative link made absolute, since none of those files is in the
 * package. test/readme-core.test.ts fails when the committed copy is out of date.
 *
 * It also copies the driver authors' guide, packages/core/WRITING-A-DRIVER.md, into the conformance package
 * (DRIVER_GUIDE_COPY), so that both packages driver authors install ship it; test/package-readmes.test.ts fails
 * when that copy is out of date too.
 *
 * `node scripts/readme-core.mjs` writes the files; with `--stdout` it prints core's README instead.
 */
import { statSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { isRelative, linkTargets, mapLinks } from "./markdown-links.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const REPOSITORY = "https://github.com/portable-pubsub/portable-pubsub";
const BRANCH = "main";
export const TARGET = "packages/core/README.md";
/** The driver authors' guide, the one source. */
export const DRIVER_GUIDE = "packages/core/WRITING-A-DRIVER.md";
/** Its copy in the conformance package. */
export const DRIVER_GUIDE_COPY = "conformance/WRITING-A-DRIVER.md";

const HEADER = `<!-- Generated from the repository's README.md by \`pnpm readme\` (scripts/readme-core.mjs); edit that file, not this one. -->
# @portable-pubsub/core

The application guide of [portable-pubsub](${REPOSITORY}), the same as the repository's README.
Writing a driver instead? See [Writing a driver](${REPOSITORY}/blob/${BRANCH}/packages/core/WRITING-A-DRIVER.md).
`;

const INSTALL = `## Install

Core, and the driver package of each broker you use (Node 20.19+, 22.12+ or 24):

\`\`\`sh
npm install @portable-pubsub/core @portable-pubsub/driver-rabbit
\`\`\`

The drivers are \`@portable-pubsub/driver-memory\` (\`mem://\`), \`-rabbit\`, \`-redis\` (\`redisstream://\`), \`-gcp\`
(\`gcppubsub://\`) and \`-nats\`; see [Packages](#packages). The demo and the test suite run from a clone of the
repository: see its [Quick start](${REPOSITORY}#quick-start).

`;

/** Sections replaced (by name) or left out (null) in the copy. */
const REPLACED = new Map([
  ["Quick start", INSTALL],
  ["Development", null],
]);

/**
 * The guide for npm, from the text of the repository's README.
 * @param {string} readme
 * @returns {string}
 */
export function coreReadme(readme) {
  const [title, ...sections] = splitSections(readme);
  const intro = (title ?? "").replace(/^# .*\n/, "");
  const kept = sections.map((section) => {
    const name = /^## (.*)/.exec(section)?.[1]?.trim() ?? "";
    return REPLACED.has(name) ? (REPLACED.get(name) ?? "") : section;
  });
  const text = `${HEADER}${intro}${kept.join("")}`.replace(/\n{3,}/g, "\n\n").trimEnd();
  return `${mapLinks(text, absolute)}\n`;
}

/**
 * The conformance package's copy of the driver authors' guide: the same text under a line that says where it
 * comes from. The guide's links are absolute, so they work from either package; a relative one fails here.
 * @param {string} guide
 * @returns {string}
 */
export function driverGuideCopy(guide) {
  const relative = linkTargets(guide).filter(isRelative);
  if (relative.length > 0) {
    throw new Error(`${DRIVER_GUIDE} has relative links, which break in the packages: ${relative.join(", ")}`);
  }
  return `<!-- A copy of ${DRIVER_GUIDE}, made by \`pnpm readme\` (scripts/readme-core.mjs); edit that file, not this one. -->\n${guide}`;
}

/** The README's title block, then each `## ` section with its text, split outside code fences. */
function splitSections(markdown) {
  const sections = [""];
  let fence;
  for (const line of markdown.split(/(?<=\n)/)) {
    const marker = /^\s*(```|~~~)/.exec(line)?.[1];
    if (fence === undefined && marker !== undefined) fence = marker;
    else if (fence !== undefined && marker === fence) fence = undefined;
    else if (fence === undefined && line.startsWith("## ")) sections.push("");
    sections[sections.length - 1] += line;
  }
  return sections;
}

/**
 * A link relative to the repository's root, as one that works anywhere: a folder as a tree, a file as a blob, and
 * an image (the benchmark charts) as the blob's raw bytes, which is what an image on npm's page needs.
 */
function absolute(target) {
  if (!isRelative(target)) return target;
  const [path = "", anchor] = target.split("#", 2);
  const clean = path.replace(/^\.\//, "").replace(/\/$/, "");
  let isFolder = false;
  try {
    isFolder = statSync(`${ROOT}/${clean}`).isDirectory();
  } catch {
    throw new Error(`README.md links to ${target}, which is not in the repository`);
  }
  const url = clean === "" ? REPOSITORY : `${REPOSITORY}/${isFolder ? "tree" : "blob"}/${BRANCH}/${clean}`;
  const raw = /\.(svg|png)$/.test(clean) ? "?raw=true" : "";
  return anchor === undefined ? `${url}${raw}` : `${url}${raw}#${anchor}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const guide = coreReadme(await readFile(`${ROOT}/README.md`, "utf8"));
  if (process.argv.includes("--stdout")) process.stdout.write(guide);
  else {
    await writeFile(`${ROOT}/${TARGET}`, guide);
    await writeFile(`${ROOT}/${DRIVER_GUIDE_COPY}`, driverGuideCopy(await readFile(`${ROOT}/${DRIVER_GUIDE}`, "utf8")));
  }
}
