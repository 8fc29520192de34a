import { readFileSync } from "node:fs";
import { errorCode } from "@portable-pubsub/core";
import { Command, CommanderError, Option } from "commander";
import { byteSize, duration, integer, metadataEntry } from "./args.js";
import { bench } from "./commands/bench.js";
import { doctor, type Role } from "./commands/doctor.js";
import { outboxRelay } from "./commands/outbox.js";
import { pgMigrate } from "./commands/pg.js";
import { receive } from "./commands/receive.js";
import { redrive } from "./commands/redrive.js";
import { send } from "./commands/send.js";
import { ExitCode, errorLine, exitCodeFor } from "./exit.js";
import { forTerminal, OutputClosed } from "./io.js";

const URL_HELP = `
URLs pick the broker: mem://TOPIC (in this process only), rabbit://EXCHANGE or
rabbit://QUEUE (server from RABBIT_SERVER_URL), redisstream://STREAM[?group=G]
(REDIS_SERVER_URL), gcppubsub://projects/P/topics/T or .../subscriptions/S,
nats://SUBJECT or nats://STREAM?consumer=NAME (NATS_SERVER_URL),
pg://TOPIC or pg://TOPIC?subscription=NAME (DATABASE_URL).`;

/** How the command runs; see {@link runCli}. */
export interface CliOptions {
  /**
   * The command is alone in its process, as the `pubsub` binary is: an
   * in-process broker (mem://) has no other party there, so `send` would fail
   * its message and `receive` could get none. Both then refuse the URL with
   * advice. Leave it unset when embedding, where the application shares the
   * broker with the command.
   */
  standalone?: boolean;
}

/** The command's version: its package's. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/**
 * Builds the `pubsub` command line. Each action sets `exit.code`; errors are
 * left to {@link runCli}, which prints them as one line.
 */
