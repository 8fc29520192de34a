// The command keeps every built-in driver as a dependency, so that `npx @portable-pubsub/cli` works for every
// scheme (the packaging test installs it from its tarball and runs it).
import { readFileSync } from "node:fs";
import { builtinDrivers } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";

it("depends on the driver package of every built-in scheme", () => {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  const drivers = Object.keys(manifest.dependencies).filter((name) => name.startsWith("@portable-pubsub/driver-"));
  expect(drivers.sort()).toEqual(Object.values(builtinDrivers).sort());
});
