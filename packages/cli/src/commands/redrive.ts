import {
  DEAD_LETTER_PREFIX,
  describeUrl,
  ErrorCode,
  errorCode,
  type Message,
  PubSubError,
  type Subscription,
  sendableMessageId,
  type Topic,
} from "@portable-pubsub/core/driver";
import { aboutOf, openSubscriptionAt, openTopicAt, parseUrl, topicReaching } from "../drivers.js";
import { errorText } from "../exit.js";
import { aloneInProcess } from "../hints.js";
import { forTerminal, onInterrupt, writeOut } from "../io.js";
import { progressBar } from "../progress.js";

export interface RedriveOptions {
  /** Stop after this many dead letters; undefined: when none arrives for `wait` ms. */
  count: number | undefined;
  /** List what would be moved; send and ack nothing. */
  dryRun: boolean;
  /** Stop when no message arrives for this long, in ms. */
  wait: number;
  /** How long one send may wait for the broker's confirm, in ms. */
  timeout: number;
  progress: boolean;
  /** The command is alone in its process: an in-process broker is refused (see CliOptions). */
  standalone?: boolean;
}

/** What a run did. */
interface Tally {
  /** Sent to the topic, confirmed, and acked (in a dry run: listed). */
  moved: number;
  /** Sends that failed; the run stops at the first. */
  failed: number;
  /** Messages not moved, handed back: without `deadletter.*` metadata, or with no way home. */
  skipped: number;
  /** Why messages were skipped, with how many each. */
  reasons: Map<string, number>;
}

const NOT_A_DEAD_LETTER = "no deadletter.* metadata";

/** How long closing the subscription (sending its acks) and the topic may take. */
const SHUTDOWN_MS = 10_000;

/**
 * `pubsub redrive FROM_URL [TO_URL]`: moves dead letters back. For each
 * message of the subscription FROM_URL that carries `deadletter.*` metadata,
 * it sends the body unchanged, with that metadata removed, to the topic
 * TO_URL, or, without TO_URL, back to the subscription it failed in (its
 * `deadletter.source`, through the topic URL its driver's `topicURLFor`
 * gives: on rabbit://, that queue alone through the default exchange). It
 * acks the original only once the broker confirmed that send: a message is
 * never lost, and a run that stops early leaves at most a duplicate. At the
 * first failed send it stops, the message unacked, with that send's error.
 * Messages without `deadletter.*` metadata, and, without TO_URL, those whose
 * source no send can reach alone, are skipped and handed back, with the
 * reason in the summary. `--dry-run` lists what would move and hands every
 * message back.
 */
export async function redrive(fromText: string, toText: string | undefined, options: RedriveOptions): Promise<void> {
  const from = parseUrl(fromText);
  const to = toText === undefined ? undefined : parseUrl(toText);
  if (options.standalone) {
    // Alone in its process, an in-process broker has nothing to receive, and no one to receive what is sent.
    const alone =
      aloneInProcess("receive", from, await aboutOf(from, "openSubscription")) ??
      (to && aloneInProcess("send", to, await aboutOf(to, "openTopic")));
    if (alone) throw alone;
  }
  using interrupt = onInterrupt();
  // Opened in a dry run too, so that a wrong TO_URL shows before anyone relies on the listing.
  const destinations = new Destinations(to === undefined ? undefined : await openTopicAt(to), to);
  let sub: Subscription;
  try {
    sub = await openSubscriptionAt(from, {
      // The original's trace context travels on with it, as every other key does.
      tracing: { keepContextMetadata: true },
      maxReceiveBatchSize: Math.min(options.count ?? 1000, 1000),
    });
  } catch (err) {
    await destinations.shutdown(AbortSignal.timeout(SHUTDOWN_MS));
    throw err;
  }
  const tally: Tally = { moved: 0, failed: 0, skipped: 0, reasons: new Map() };
  let failure = await move(sub, destinations, tally, options, interrupt.signal).then(
    () => undefined,
    (err: unknown) => err,
  );
  // The subscription first: its shutdown sends the acks, each queued after its message's send was confirmed.
  const settled = await sub.shutdown({ signal: AbortSignal.timeout(SHUTDOWN_MS) }).then(
    () => undefined,
    (err: unknown) => err,
  );
  await destinations.shutdown(AbortSignal.timeout(SHUTDOWN_MS));
  if (settled !== undefined && failure === undefined) {
    const what =
      options.dryRun || tally.moved === 0
        ? `handing messages back to ${describeUrl(from)} failed (${errorText(settled)}); ` +
          "they are delivered again after their ack deadline"
        : `${tally.moved} messages were sent to ${to ? describeUrl(to) : "their sources"}, but acking them in ${describeUrl(from)} failed ` +
          `(${errorText(settled)}); they stay there, and a next redrive sends them again`;
    failure = new PubSubError(errorCode(settled), what, { cause: settled });
  }
  await writeOut(summaryText(tally, from, to, options.dryRun));
  if (failure !== undefined) throw failure;
  if (interrupt.signal.aborted) {
    throw new PubSubError(ErrorCode.Canceled, `redrive interrupted after ${tally.moved} messages`);
  }
}

