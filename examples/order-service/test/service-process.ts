import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const CWD = fileURLToPath(new URL("..", import.meta.url));

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** The order service running as a child process, as an operator would run it. */
export class ServiceProcess {
  readonly logs: LogLine[] = [];
  stderr = "";
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  readonly #waiters = new Set<() => void>();
  #buffered = "";

  private constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.#child = spawn(process.execPath, [MAIN, ...args], { cwd: CWD, env: { ...process.env, ...env } });
    this.#child.stdout?.setEncoding("utf8").on("data", (chunk: string) => this.#onStdout(chunk));
    this.#child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => this.#child.on("exit", (code) => resolve(code)));
  }

  /** Starts the service on a free port and resolves with it once it listens. */
  static async start(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServiceProcess & { url: string }> {
    const service = new ServiceProcess(["--port", "0", ...args], env);
    const listening = await Promise.race([
      service.waitForLog((l) => l.msg === "listening", 30_000),
      service.exited.then((code) => {
        throw new Error(`the service exited with ${code} before listening: ${service.stderr}${service.stdoutText()}`);
      }),
    ]);
    return Object.assign(service, { url: listening.url as string });
  }

  /** Resolves with the first log line (already seen or to come) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.logs.find(match);
        if (!line) return false;
        this.#waiters.delete(check as () => void);
        clearTimeout(timer);
        resolve(line);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check as () => void);
        reject(new Error(`no matching log line within ${timeoutMs} ms; logs:\n${this.stdoutText()}`));
      }, timeoutMs);
      if (!check()) this.#waiters.add(check as () => void);
    });
  }

  /** Ids of the orders the consumer logged as processed, each once per processing. */
  processedIds(): string[] {
    return this.logs.filter((l) => l.msg === "order processed").map((l) => l.orderId as string);
  }

  kill(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }

  stdoutText(): string {
    return this.logs.map((l) => JSON.stringify(l)).join("\n");
  }

  #onStdout(chunk: string): void {
    this.#buffered += chunk;
    let newline = this.#buffered.indexOf("\n");
    while (newline >= 0) {
      const line = this.#buffered.slice(0, newline);
      this.#buffered = this.#buffered.slice(newline + 1);
      if (line.trim()) this.logs.push(parseLine(line));
      newline = this.#buffered.indexOf("\n");
    }
    for (const waiter of [...this.#waiters]) waiter();
  }
}

function parseLine(line: string): LogLine {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return { level: "raw", msg: line };
  }
}

/** Runs the service with `args` until it exits by itself (a config error, a self-test); collects its output. */
export function runToExit(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: CWD });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** POSTs an order; returns the status and the JSON answer. */
export async function postOrder(
  url: string,
  order: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { id?: string; error?: string; message?: string } }> {
  const res = await fetch(`${url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof order === "string" ? order : JSON.stringify(order),
  });
  return { status: res.status, body: (await res.json()) as { id?: string } };
}

export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * POSTs an order inside a trace of the caller's (a `traceparent` header) and
 * resolves with that trace's id and the id of the order it made.
 */
export async function postTracedOrder(url: string): Promise<{ traceId: string; orderId: string }> {
  const traceId = randomBytes(16).toString("hex");
  const parent = randomBytes(8).toString("hex");
  const answer = await postOrder(url, { item: "traced", quantity: 1 }, { traceparent: `00-${traceId}-${parent}-01` });
  if (answer.status !== 201 || !answer.body.id) throw new Error(`POST /orders answered ${answer.status}`);
  return { traceId, orderId: answer.body.id };
}
