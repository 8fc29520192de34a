#!/usr/bin/env node
import { errorCode } from "@portable-pubsub/core";
import { type Config, loadConfig, USAGE } from "./config.js";
import { Logger } from "./log.js";
import { selfTest, selfTestSummary } from "./self-test.js";
import { OrderService } from "./service.js";
import { setUpTracing } from "./tracing.js";

/**
 * Entry point: `node dist/main.js [--self-test N]`. Exit codes: 0 after a
 * clean stop (or a passing self-test), 1 when shutdown overran its deadline
 * or the self-test lost orders, 2 for bad configuration, 3 when the broker
 * could not be opened at start.
 */
async function main(): Promise<number> {
  let config: Config | "help";
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`order-service: ${errorCode(err)}: ${(err as Error).message}\n`);
    return 2;
  }
  if (config === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const selfTesting = config.selfTest !== undefined;
  const log = new Logger(selfTesting ? "warn" : config.logLevel);
  let flushTraces: () => Promise<void>;
  try {
    flushTraces = setUpTracing(process.env);
  } catch (err) {
    process.stderr.write(`order-service: InvalidArgument: ${(err as Error).message}\n`);
    return 2;
  }
  const code = await run(config, log);
  await flushTraces().catch(() => {});
  return code;
}

async function run(config: Config, log: Logger): Promise<number> {
  const selfTesting = config.selfTest !== undefined;
  let service: OrderService;
  try {
    service = await OrderService.start(selfTesting ? { ...config, port: 0, host: "127.0.0.1" } : config, log);
  } catch (err) {
    log.error("could not start", { code: errorCode(err), err });
    return 3;
  }
  if (config.selfTest !== undefined) return runSelfTest(service, config, config.selfTest);
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      // A second signal while stopping means "now"; so does a stop that hangs past its deadline.
      process.once(signal, () => resolve(1));
      const overrun = setTimeout(() => {
        log.error("shutdown overran its deadline; exiting anyway", { deadlineMs: config.shutdownTimeoutMs });
        resolve(1);
      }, config.shutdownTimeoutMs + 1000);
      service.stop(signal).then((ok) => {
        clearTimeout(overrun);
        resolve(ok ? 0 : 1);
      });
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

async function runSelfTest(service: OrderService, config: Config, count: number): Promise<number> {
  const result = await selfTest(service, count, 30_000);
  process.stdout.write(`${selfTestSummary(result, config.concurrency)}\n`);
  const stopped = await service.stop("self-test done");
  process.stdout.write(`self-test: ${stopped ? "shut down cleanly" : "shutdown overran its deadline"}\n`);
  const passed = stopped && result.lost === 0 && result.statuses[201] === count && result.health.status === 200;
  return passed ? 0 : 1;
}

// Exit explicitly: a driver's connection must not keep a stopped service alive.
const code = await main();
process.exit(code);
