// On-CPU attribution with Linux perf, for core-share.mjs --perf: the kernel samples the process only while
// one of its threads runs, so a sample is CPU time, never a wait. V8's own profiler samples on a clock: when
// the process is descheduled (RabbitMQ shares its two cores) or its sampler thread starves, the time since the
// last sample lands on whatever runs next, which is the code that runs just after a wait (a wake-up, a
// resolved send), and it inflated core there by a quarter to a half.
//
// The child runs with --perf-basic-prof (V8 writes /tmp/perf-PID.map, naming its JIT code) and
// --interpreted-frames-native-stack (interpreted functions get frames of their own), and perf records call
// chains by frame pointers, which V8's frames and Node's binary keep. Each sample of the main thread goes to
// the innermost JavaScript frame of its chain, with the native code it called (builtins, the runtime, the
// allocations' collector steps, system calls); one without any is "native" (the event loop, the collector
// between tasks); a sample of another thread (V8's concurrent collector and compiler) is "threads".
import { spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";

/**
 * Node's flags for a process to be recorded into `file`, whose samples `attribute` can then name. V8's log,
 * which --perf-basic-prof turns on, goes beside `file` instead of into the working directory.
 */
export function perfNodeFlags(file) {
  return [
    "--perf-basic-prof",
    "--interpreted-frames-native-stack",
    "--no-logfile-per-isolate",
    `--logfile=${file}.v8log`,
  ];
}

/** Sampling frequency, in Hz: each sample stands for 1e6 / FREQUENCY µs of CPU. */
const FREQUENCY = 10_000;

/** Fails with how to get perf when it is missing. */
export function checkPerf() {
  const probe = spawnSync("perf", ["--version"], { encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error("--perf needs Linux perf on the PATH (Debian: apt-get install linux-perf) and the right to record");
  }
}

/** Starts recording process `pid` into `file`; the returned function stops it and resolves once the file is written. */
export function recordOnCpu(pid, file) {
  const perf = spawn(
    "perf",
    ["record", "-g", "-e", "cpu-clock", "-F", String(FREQUENCY), "-p", String(pid), "-o", file],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  perf.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve, reject) => {
    perf.on("error", reject);
    perf.on("exit", (code, signal) => {
      if (code === 0 || signal === "SIGINT" || code === 130) resolve();
      else reject(new Error(`perf record exited with ${code ?? signal}: ${stderr}`));
    });
  });
  // Observed here, so that perf failing before `stop` is called is reported by `stop`, not as an unhandled rejection.
  exited.catch(() => {});
  return async () => {
    perf.kill("SIGINT");
    await exited;
  };
}

/**
 * µs of CPU per message of each group, from the recording `file` of process `pid` over `messages`
 * messages: `classify(url)` names the group of a JavaScript frame's script; "native" and "threads" as above.
 * With `functionsOf` a group name, also that group's functions, by "script:function". Removes the recording,
 * V8's log and V8's map of the process's code.
 * `byCaller` is the same samples with Node's own JavaScript (group "node") counted for the code that called
 * it: a timer that core sets, an AbortSignal listener it adds, a microtask it queues cost core, while what
 * Node's event loop does on its own (a socket's read, a timer list's dispatch) stays "node".
 */
export function attribute(file, pid, messages, classify, functionsOf) {
  const script = spawnSync("perf", ["script", "-i", file, "-F", "pid,tid,ip,sym"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr}`);
  for (const done of [file, `${file}.v8log`, `/tmp/perf-${pid}.map`]) rmSync(done, { force: true });
  const own = { groups: {}, functions: {} };
  const byCaller = { groups: {}, functions: {} };
  const add = (table, key) => {
    table[key] = (table[key] ?? 0) + 1;
  };
  const count = (view, group, fn) => {
    add(view.groups, group);
    if (group === functionsOf && fn) add(view.functions, fn);
  };
  for (const sample of script.stdout.split("\n\n")) {
    const lines = sample.trim().split("\n");
    const [thread] = lines[0]?.trim().split(/\s+/) ?? [];
    if (!thread?.includes("/")) continue;
    const [processId, threadId] = thread.split("/");
    if (processId !== threadId) {
      count(own, "threads");
      count(byCaller, "threads");
      continue;
    }
    let innermost;
    let caller;
    for (const line of lines.slice(1)) {
      const frame = jsFrame(line, classify);
      if (!frame) continue;
      innermost ??= frame;
      if (frame.group !== "node") {
        caller = frame;
        break;
      }
    }
    count(own, innermost?.group ?? "native", innermost?.fn);
    const payer = caller ?? innermost;
    count(byCaller, payer?.group ?? "native", payer?.fn);
  }
  const perMessage = (table) =>
    Object.fromEntries(Object.entries(table).map(([k, n]) => [k, (n * 1e6) / FREQUENCY / messages]));
  const view = ({ groups, functions }) => ({ groups: perMessage(groups), functions: perMessage(functions) });
  return { ...view(own), byCaller: view(byCaller) };
}

/**
 * The JavaScript frame of a line of perf's call chain, or undefined for native code. A V8 frame reads
 * "ADDRESS JS:*name URL:LINE:COLUMN" (also Script: and Eval:; * optimised, ^ baseline, ~ interpreted); the
 * name may be empty or hold spaces ("get size"), the URL is the last word.
 */
function jsFrame(line, classify) {
  const frame = /\s(?:JS|Script|Eval):[*^~+]?(.*?) ?(\S+?)(?::(\d+):\d+)?$/.exec(line);
  if (!frame) return undefined;
  const [, name, url, lineNumber] = frame;
  // An anonymous function is told from the file's others by its line.
  const label = name || `(anonymous${lineNumber ? ` at ${lineNumber}` : ""})`;
  return { group: classify(url), fn: `${url.slice(url.indexOf("/dist/") + 6)}:${label}` };
}
