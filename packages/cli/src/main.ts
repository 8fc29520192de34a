#!/usr/bin/env node
import { runCli } from "./program.js";

// A closed stdout (a pipe into `head`) is reported to the writer's callback; the stream's own event is not news.
process.stdout.on("error", () => {});

// The last line of defence: whatever escapes is still one line and an exit code, never a stack trace.
process.on("uncaughtException", (err) => {
  process.stderr.write(`pubsub: Internal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
process.on("unhandledRejection", (err) => {
  process.stderr.write(`pubsub: Internal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

const code = await runCli(process.argv);
// Exit now: a driver may keep a connection open in the background that nothing else will close.
process.exit(code);
