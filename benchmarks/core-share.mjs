// Core's own CPU per message: mem:// and rabbit:// end to end (send with 1,000 in flight, `for await` with
// ack), profiled with V8's CPU profiler (node:inspector) around the measured run only, each sample's self
// time given to the code it was in: packages/core (the portable layer), the driver, the broker client
// (node_modules), Node's own code, the garbage collector, the rest (the harness, V8's idle and program).
// The profile gives each group's share of the samples (a sample's time is wall time: on a shared machine
// a descheduled process's time lands on whatever ran next, which shares fairly but says nothing absolute);
// the run's CPU time (process.cpuUsage, which counts V8's helper threads too) is split by those shares,
// and printed in µs per message. Inlined functions count for the function they were inlined into, and the
// collector's time belongs to everyone, so core's figure is a floor of what core costs, not a ceiling.
// With --baseline-dir DIR, the same runs measure a built checkout of your own too (such as main), alternating.
// Words as in `pnpm bench`: "mem" or "rabbit" runs that broker only (rabbit needs RABBIT_SERVER_URL's broker,
// default the local one). Options: --messages-mem N (default 200000), --messages-rabbit N (20000), --rounds R (3),
// --functions K: also core's K costliest functions by self time, in the same µs per message.
// --perf: the same runs attributed by Linux perf's on-CPU samples instead of V8's profiler (see
// perf-samples.mjs: V8's samples are wall time and gave the code that runs after a wait the wait's time); its
// groups are core, driver, client, node, native (the main thread outside JavaScript: the event loop, the
// collector's steps between tasks) and threads (V8's helper threads: the concurrent collector and compiler);
// a second table reads the same samples with Node's own JavaScript counted for the code that called it (a
// timer core sets, a microtask it queues), "node" keeping only what Node's event loop does on its own.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { attribute, checkPerf, perfNodeFlags, recordOnCpu } from "./perf-samples.mjs";

const here = fileURLToPath(import.meta.url);
const root = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const PERF = args.includes("--perf");
const GROUPS = PERF
  ? ["core", "driver", "client", "node", "native", "threads", "other"]
  : ["core", "driver", "client", "node", "gc", "other"];
/** Options without a value. */
const FLAGS = ["--perf"];

if (args[0] === "--child") await child(args[1], args[2], Number(args[3]));
else await parent();

async function parent() {
  const takesValue = (a) => a?.startsWith("--") && !FLAGS.includes(a);
  const words = args.filter((a, i) => !a.startsWith("--") && !takesValue(args[i - 1]));
  const known = ["mem", "rabbit"];
  const chosen = words.filter((w) => known.includes(w));
  // `pnpm bench` passes its words on: run only when one names this benchmark's brokers, or none names a package.
  if (words.length > 0 && chosen.length === 0 && !words.includes("core-share")) return;
  const brokers = chosen.length > 0 ? chosen : known;
  const rounds = Number(option("--rounds", "3"));
  const dir = option("--baseline-dir", undefined);
  const top = Number(option("--functions", "0"));
  if (PERF) checkPerf();
  const contenders = [{ name: "this checkout", root }, ...(dir ? [{ name: `baseline (${dir})`, root: dir }] : [])];
  // With --perf, the same samples are also read with Node's own JavaScript counted for its caller (see perf-samples.mjs).
  const views = PERF ? ["own", "byCaller"] : ["own"];
  for (const broker of brokers) {
    const n = Number(option(`--messages-${broker}`, broker === "mem" ? "200000" : "20000"));
    const sums = views.map(() => contenders.map(() => Object.fromEntries(GROUPS.map((g) => [g, 0]))));
    const functions = views.map(() => contenders.map(() => ({})));
    for (let r = 0; r < rounds; r++) {
      for (const [i, c] of contenders.entries()) {
        const run = PERF ? await perfRun(c, broker, n) : profiledRun(c, broker, n);
        for (const [v, view] of views.entries()) {
          const us = view === "own" ? run : run.byCaller;
          for (const g of GROUPS) sums[v][i][g] += (us[g] ?? 0) / rounds;
          for (const [fn, t] of Object.entries(us.functions)) {
            functions[v][i][fn] = (functions[v][i][fn] ?? 0) + t / rounds;
          }
        }
      }
    }
    for (const [v, view] of views.entries()) {
      const how = view === "own" ? "" : ", Node's JavaScript counted for the code that called it";
      console.log(
        `\ncore's share, ${broker}:// for-await+ack, ${n} messages a run, ${rounds} rounds${how}, µs per message:`,
      );
      console.log(`${"contender".padEnd(28)} | ${GROUPS.map((g) => g.padStart(6)).join(" | ")} |  total | core share`);
      for (const [i, c] of contenders.entries()) {
        const us = sums[v][i];
        const total = GROUPS.reduce((t, g) => t + us[g], 0);
        const cells = GROUPS.map((g) => us[g].toFixed(2).padStart(6)).join(" | ");
        console.log(
          `${c.name.slice(0, 28).padEnd(28)} | ${cells} | ${total.toFixed(2).padStart(6)} | ${((100 * us.core) / total).toFixed(0)}%`,
        );
      }
      if (top === 0) continue;
      for (const [i, c] of contenders.entries()) {
        console.log(`\n${c.name}: core's ${top} costliest functions${how}, µs per message (self time)`);
        const ranked = Object.entries(functions[v][i]).sort((a, b) => b[1] - a[1]);
        for (const [fn, t] of ranked.slice(0, top)) console.log(`  ${t.toFixed(3).padStart(6)}  ${fn}`);
      }
    }
  }
}

