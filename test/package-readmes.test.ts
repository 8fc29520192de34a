// What npm shows of each package: the application guide generated into core's README, and no README or guide
// whose relative links lead nowhere once the package is installed.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { coreReadme, DRIVER_GUIDE, DRIVER_GUIDE_COPY, driverGuideCopy, TARGET } from "../scripts/readme-core.mjs";
import { linksMissingFrom } from "./packaging/readme-links.js";
import { publicPackages, ROOT } from "./packaging/workspace.js";

const exec = promisify(execFile);

/** The files `npm pack` puts in the package's tarball, paths inside the package. */
async function tarballContents(dir: string): Promise<string[]> {
  const { stdout } = await exec("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: join(ROOT, dir) });
  const [report] = JSON.parse(stdout) as { files: { path: string }[] }[];
  return (report?.files ?? []).map((f) => f.path);
}

describe("package READMEs", () => {
  it("core's README is the repository's README as scripts/readme-core.mjs makes it", async () => {
    const committed = await readFile(join(ROOT, TARGET), "utf8");
    const generated = coreReadme(await readFile(join(ROOT, "README.md"), "utf8"));
    expect(committed === generated, `${TARGET} is out of date with README.md: run \`pnpm readme\` and commit it`).toBe(
      true,
    );
  });

  it("conformance ships the driver authors' guide, as scripts/readme-core.mjs copies it from core", async () => {
    const committed = await readFile(join(ROOT, DRIVER_GUIDE_COPY), "utf8");
    const source = await readFile(join(ROOT, DRIVER_GUIDE), "utf8");
    expect(
      committed === driverGuideCopy(source),
      `${DRIVER_GUIDE_COPY} is out of date with ${DRIVER_GUIDE}: run \`pnpm readme\` and commit it`,
    ).toBe(true);
    expect(committed).toMatch(
      /^<!-- A copy of packages\/core\/WRITING-A-DRIVER\.md.*-->\n# Writing a driver for portable-pubsub\n/,
    );
    expect(() => driverGuideCopy("see [the contract](src/driver/driver.ts)")).toThrow(/relative links/);
  });

  it("core's README has no relative link and keeps its anchors", async () => {
    const guide = await readFile(join(ROOT, TARGET), "utf8");
    expect(linksMissingFrom("README.md", guide, [])).toEqual([]);
    expect(guide).toContain("(#delivery-semantics)");
    expect(guide).toContain(
      "https://github.com/portable-pubsub/portable-pubsub/blob/main/packages/core/WRITING-A-DRIVER.md",
    );
    expect(guide).not.toContain("pnpm@10.34.8 install --frozen-lockfile");
  });

  it("link only to files their package's tarball holds", async () => {
    const broken: string[] = [];
    const markdown: string[] = [];
    for (const { dir } of await publicPackages()) {
      const contents = await tarballContents(dir);
      // Every Markdown file the tarball holds, and the README, which npm always packs.
      for (const file of new Set(["README.md", ...contents.filter((f) => f.endsWith(".md"))])) {
        markdown.push(`${dir}/${file}`);
        const text = await readFile(join(ROOT, dir, file), "utf8");
        broken.push(...linksMissingFrom(file, text, contents).map((link) => `${dir}/${link}`));
      }
    }
    expect(markdown).toContain("packages/core/WRITING-A-DRIVER.md");
    expect(markdown).toContain("conformance/README.md");
    expect(markdown).toContain("conformance/WRITING-A-DRIVER.md");
    expect(
      broken,
      "make these links absolute (https://github.com/portable-pubsub/portable-pubsub/blob/main/PATH)",
    ).toEqual([]);
  }, 60_000);
});