/**
 * Where dead letters go: the one TO_URL's topic, or each message's way home,
 * each topic opened once, on first use, and all shut down together.
 */
class Destinations {
  readonly #fixed: { topic: Topic; url: URL } | undefined;
  readonly #opened = new Map<string, Promise<Topic>>();

  constructor(topic: Topic | undefined, url: URL | undefined) {
    this.#fixed = topic && url ? { topic, url } : undefined;
  }

  /** Where `message` goes, or why it cannot go anywhere (a note for the summary). */
  async of(message: Message): Promise<URL | string> {
    if (this.#fixed) return this.#fixed.url;
    const source = message.metadata[`${DEAD_LETTER_PREFIX}source`];
    if (!source) return "no deadletter.source; give TO_URL";
    const home = await topicReaching(source);
    return typeof home === "string" ? `${home}; give TO_URL` : home;
  }

  /** The open topic for `url`; rejects with the open's error. */
  topic(url: URL): Promise<Topic> {
    if (this.#fixed) return Promise.resolve(this.#fixed.topic);
    let topic = this.#opened.get(url.href);
    if (!topic) {
      topic = openTopicAt(url);
      this.#opened.set(url.href, topic);
      topic.catch(() => {});
    }
    return topic;
  }

  async shutdown(signal: AbortSignal): Promise<void> {
    const topics = this.#fixed ? [Promise.resolve(this.#fixed.topic)] : [...this.#opened.values()];
    await Promise.all(topics.map((t) => t.then((topic) => topic.shutdown({ signal })).catch(() => {})));
  }
}

/** Receives and moves (or lists) messages until the count, an idle `wait`, an interrupt or a failed send. */
async function move(
  sub: Subscription,
  destinations: Destinations,
  tally: Tally,
  options: RedriveOptions,
  interrupt: AbortSignal,
): Promise<void> {
  const held: Message[] = [];
  const bar = progressBar(
    options.count === undefined
      ? "redrive | moved {value} | skipped {skipped} | {duration_formatted}"
      : "redrive [{bar}] moved {value}/{total} | skipped {skipped} | {duration_formatted}",
    options.count ?? 0,
    { skipped: 0 },
    // In a dry run the listing on stdout is the progress.
    options.progress && !options.dryRun,
  );
  try {
    while (options.count === undefined || tally.moved < options.count) {
      const message = await next(sub, options.wait, interrupt);
      if (message === undefined) return;
      const to = isDeadLetter(message) ? await destinations.of(message) : NOT_A_DEAD_LETTER;
      if (typeof to === "string") {
        // Held to the end: handed back now, it would only arrive again.
        tally.skipped++;
        tally.reasons.set(to, (tally.reasons.get(to) ?? 0) + 1);
        held.push(message);
      } else if (options.dryRun) {
        held.push(message);
        tally.moved++;
        await writeOut(forTerminal(process.stdout, listing(message), { lineBreaks: true }));
      } else {
        const failed = await moveOne(message, destinations, to, options.timeout, interrupt);
        if (failed) {
          handBack(message);
          if (interrupt.aborted) return;
          tally.failed++;
          throw failed;
        }
        tally.moved++;
      }
      bar.update(tally.moved, { skipped: tally.skipped });
    }
  } finally {
    bar.stop();
    for (const message of held) handBack(message);
  }
}

/** The next message, or undefined once none arrived for `waitMs` or the run was interrupted. */
async function next(sub: Subscription, waitMs: number, interrupt: AbortSignal): Promise<Message | undefined> {
  const idle = AbortSignal.timeout(waitMs);
  try {
    return await sub.receive({ signal: AbortSignal.any([interrupt, idle]) });
  } catch (err) {
    if (interrupt.aborted || idle.aborted) return undefined;
    throw err;
  }
}

/**
 * Sends `message` to `topic` without its dead-letter keys and acks it once the
 * broker confirmed the send. Returns the error, naming the message and
 * `to`, if the send failed; the message is then not acked.
 */
async function moveOne(
  message: Message,
  destinations: Destinations,
  to: URL,
  timeoutMs: number,
  interrupt: AbortSignal,
): Promise<PubSubError | undefined> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(message.metadata)) {
    if (!key.startsWith(DEAD_LETTER_PREFIX)) metadata[key] = value;
  }
  try {
    const topic = await destinations.topic(to);
    await topic.send(
      // The same message: it keeps its id (one a send would refuse, from another program, is replaced).
      { id: sendableMessageId(message.id), body: message.body, metadata },
      { signal: AbortSignal.any([interrupt, AbortSignal.timeout(timeoutMs)]) },
    );
  } catch (err) {
    return new PubSubError(
      errorCode(err),
      `could not send message ${message.loggableId || "(no id)"} to ${describeUrl(to)}: ${errorText(err)}; ` +
        "redrive stopped there, and that message was not acked",
      { cause: err },
    );
  }
  message.ack();
  return undefined;
}

