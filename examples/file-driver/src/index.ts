/**
 * dir://: a tiny third-party driver, written only against @portable-pubsub/core's
 * public driver contract, to show that the contract is enough. A topic is a
 * directory; each subscription is a subdirectory holding one file per message.
 * A consumer claims a message by renaming its file (atomic, so consumers of
 * one subscription compete), acks by deleting it, nacks by renaming it back.
 * Claimed files of a crashed consumer stay claimed: there is no ack deadline.
 */
import { mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type DriverMessage,
  defaultURLMux,
  ErrorCode,
  errorCode,
  parseQuery,
  Subscription,
  type SubscriptionDriver,
  Topic,
  type TopicDriver,
  type URLMux,
} from "@portable-pubsub/core";
import { z } from "zod";

const READY = "ready";
const CLAIMED = "claimed";
let sequence = 0;

/** Maps file-system errors to portable codes. */
function dirErrorCode(err: unknown): ErrorCode {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOENT") return ErrorCode.NotFound;
  if (code === "EACCES" || code === "EPERM") return ErrorCode.PermissionDenied;
  if (code === "ENOSPC") return ErrorCode.ResourceExhausted;
  return errorCode(err);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === "ENOENT";
}

/** Creates the directories of a topic and, if given, one subscription of it. */
export async function createDirSubscription(topicDir: string, subscription?: string): Promise<void> {
  await mkdir(join(topicDir, "subscriptions"), { recursive: true });
  if (subscription === undefined) return;
  for (const sub of [READY, CLAIMED])
    await mkdir(join(topicDir, "subscriptions", subscription, sub), { recursive: true });
}

export class DirTopicDriver implements TopicDriver {
  readonly resource: string;
  constructor(readonly dir: string) {
    this.resource = `dir topic "${dir}"`;
  }

  async sendBatch(messages: DriverMessage[]): Promise<void> {
    const subscriptions = await readdir(join(this.dir, "subscriptions"));
    for (const message of messages) {
      // Names sort in send order: time, then a per-process sequence.
      const name = `${Date.now().toString().padStart(15, "0")}-${String(++sequence).padStart(12, "0")}-${process.pid}.msg`;
      const content = JSON.stringify({
        metadata: message.metadata,
        body: Buffer.from(message.body).toString("base64"),
      });
      for (const sub of subscriptions) {
        const temporary = join(this.dir, "subscriptions", sub, `.${name}`);
        await writeFile(temporary, content);
        await rename(temporary, join(this.dir, "subscriptions", sub, READY, name));
      }
    }
  }

  isRetryable(): boolean {
    return false;
  }
  errorCode = dirErrorCode;
  native(): string {
    return this.dir;
  }
  async close(): Promise<void> {}
}

export class DirSubscriptionDriver implements SubscriptionDriver {
  readonly resource: string;
  readonly canNack = true;
  constructor(readonly dir: string) {
    this.resource = `dir subscription "${dir}"`;
  }

  async receiveBatch(max: number, signal: AbortSignal): Promise<DriverMessage[]> {
    const deadline = Date.now() + 1000;
    for (;;) {
      const names = (await readdir(join(this.dir, READY))).filter((n) => n.endsWith(".msg")).sort();
      const out: DriverMessage[] = [];
      for (const name of names) {
        if (out.length >= max) break;
        try {
          await rename(join(this.dir, READY, name), join(this.dir, CLAIMED, name));
        } catch (err) {
          if (isMissing(err)) continue; // another consumer claimed it first
          throw err;
        }
        const stored = JSON.parse(await readFile(join(this.dir, CLAIMED, name), "utf8"));
        out.push({
          body: Buffer.from(stored.body, "base64"),
          metadata: stored.metadata,
          ackId: name,
          loggableId: name,
        });
      }
      if (out.length > 0 || Date.now() >= deadline || signal.aborted) return out;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async sendAcks(ackIds: unknown[]): Promise<void> {
    for (const name of ackIds as string[]) await unlink(join(this.dir, CLAIMED, name)).catch(ignoreMissing);
  }

  async sendNacks(ackIds: unknown[]): Promise<void> {
    for (const name of ackIds as string[]) {
      await rename(join(this.dir, CLAIMED, name), join(this.dir, READY, name)).catch(ignoreMissing);
    }
  }

  isRetryable(): boolean {
    return false;
  }
  errorCode = dirErrorCode;
  native(): string {
    return this.dir;
  }
  async close(): Promise<void> {}
}

function ignoreMissing(err: unknown): void {
  if (!isMissing(err)) throw err;
}

const subscriptionQuery = z.object({ subscription: z.string().regex(/^[\w.-]+$/) }).strict();

/**
 * Registers `dir://` on `mux`: `dir:///abs/topic` opens a topic (created if
 * missing); `dir:///abs/topic?subscription=NAME` a subscription (created too).
 */
export function registerDirDriver(mux: URLMux = defaultURLMux()): void {
  mux.registerTopic("dir", async (url, _options, portable) => {
    parseQuery(url, z.object({}).strict(), "dir");
    await createDirSubscription(url.pathname);
    return new Topic(new DirTopicDriver(url.pathname), portable);
  });
  mux.registerSubscription("dir", async (url, _options, portable) => {
    const { subscription } = parseQuery(url, subscriptionQuery, "dir");
    await createDirSubscription(url.pathname, subscription);
    return new Subscription(new DirSubscriptionDriver(join(url.pathname, "subscriptions", subscription)), portable);
  });
}
