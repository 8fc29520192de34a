#!/usr/bin/env node
import { redactUrl } from "@portable-pubsub/core";
import { runCli } from "./program.js";

// A closed stdout (a pipe into `head`) is reported to the writer's callback; the stream's own event is not news.
process.stdout.on("error", () => {});

// The last line of defence: whatever escapes is still one line and an exit code, never a stack trace.
const escaped = (err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`pubsub: Internal: ${redactUrl(message.split("\n", 1)[0] ?? "")}\n`);
  process.exit(1);
};
process.on("uncaughtException", escaped);
process.on("unhandledRejection", escaped);

// Keep the process alive until the command has finished, even while everything it awaits sits on a driver's
// unref'd timers: otherwise Node would end it early, with exit code 13 and no message.
const keepAlive = setInterval(() => {}, 1 << 30);
const code = await runCli(process.argv, { standalone: true });
clearInterval(keepAlive);
// Exit now: a driver may keep a connection open in the background that nothing else will close.
process.exit(code);