/** Gives a message back to the subscription at once, where the driver can; else its ack deadline does. */
function handBack(message: Message): void {
  if (message.nackable) message.nack({ delayMs: 0 });
}

function isDeadLetter(message: Message): boolean {
  return Object.keys(message.metadata).some((key) => key.startsWith(DEAD_LETTER_PREFIX));
}

/** One dry-run line: id, attempts, time, source and error, from the `deadletter.*` keys ("?" where one is missing). */
function listing(message: Message): string {
  const key = (name: string) => (message.metadata[`${DEAD_LETTER_PREFIX}${name}`] ?? "?").replace(/\s+/g, " ");
  return (
    `${message.loggableId || "?"}  attempts ${key("attempts")}  at ${key("time")}  from ${key("source")}` +
    `  error: ${key("error")}\n`
  );
}

function summaryText(t: Tally, from: URL, to: URL | undefined, dryRun: boolean): string {
  const where = `${describeUrl(from)} to ${to ? describeUrl(to) : "each message's deadletter.source"}`;
  const reasons = t.reasons.size === 1 ? [...t.reasons.keys()] : [...t.reasons].map(([reason, n]) => `${n}: ${reason}`);
  const skipped = `skipped     ${t.skipped}${t.skipped > 0 ? ` (${reasons.join("; ")}; left in ${describeUrl(from)})` : ""}`;
  const lines = dryRun
    ? [`redrive (dry run, nothing moved or acked): ${where}`, `would move  ${t.moved}`, skipped]
    : [`redrive: ${where}`, `moved       ${t.moved}`, `failed      ${t.failed}`, skipped];
  return `${lines.join("\n")}\n`;
}
