import { ErrorCode, PubSubError, redactUrl } from "../errors.js";
import { sendBytes, Topic } from "../topic.js";

/**
 * The prefix of the metadata keys a dead-lettered message carries:
 * `deadletter.source` (the URL the subscription it failed in was opened with,
 * credentials redacted; for one made with a driver's constructor, the
 * driver's `url`, else its `resource`), `deadletter.attempts` (how many times
 * it failed), `deadletter.deliveries` (how many times it was delivered, where
 * the driver counts), `deadletter.error` (the last error's message, cut to
 * 512 bytes) and `deadletter.time` (ISO 8601). `pubsub redrive` removes them.
 */
export const DEAD_LETTER_PREFIX = "deadletter.";

/**
 * The longest `deadletter.error`, in UTF-8 bytes: well under every broker's
 * limit on one value (Pub/Sub allows 1024 bytes per attribute value), so that
 * a long error cannot make the dead-letter send fail.
 */
const MAX_ERROR_BYTES = 512;

/** Opens a dead-letter topic given as a URL; the URL mux passes its own `openTopic`. */
export type DeadLetterOpener = (url: string) => Promise<Topic>;

/** Where a Subscription opened through a URL mux finds that mux's `openTopic`, for a `deadLetter` URL. */
export const DEAD_LETTER_OPENER: unique symbol = Symbol("portable-pubsub.deadLetterOpener");

/** Where a Subscription opened through a URL mux finds the URL it was opened with, for `deadletter.source`. */
export const SUBSCRIPTION_URL: unique symbol = Symbol("portable-pubsub.subscriptionUrl");

/**
 * The opener of a subscription made with a driver's constructor, which no
 * mux opened: the default mux's, which the mux module hands in when it loads
 * (this floor does not import the mux above it).
 */
let defaultOpener: DeadLetterOpener | undefined;

/** Called once by the URL mux module: opens a `deadLetter` URL of a subscription made with a driver's constructor. */
export function setDefaultDeadLetterOpener(opener: DeadLetterOpener): void {
  defaultOpener = opener;
}

function openDeadLetter(url: string, opener: DeadLetterOpener | undefined): Promise<Topic> {
  const open = opener ?? defaultOpener;
  if (open) return open(url);
  // Only reached when a bundler dropped the mux module, which the package's `sideEffects` forbids.
  return Promise.reject(
    new PubSubError(
      ErrorCode.FailedPrecondition,
      `deadLetter ${redactUrl(url)}: no URL mux is loaded to open it; import "@portable-pubsub/core", or pass an open Topic as deadLetter`,
    ),
  );
}

/**
 * What `deadletter.source` says of a subscription: the URL it was opened
 * with through a URL mux; else (a driver's constructor) the driver's own
 * `url`; else its `resource`. Credentials are redacted where it is written.
 */
export function deadLetterSource(options: object, driver: { resource: string; url?: string }): string {
  return (options as { [SUBSCRIPTION_URL]?: string })[SUBSCRIPTION_URL] ?? driver.url ?? driver.resource;
}

/**
 * The dead-letter topic of one Subscription. A URL is opened at once (so a
 * wrong one fails `ready()`, and so `openSubscription`) and shut down with
 * the subscription; a Topic the application passed stays the application's.
 */
export class DeadLetterTarget {
  readonly #topic: Promise<Topic>;
  readonly #owned: boolean;

  constructor(deadLetter: string | Topic, opener: DeadLetterOpener | undefined) {
    this.#owned = typeof deadLetter === "string";
    if (typeof deadLetter === "string") {
      this.#topic = openDeadLetter(deadLetter, opener);
      // Reported by ready() and by each dead-letter send; never unhandled.
      this.#topic.catch(() => {});
    } else {
      this.#topic = Promise.resolve(deadLetter);
    }
  }

  /** Resolves once the topic is open; rejects with the error that opening it met. */
  async ready(): Promise<void> {
    await this.#topic;
  }

  /** Sends the dead letter; resolves only once the broker confirmed it. */
  async send(
    message: { id: string | undefined; body: Uint8Array; metadata: Record<string, string> },
    signal: AbortSignal,
  ): Promise<void> {
    const topic = await this.#topic;
    // Bytes as they came, also to a typed dead-letter topic: an invalid message must still get there.
    if (topic instanceof Topic) await sendBytes(topic, message, { signal });
    else await (topic as Topic).send(message, { signal }); // Topic-like, from another copy of core
  }

  /** Shuts the topic down if the subscription opened it. */
  async shutdown(signal: AbortSignal): Promise<void> {
    if (!this.#owned) return;
    const topic = await this.#topic.catch(() => undefined);
    await topic?.shutdown({ signal });
  }
}

/** The metadata of a dead letter: the original's (earlier `deadletter.*` keys replaced) and the keys above. */
export function deadLetterMetadata(
  metadata: Readonly<Record<string, string>>,
  source: string,
  attempts: number,
  error: unknown,
  now: Date,
  deliveries?: number,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(metadata)) {
    if (!key.startsWith(DEAD_LETTER_PREFIX)) out[key] = metadata[key] as string;
  }
  out[`${DEAD_LETTER_PREFIX}source`] = redactUrl(source);
  out[`${DEAD_LETTER_PREFIX}attempts`] = String(attempts);
  if (deliveries !== undefined) out[`${DEAD_LETTER_PREFIX}deliveries`] = String(deliveries);
  out[`${DEAD_LETTER_PREFIX}error`] = cutUtf8(redactUrl(describeError(error)), MAX_ERROR_BYTES);
  out[`${DEAD_LETTER_PREFIX}time`] = now.toISOString();
  return out;
}

function describeError(error: unknown): string {
  if (error === undefined) return "nacked by the application";
  if (error instanceof Error) return error.message || error.name;
  try {
    return String(error);
  } catch {
    return "an error that cannot be printed";
  }
}

/** `text` cut to at most `maxBytes` of UTF-8 at a code point boundary, "…" marking a cut; lone surrogates become U+FFFD. */
export function cutUtf8(text: string, maxBytes: number): string {
  const whole = text.toWellFormed();
  if (Buffer.byteLength(whole) <= maxBytes) return whole;
  const budget = maxBytes - 3; // "…" is 3 bytes
  let bytes = 0;
  let out = "";
  for (const char of whole) {
    const code = char.codePointAt(0) as number;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes > budget) break;
    out += char;
  }
  return `${out}…`;
}
