// `pnpm test`: the whole suite, its vitest projects (vitest.config.ts) in lanes side by side. A project's files
// share a server and run one at a time; projects touch different servers, so they need not wait for each other,
// and most of the suite's time is spent waiting on brokers and timers, not on the CPU. vitest itself runs the
// projects of one group with one worker limit for all (one file at a time, for the whole suite), hence one vitest
// process per project here. Each project's output is printed when it ends; the exit code is the first failure's.
// With arguments (a file, -t NAME, --project X), this is plain `vitest run` with them.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const vitest = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));
const args = process.argv.slice(2);

/**
 * Lanes of projects run side by side, a lane's projects one after another: at most three vitest processes at once
 * on a small machine. The longest projects start first. Then the projects that use several shared servers, beside
 * the heavy ones, once the others are done.
 */
const STAGES = [
  [["gcp", "local"], ["rabbit"], ["nats", "redis", "pg"]],
  [["several servers"], ["heavy"]],
];

if (args.length > 0) {
  process.exitCode = (await run(args, "inherit")).code;
} else {
  const started = Date.now();
  const failed = [];
  const failureReports = [];
  for (const lanes of STAGES) {
    await Promise.all(
      lanes.map(async (lane) => {
        for (const project of lane) {
          // A project may have no files left (PUBSUB_SKIP_FAULT_TESTS=1 leaves "heavy" empty): that is a pass.
          const { code, output } = await run(["--project", project, "--passWithNoTests"], "pipe", project);
          if (code !== 0) {
            failed.push(project);
            failureReports.push(`===== what failed in project "${project}" =====\n${failuresIn(output)}`);
          }
        }
      }),
    );
  }
  // Repeated last: a CI log is often read from its tail, and a failure would otherwise be hundreds of lines up.
  for (const report of failureReports) process.stdout.write(`\n${report}\n`);
  const seconds = Math.round((Date.now() - started) / 1000);
  console.log(
    failed.length === 0
      ? `test: every project passed in ${seconds} s`
      : `test: failed in ${failed.map((p) => `"${p}"`).join(", ")} (${seconds} s)`,
  );
  process.exitCode = failed.length === 0 ? 0 : 1;
}

/**
 * Runs `vitest run` with `vitestArgs`; with "pipe", prints its output, under a heading, once it exits. Resolves
 * with the exit code and, with "pipe", the output.
 */
function run(vitestArgs, stdio, project) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vitest, "run", ...vitestArgs], {
      stdio: stdio === "inherit" ? "inherit" : ["ignore", "pipe", "pipe"],
      env: process.env,
    });
    const output = [];
    child.stdout?.on("data", (chunk) => output.push(chunk));
    child.stderr?.on("data", (chunk) => output.push(chunk));
    child.on("close", (code, signal) => {
      const text = Buffer.concat(output).toString("utf8");
      if (project !== undefined) {
        process.stdout.write(`\n===== project "${project}" (exit ${code ?? signal}) =====\n`);
        process.stdout.write(text);
      }
      resolve({ code: code ?? 1, output: text });
    });
  });
}

/**
 * vitest's report of what failed (from its "Failed Tests" heading to the summary), without colours; or, where
 * there is none (a crash, an error outside tests), the last 60 lines of the output.
 */
function failuresIn(output) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes are what this strips
  const plain = output.replace(/\u001b\[[0-9;]*m/g, "");
  const start = plain.search(/⎯+ (Failed Tests|Unhandled Errors?|Failed Suites) /);
  const end = plain.lastIndexOf(" Test Files ");
  if (start >= 0) return plain.slice(start, end > start ? end : undefined).trim();
  return plain.split("\n").slice(-60).join("\n");
}