/** The arguments that make this script a child measuring `c` on `broker` over `n` messages. */
function childArgs(c, broker, n) {
  return [here, "--child", broker, c.root, String(n)];
}

/** One child run, profiled by V8's profiler inside it (see the file's comment). */
function profiledRun(c, broker, n) {
  const out = spawnSync(process.execPath, childArgs(c, broker, n), {
    encoding: "utf8",
    cwd: root,
  });
  if (out.status !== 0) throw new Error(`${c.name} failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split("\n").at(-1));
}

/**
 * One child run recorded by perf: the child warms up, says "ready" and waits for a line on its stdin;
 * perf attaches, and the measured run starts once it records.
 */
async function perfRun(c, broker, n) {
  const file = join(tmpdir(), `core-share-${process.pid}-${Date.now()}.perf`);
  const node = spawn(process.execPath, [...perfNodeFlags(file), ...childArgs(c, broker, n), "--perf"], {
    cwd: root,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(node, "exit");
  const lines = createInterface({ input: node.stdout });
  let stop;
  let done;
  for await (const line of lines) {
    if (line === "ready") {
      stop = recordOnCpu(node.pid, file);
      // perf needs a moment to attach to every thread.
      await new Promise((r) => setTimeout(r, 300));
      node.stdin.write("go\n");
    } else if (line === "done") {
      done = true;
      break;
    }
  }
  const [code] = await exited;
  await stop?.();
  if (!done || code !== 0) throw new Error(`${c.name} failed (exit ${code})`);
  const { groups, functions, byCaller } = attribute(file, node.pid, n, (url) => group(url, ""), "core");
  return { ...groups, functions, byCaller: { ...byCaller.groups, functions: byCaller.functions } };
}

/** The code a profile sample was in, by its script's URL. */
function group(url, name) {
  if (name === "(idle)") return undefined; // waiting for the broker: nobody's CPU
  if (name === "(garbage collector)") return "gc";
  if (url.includes("/packages/core/dist/")) return "core";
  if (/\/packages\/driver-[^/]+\/dist\//.test(url)) return "driver";
  if (url.includes("/node_modules/")) return "client";
  if (url.startsWith("node:")) return "node";
  return "other";
}

async function child(broker, codeRoot, n) {
  const { Session } = await import("node:inspector/promises");
  const { sendWindowed, pairOpener } = await import(pathToFileURL(join(root, "benchmarks/lib.mjs")).href);
  const body = new Uint8Array(100).fill(120);
  const open = await pairOpener(broker, codeRoot, "pps-bench-core-share");
  const runOnce = async (count) => {
    const { topic, subscription, close } = await open();
    const sending = sendWindowed(count, 1000, () => topic.send({ body }));
    let received = 0;
    for await (const message of subscription) {
      message.ack();
      if (++received === count) break;
    }
    await sending;
    await subscription.shutdown();
    await topic.shutdown();
    await close();
  };
  await runOnce(Math.min(n, 100_000)); // warm-up, unprofiled
  if (PERF) {
    console.log("ready");
    for await (const line of createInterface({ input: process.stdin })) if (line === "go") break;
    await runOnce(n);
    console.log("done");
    process.stdin.destroy();
    return;
  }
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 100 });
  await session.post("Profiler.start");
  const cpu = process.cpuUsage();
  await runOnce(n);
  const used = process.cpuUsage(cpu);
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const us = Object.fromEntries(GROUPS.map((g) => [g, 0]));
  // Core's time by function too (file:function), for --functions.
  const functions = {};
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byId.get(profile.samples[i]).callFrame;
    const g = group(frame.url, frame.functionName);
    if (!g) continue;
    const dt = profile.timeDeltas[i] ?? 0;
    us[g] += dt;
    if (g !== "core") continue;
    const key = `${frame.url.slice(frame.url.indexOf("/dist/") + 6)}:${frame.functionName || "(anonymous)"}`;
    functions[key] = (functions[key] ?? 0) + dt;
  }
  const sampled = GROUPS.reduce((t, g) => t + us[g], 0);
  const cpuUs = (used.user + used.system) / n;
  // Sampled time to µs per message: the run's CPU time split by the samples' shares.
  for (const g of GROUPS) us[g] = (us[g] / sampled) * cpuUs;
  for (const key of Object.keys(functions)) functions[key] = (functions[key] / sampled) * cpuUs;
  console.log(JSON.stringify({ ...us, functions }));
}
