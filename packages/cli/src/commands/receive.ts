import { ErrorCode, type Message, PubSubError, type Subscription } from "@portable-pubsub/core";
import { eventRecord, renderCloudEvent } from "../cloud-event-view.js";
import { aboutOf, openSubscriptionAt, parseUrl } from "../drivers.js";
import { messageRecord, prettyJsonBody, visibleBody, visibleControls } from "../format.js";
import { aloneInProcess } from "../hints.js";
import { onInterrupt, withShutdown, writeOut } from "../io.js";

export interface ReceiveOptions {
  /** Stop after this many messages; undefined: until --wait passes with no message, or Ctrl-C. */
  count: number | undefined;
  ack: boolean;
  json: boolean;
  /** Give up after this long without a message, in ms; undefined: wait forever. */
  wait: number | undefined;
  /** The command is alone in its process: an in-process broker is refused (see CliOptions). */
  standalone?: boolean;
}

/**
 * `pubsub receive URL`: prints messages as they arrive, the body alone per
 * line (on a terminal, a CloudEvent as its attributes, then its data) or, with --json, one
 * JSON object per line (a CloudEvent's with its attributes as `event`). Acks each one unless
 * --no-ack, in which case every message is handed back at the end (nacked
 * where the driver can, else redelivered after its ack deadline).
 */
export async function receive(urlText: string, options: ReceiveOptions): Promise<void> {
  const url = parseUrl(urlText);
  const about = await aboutOf(url, "openSubscription");
  const alone = options.standalone ? aloneInProcess("receive", url, about) : undefined;
  if (alone) throw alone;
  using interrupt = onInterrupt();
  const sub = await openSubscriptionAt(url);
  await withShutdown(sub, async () => {
    const held: Message[] = [];
    try {
      await receiveLoop(sub, options, interrupt.signal, held, () => {
        // Nothing arrived within --wait: where the driver knows a likely reason, say it (stdout stays the data).
        const hint = about?.nothingReceived?.(url);
        if (hint) process.stderr.write(`pubsub: note: no message arrived; ${hint}\n`);
      });
    } finally {
      // At once, not after the redelivery backoff: these were not failures, just not for this reader.
      for (const message of held) if (message.nackable) message.nack({ delayMs: 0 });
    }
  });
}

async function receiveLoop(
  sub: Subscription,
  options: ReceiveOptions,
  interrupt: AbortSignal,
  held: Message[],
  nothingArrived: () => void,
) {
  let received = 0;
  while (options.count === undefined || received < options.count) {
    const idle = options.wait === undefined ? undefined : AbortSignal.timeout(options.wait);
    const signal = idle ? AbortSignal.any([interrupt, idle]) : interrupt;
    let message: Message;
    try {
      message = await sub.receive({ signal });
    } catch (err) {
      if (interrupt.aborted) throw new PubSubError(ErrorCode.Canceled, `interrupted after ${received} messages`);
      if (!idle?.aborted) throw err;
      if (received === 0) nothingArrived();
      if (options.count === undefined) return;
      throw new PubSubError(
        ErrorCode.DeadlineExceeded,
        `received ${received} of ${options.count} messages; no message arrived within --wait`,
      );
    }
    received++;
    await writeOut(render(message, options.json));
    if (options.ack) message.ack();
    else held.push(message);
  }
}

function render(message: Message, json: boolean): Uint8Array | string {
  if (json) {
    const event = eventRecord(message);
    return `${JSON.stringify(event ? { ...messageRecord(message), event } : messageRecord(message))}\n`;
  }
  // A terminal shows a CloudEvent as its attributes, then its data (one that is not valid as a plain body),
  // a JSON body indented (its content type says JSON), any other body with its control characters escaped;
  // a pipe or a file gets the bytes as they are, one message per line.
  if (process.stdout.isTTY) {
    const event = renderCloudEvent(message, (reason) =>
      process.stderr.write(
        `${visibleControls(`pubsub: note: message ${message.loggableId} is not a valid CloudEvent: ${reason}`)}\n`,
      ),
    );
    if (event !== undefined) return event;
    const pretty = prettyJsonBody(message);
    return `${pretty === undefined ? visibleBody(message.body) : visibleBody(new TextEncoder().encode(pretty))}\n`;
  }
  const out = new Uint8Array(message.body.byteLength + 1);
  out.set(message.body);
  out[message.body.byteLength] = 0x0a;
  return out;
}
