// `pnpm bench`: runs every package's benchmarks (packages/*/benchmarks/*.mjs), one at a time,
// each in its own process. `pnpm bench mem rabbit` runs only packages whose name contains a word.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);
let failed = 0;
for (const pkg of readdirSync(join(root, "packages")).sort()) {
  const dir = join(root, "packages", pkg, "benchmarks");
  if (!existsSync(dir)) continue;
  if (filters.length > 0 && !filters.some((f) => pkg.includes(f))) continue;
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".mjs"))
    .sort()) {
    console.log(`\n=== ${pkg}/benchmarks/${file}`);
    const result = spawnSync(process.execPath, ["--expose-gc", join(dir, file)], { stdio: "inherit", cwd: root });
    if (result.status !== 0) failed++;
  }
}
process.exit(failed === 0 ? 0 : 1);
