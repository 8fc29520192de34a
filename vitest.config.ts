import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Broker-backed suites share one broker per machine; files run one at a time so fault
    // injection in one (cutting connections, restarting the broker) cannot disturb another.
    fileParallelism: false,
    reporters: process.env.CI ? ["default"] : ["default"],
  },
});
