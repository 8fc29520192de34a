#!/usr/bin/env node
import { runCli } from "./program.js";

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
