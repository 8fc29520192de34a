import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const FIXTURE = fileURLToPath(new URL("./fixtures/inbox-consumer.mjs", import.meta.url));
/** The package's folder: the child resolves @portable-pubsub/* from there. */
const PACKAGE = fileURLToPath(new URL("..", import.meta.url));

/** What fixtures/inbox-consumer.mjs takes (JSON in its argv). */
export interface InboxConsumerConfig {
  /** The subscription URL, any scheme. */
  url: string;
  /** Its options (JSON only), such as the broker's serverUrl. */
  options?: Record<string, unknown>;
  /** The database of the idempotency store and of the effects table. */
  pgUrl: string;
  /** The schema of the store's table. */
  schema: string;
  /** The table (schema-qualified) with columns body text, pid int that each handler inserts into. */
  effects: string;
  /** The idempotency lease. */
  leaseMs: number;
  concurrency?: number;
  /** How long each handler waits after its insert, inside its transaction. */
  handlerDelayMs?: number;
  /** "die": the first handler kills its process with SIGKILL after its insert. Default "work". */
  mode?: "work" | "die";
}

/** A consumer child process and what it printed. */
export interface InboxConsumer {
  readonly child: ChildProcess;
  /** The bodies whose handler ran (inserted its row; committed or not). */
  readonly ran: string[];
  /** The ids acked without their handler, as duplicates of done ids. */
  readonly duplicates: string[];
  /** Resolves once it consumes; rejects if it exits first. */
  readonly opened: Promise<void>;
  /** Resolves with how it ended, once its output is all read. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/** Starts fixtures/inbox-consumer.mjs with `config`. */
export function startInboxConsumer(config: InboxConsumerConfig): InboxConsumer {
  const child = spawn(process.execPath, [FIXTURE, JSON.stringify(config)], {
    cwd: PACKAGE,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const ran: string[] = [];
  const duplicates: string[] = [];
  let stderr = "";
  let buffered = "";
  let open: () => void = () => {};
  // "close", not "exit": it comes after the last of stdout, so `ran` is complete once `exited` resolves.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  const opened = new Promise<void>((resolve, reject) => {
    open = resolve;
    exited.then(({ code, signal }) =>
      reject(new Error(`the consumer exited (${code ?? signal}) before it opened: ${stderr}`)),
    );
  });
  opened.catch(() => {});
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      if (line === "open") open();
      else if (line.startsWith("ran ")) ran.push(line.slice(4));
      else if (line.startsWith("duplicate ")) duplicates.push(line.slice(10));
    }
  });
  return {
    child,
    ran,
    duplicates,
    opened,
    exited,
    stderr: () => stderr,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
