import { redactUrl } from "@portable-pubsub/core";

type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Structured logs: one JSON object per line on stdout, never a password. */
export class Logger {
  readonly #min: number;

  constructor(level: Level) {
    this.#min = RANK[level];
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.#write("debug", msg, fields);
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.#write("info", msg, fields);
  }

  warn(msg: string, fields?: Record<string, unknown>): void {
    this.#write("warn", msg, fields);
  }

  error(msg: string, fields?: Record<string, unknown>): void {
    this.#write("error", msg, fields);
  }

  #write(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] < this.#min) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }, (_key, value: unknown) =>
      value instanceof Error ? redactUrl(value.message) : typeof value === "string" ? redactUrl(value) : value,
    );
    process.stdout.write(`${line}\n`);
  }
}
