// `node hostile-main.mjs ARGS...`: the built command in a process of its own, whose stdout is the caller's pipe,
// with the hostile driver registered; `receive` or `redrive` as the first argument prepares their messages first.
import { randomUUID } from "node:crypto";
import { registerDriver, runCli } from "../dist/index.js";
import { hostileDriver, prepare } from "./hostile.mjs";

registerDriver("hostile", hostileDriver, "hostile-driver");
const [command, ...rest] = process.argv.slice(2);
const prepared =
  command === "receive" || command === "redrive"
    ? await prepare(command, randomUUID().slice(0, 8))
    : { args: [command, ...rest], done: async () => {} };
process.exitCode = await runCli(["node", "pubsub", ...prepared.args]);
await prepared.done();
