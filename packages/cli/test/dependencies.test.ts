// The command depends on the in-process driver only: every broker driver is an optional peer, installed by the
// user for the brokers they use (the packaging test installs the command with and without them and runs its bin).
import { readFileSync } from "node:fs";
import { builtinDrivers } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";

const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const MEMORY = "@portable-pubsub/driver-memory";
const driversIn = (deps: Record<string, string> | undefined) =>
  Object.keys(deps ?? {})
    .filter((name) => name.startsWith("@portable-pubsub/driver-"))
    .sort();

it("depends on the mem:// driver, and has every other built-in scheme's driver as an optional peer", () => {
  expect(builtinDrivers.mem).toBe(MEMORY);
  const brokers = Object.values(builtinDrivers)
    .filter((name) => name !== MEMORY)
    .sort();
  expect(driversIn(manifest.dependencies)).toEqual([MEMORY]);
  expect(driversIn(manifest.peerDependencies)).toEqual(brokers);
  for (const name of brokers) expect(manifest.peerDependenciesMeta[name], name).toEqual({ optional: true });
  // The workspace's own tests use every driver.
  expect(driversIn(manifest.devDependencies)).toEqual(brokers);
});
