/**
 * dir://: a tiny third-party driver, written only against the public driver
 * contract and kit of @portable-pubsub/core/driver, to show that they are
 * enough. A topic is a directory; each subscription is a subdirectory holding
 * one file per message. A consumer claims a message by renaming its file
 * (atomic, so consumers of one subscription compete), acks by deleting it,
 * nacks by renaming it back, with its returns counted in the file (so
 * `deliveryAttempt` survives restarts); failures are core's to count.
 * Claimed files of a crashed consumer stay claimed: there is no ack deadline,
 * so no lease to extend, and core holds failed messages for their redelivery
 * delay itself (this driver has no `redeliver`).
 */
import { mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type DriverMessage,
  type DriverModule,
  type ErrorClassifier,
  ErrorCode,
  parseOptions,
  parseQuery,
  resourceName,
  Subscription,
  type SubscriptionDriver,
  Topic,
  type TopicDriver,
  WakeUp,
} from "@portable-pubsub/core/driver";
import { z } from "zod";

const [READY, CLAIMED] = ["ready", "claimed"];
let sequence = 0;
/** Sends in this process wake its receivers at once; other processes' sends are found by polling. */
const arrivals = new WakeUp();

const CODES: Record<string, ErrorCode> = {
  ENOENT: ErrorCode.NotFound,
  EACCES: ErrorCode.PermissionDenied,
  EPERM: ErrorCode.PermissionDenied,
  ENOSPC: ErrorCode.ResourceExhausted,
};
const errnoOf = (err: unknown) => String((err as NodeJS.ErrnoException | null)?.code);

/** The drivers throw file-system errors as they are; core maps them through this. None is worth retrying. */
const errors: ErrorClassifier = { errorCode: (e) => CODES[errnoOf(e)] ?? ErrorCode.Unknown, isRetryable: () => false };

/** Creates the directories of a topic and, if given, one subscription of it. */
export async function createDirSubscription(topicDir: string, subscription?: string): Promise<void> {
  await mkdir(join(topicDir, "subscriptions"), { recursive: true });
  if (subscription === undefined) return;
  for (const sub of [READY, CLAIMED])
    await mkdir(join(topicDir, "subscriptions", subscription, sub), { recursive: true });
}

/** What both drivers share: a directory (also their native object), the classifier, nothing to close. */
abstract class DirDriver {
  readonly errors = errors;
  constructor(readonly dir: string) {}
  native(): string {
    return this.dir;
  }
  async close(): Promise<void> {}
}

export class DirTopicDriver extends DirDriver implements TopicDriver {
  readonly resource = `dir topic "${this.dir}"`;

  async sendBatch(messages: DriverMessage[]): Promise<void> {
    const subscriptions = await readdir(join(this.dir, "subscriptions"));
    for (const { id, metadata, body } of messages) {
      // Names sort in send order: time, then a per-process sequence.
      const name = `${Date.now().toString().padStart(15, "0")}-${String(++sequence).padStart(12, "0")}-${process.pid}.msg`;
      // The message id travels in the file, as a broker would carry it in its own id field.
      const content = JSON.stringify({ id, metadata, body: Buffer.from(body).toString("base64") });
      for (const sub of subscriptions) {
        // Written aside, then renamed in: a receiver never sees half a file.
        const temporary = join(this.dir, "subscriptions", sub, `.${name}`);
        await writeFile(temporary, content);
        await rename(temporary, join(this.dir, "subscriptions", sub, READY, name));
      }
    }
    arrivals.wakeAll();
  }
}

export class DirSubscriptionDriver extends DirDriver implements SubscriptionDriver {
  readonly resource = `dir subscription "${this.dir}"`;
  readonly canNack = true;

  async receiveBatch(max: number, signal: AbortSignal): Promise<DriverMessage[]> {
    const deadline = Date.now() + 1000;
    for (;;) {
      const out = await this.#claim(max);
      if (out.length > 0 || Date.now() >= deadline || signal.aborted) return out;
      await arrivals.wait(20, signal);
    }
  }

  async #claim(max: number): Promise<DriverMessage[]> {
    const names = (await readdir(join(this.dir, READY))).filter((n) => n.endsWith(".msg")).sort();
    const out: DriverMessage[] = [];
    for (const name of names) {
      if (out.length >= max) break;
      if (!(await moved(join(this.dir, READY, name), join(this.dir, CLAIMED, name)))) continue; // claimed by another
      const {
        id = name,
        body,
        metadata,
        returned = 0,
      } = JSON.parse(await readFile(join(this.dir, CLAIMED, name), "utf8"));
      const deliveryAttempt = returned + 1;
      // A file written without an id (by hand) has its name as its id.
      out.push({ id, body: Buffer.from(body, "base64"), metadata, ackId: name, loggableId: name, deliveryAttempt });
    }
    return out;
  }

  async sendAcks(ackIds: unknown[]): Promise<void> {
    for (const name of ackIds as string[]) await unlink(join(this.dir, CLAIMED, name)).catch(ifMissing);
  }

  /** Counts the delivery in the file (rewritten aside, then renamed over), then hands the message back. */
  async sendNacks(ackIds: unknown[]): Promise<void> {
    for (const name of ackIds as string[]) {
      const claimed = join(this.dir, CLAIMED, name);
      const content = await readFile(claimed, "utf8").catch(ifMissing);
      if (content === false) continue; // a stale ackId
      const message = JSON.parse(content);
      await writeFile(join(this.dir, `.${name}`), JSON.stringify({ ...message, returned: ~~message.returned + 1 }));
      await rename(join(this.dir, `.${name}`), claimed);
      await moved(claimed, join(this.dir, READY, name));
    }
  }
}

/** Swallows "no such file" (a stale ackId, a message claimed by another consumer): false; rethrows the rest. */
function ifMissing(err: unknown): false {
  if (errnoOf(err) !== "ENOENT") throw err;
  return false;
}

/** Renames `from` to `to`; false when `from` is gone. */
const moved = (from: string, to: string) => rename(from, to).then(() => true, ifMissing);

/** The absolute directory a URL names: `dir:///tmp/orders` (or `dir://tmp/orders`) is /tmp/orders. */
const directoryOf = (url: URL) => `/${resourceName(url, { driver: "dir", kind: "directory" })}`;
const noParams = z.object({}).strict();
const subscriptionQuery = z.object({ subscription: z.string().regex(/^[\w.-]+$/) }).strict();

/**
 * The dir:// driver: `dir:///abs/topic` opens a topic (created if missing);
 * `dir:///abs/topic?subscription=NAME` a subscription (created too). Register
 * it with `defaultURLMux().registerDriver("dir", dirDriver)`.
 */
export const dirDriver: DriverModule = {
  async openTopicURL(url, options, portable) {
    parseQuery(url, noParams, "dir");
    parseOptions(noParams, options, "dir");
    await createDirSubscription(directoryOf(url));
    return new Topic(new DirTopicDriver(directoryOf(url)), portable);
  },
  async openSubscriptionURL(url, options, portable) {
    const { subscription } = parseQuery(url, subscriptionQuery, "dir");
    parseOptions(noParams, options, "dir");
    await createDirSubscription(directoryOf(url), subscription);
    return new Subscription(new DirSubscriptionDriver(join(directoryOf(url), "subscriptions", subscription)), portable);
  },
};