export function buildProgram(exit: { code: number }, options: CliOptions = {}): Command {
  const standalone = options.standalone === true;
  const program = new Command("pubsub")
    .description("Send, receive, redrive, benchmark and diagnose any portable-pubsub URL.")
    .version(VERSION, "-V, --version", "print the version and exit")
    .addHelpText("after", URL_HELP)
    .exitOverride()
    .configureOutput({
      // One line, whatever Commander says: its "(Did you mean send?)" joins the error it belongs to.
      outputError: (text, write) =>
        write(
          `pubsub: InvalidArgument: ${text
            .replace(/^error: /, "")
            .trim()
            .replace(/\s*\n\s*/g, " ")
            .replace("(Did you mean", "(did you mean")}\n`,
        ),
    })
    .showSuggestionAfterError(true);

  program
    .command("send")
    .description("Send one message (BODY, or stdin when BODY is absent) and wait until the broker confirms it.")
    .argument("<url>", "topic URL, such as rabbit://orders")
    .argument("[body]", "message body as text; read from stdin when absent")
    .option("-m, --metadata <key=value>", "metadata entry; repeat for more", metadataEntry)
    .option("--id <id>", "the message's id (default: a generated UUIDv7)")
    .option("--lines", "send each non-empty line of stdin as its own message")
    .option(
      "--json <value>",
      "send this JSON value, with content type application/json (what typed subscriptions read)",
    )
    .option("--data-file <path>", "send the JSON value in this file, with content type application/json")
    .addOption(durationOption("--timeout <duration>", "give up if the broker has not confirmed by then", "30s"))
    .addHelpText(
      "after",
      `\nExamples:\n  pubsub send rabbit://orders --json '{"id":"a1","qty":2}' -m kind=order\n  cat orders.ndjson | pubsub send --lines rabbit://orders`,
    )
    .action(async (url: string, body: string | undefined, opts) => {
      await send(url, body, {
        id: opts.id,
        metadata: opts.metadata ?? {},
        lines: opts.lines === true,
        json: opts.json,
        dataFile: opts.dataFile,
        timeout: opts.timeout,
        standalone,
      });
    });

  program
    .command("receive")
    .description(
      "Receive messages and print them: the body per line (on a terminal, a CloudEvent: its attributes, then its data), or one JSON object per line with --json.",
    )
    .argument("<url>", "subscription URL, such as rabbit://orders-billing")
    .option("-n, --count <n>", "stop after N messages (default: until --wait passes or Ctrl-C)", integer(1))
    .option("--no-ack", "do not ack: hand every message back at the end, for the next reader")
    .option(
      "--json",
      "print {id, loggableId, body, bodyEncoding, metadata, deliveryAttempt, event} per line; body is UTF-8 text, else base64; event: a CloudEvent's attributes",
    )
    .option("--wait <duration>", "stop when no message arrives for this long (with --count: fail)", duration)
    .action(async (url: string, opts) => {
      await receive(url, {
        count: opts.count,
        ack: opts.ack !== false,
        json: opts.json === true,
        wait: opts.wait,
        standalone,
      });
    });

  program
    .command("redrive")
    .description(
      "Move dead letters back: send each message of FROM_URL that has deadletter.* metadata to TO_URL (default: back to the subscription it failed in) without it, and ack it once the broker confirmed the send.",
    )
    .argument("<from-url>", "subscription URL the dead letters are in, such as rabbit://orders-dead")
    .argument(
      "[to-url]",
      "topic URL to send them to, such as rabbit://orders; default: each message's deadletter.source subscription alone",
    )
    .option("-n, --count <n>", "stop after N messages moved (default: until --wait passes with no message)", integer(1))
    .option("--dry-run", "list what would be moved (id, attempts, time, source, error); send and ack nothing")
    .addOption(durationOption("--wait <duration>", "stop when no message arrives for this long", "2s"))
    .addOption(durationOption("--timeout <duration>", "fail if the broker has not confirmed a send by then", "30s"))
    .option("--no-progress", "no progress bar, even on a terminal")
    .addHelpText(
      "after",
      `\nWithout TO_URL, each message goes back to the subscription named by its
deadletter.source, and to it alone: on rabbit:// to that queue through the default
exchange (rabbit://QUEUE?toQueue=true), on mem:// to that named subscription. Other
drivers cannot send to one subscription alone (a send reaches every subscription of
the topic): their messages are skipped, and TO_URL is needed.
Messages without deadletter.* metadata are skipped and left in FROM_URL. At the first
send that fails, redrive stops with that error, and that message is not acked.\n\nExamples:\n  pubsub redrive rabbit://orders-dead --dry-run\n  pubsub redrive rabbit://orders-dead\n  pubsub redrive rabbit://orders-dead rabbit://orders --count 100`,
    )
    .action(async (fromUrl: string, toUrl: string | undefined, opts) => {
      await redrive(fromUrl, toUrl, {
        count: opts.count,
        dryRun: opts.dryRun === true,
        wait: opts.wait,
        timeout: opts.timeout,
        progress: opts.progress !== false,
        standalone,
      });
    });

  program
    .command("bench")
    .description("Send numbered messages and receive them; report msgs/s, send latency p50/p99, duplicates and losses.")
    .argument("<topic-url>", "topic URL to send to")
    .argument("<subscription-url>", "subscription URL that receives what the topic gets")
    .option("-n, --count <n>", "messages to send", integer(1), 10_000)
    .option("-s, --size <bytes>", "body size, at least 16 bytes (4KiB, 1MiB also work)", byteSize(16), 128)
    .option("-c, --concurrency <n>", "senders awaiting one send each, and handlers receiving", integer(1), 16)
    .addOption(durationOption("--wait <duration>", "give missing messages this long after the last arrival", "5s"))
    .option("--json", "print the summary as one JSON object")
    .option("--no-progress", "no progress bar, even on a terminal")
    .addHelpText(
      "after",
      `\nExit codes: 0 all arrived; ${ExitCode.messagesLost} confirmed messages were lost; others as for errors.\nExample:\n  pubsub bench mem://bench mem://bench -n 100000`,
    )
    .action(async (topicUrl: string, subscriptionUrl: string, opts) => {
      exit.code = await bench(topicUrl, subscriptionUrl, { ...opts, json: opts.json === true });
    });

  program
    .command("doctor")
    .description("Connect, report what is there (broker, version, whether the resource exists) and what to fix.")
    .argument("<url>", "topic or subscription URL")
    .addOption(
      new Option("--as <role>", "probe the URL as a topic, a subscription, or both")
        .choices(["topic", "subscription", "both"])
        .default("both"),
    )
    .addOption(durationOption("--timeout <duration>", "how long each step may take", "5s"))
    .action(async (url: string, opts: { as: Role | "both"; timeout: number }) => {
      const roles: Role[] = opts.as === "both" ? ["topic", "subscription"] : [opts.as];
      exit.code = await doctor(url, { roles, rolesByDefault: opts.as === "both", timeout: opts.timeout });
    });

  program
    .command("pg")
    .description("PostgreSQL (pg://) tools.")
    .command("migrate")
    .description("Create what is missing of the pg:// driver's tables (what declare=true does), or print the SQL.")
    .option("--schema <name>", "the schema of the tables", "pubsub")
    .option(
      "--server-url <url>",
      "postgres://user@host:5432/database (default: DATABASE_URL, else PGHOST and the like)",
    )
    .option("--print", "print the SQL for review instead of running it")
    .action(async (opts: { schema: string; serverUrl?: string; print?: boolean }) => {
      await pgMigrate({ schema: opts.schema, serverUrl: opts.serverUrl, print: opts.print === true });
    });

  program
    .command("outbox")
    .description("The pg:// transactional outbox.")
    .command("relay")
    .description(
      "Send what outbox.send committed to the outbox table, each row to its URL, until Ctrl-C or SIGTERM; run several at once if you like.",
    )
    .option("--schema <name>", "the schema of the tables", "pubsub")
    .option(
      "--server-url <url>",
      "postgres://user@host:5432/database (default: DATABASE_URL, else PGHOST and the like)",
    )
    .option("--declare", "create the outbox table when missing (else: fail, and run pubsub pg migrate)")
    .option("--batch-size <n>", "rows claimed and sent per transaction", integer(1), 500)
    .option("--no-notify", "poll instead of LISTEN (PgBouncer in transaction pooling mode)")
    .addHelpText(
      "after",
      "\nTarget brokers come from their drivers' variables (RABBIT_SERVER_URL, REDIS_SERVER_URL...).\nExample:\n  DATABASE_URL=postgres://app@db/app RABBIT_SERVER_URL=amqp://... pubsub outbox relay",
    )
    .action(
      async (opts: { schema: string; serverUrl?: string; declare?: boolean; batchSize: number; notify: boolean }) => {
        await outboxRelay({
          schema: opts.schema,
          serverUrl: opts.serverUrl,
          declare: opts.declare === true,
          batchSize: opts.batchSize,
          notify: opts.notify,
        });
      },
    );

  return program;
}

/** An option taking a duration, with its default shown as written ("30s", not 30000). */
function durationOption(flags: string, description: string, fallback: string): Option {
  return new Option(flags, description).argParser(duration).default(duration(fallback), fallback);
}

/** Runs the command line `argv` (as process.argv) and returns the exit code. Never throws. */
export async function runCli(argv: string[], options: CliOptions = {}): Promise<number> {
  const exit = { code: ExitCode.ok as number };
  const program = buildProgram(exit, options);
  try {
    if (argv.length <= 2) {
      program.outputHelp({ error: true });
      return ExitCode.invalidArgument;
    }
    await program.parseAsync(argv);
    return exit.code;
  } catch (err) {
    if (err instanceof OutputClosed) return ExitCode.ok;
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.invalidArgument;
    }
    process.stderr.write(`${forTerminal(process.stderr, errorLine(err))}\n`);
    return exitCodeFor(errorCode(err));
  }
}
