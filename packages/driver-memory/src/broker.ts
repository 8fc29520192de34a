import { ErrorCode, MAX_TIMER_MS, PubSubError, WakeUp } from "@portable-pubsub/core/driver";
import { OutForDelivery } from "./out-for-delivery.js";
import { Backlog, copyMessages, type MessageCopies, type StoredMessage } from "./stored.js";

/**
 * `messaging.system` of mem:// in spans and metrics: the name of this
 * in-process broker, since the conventions have no value for one.
 */
export const MEM_SYSTEM = "mem";

/** A failed message waiting out its redelivery delay. */
interface Delayed {
  readonly message: StoredMessage;
  readonly due: number;
}

/**
 * One subscription's state: what is ready, what is out for delivery, and the
 * consumers waiting. Several consumers of one named subscription share it and
 * so compete for its messages.
 */
export class SubscriptionState {
  readonly ackDeadlineMs: number;
  deleted = false;
  /** Messages never delivered yet. */
  readonly #ready = new Backlog();
  /** Nacked and expired messages, delivered before new ones. */
  #again: StoredMessage[] = [];
  /**
   * The messages out for delivery, oldest deadline first. The deadline is on the message itself
   * (each subscription has its own records, and one record is out in at most one delivery at a
   * time): no object per delivery.
   */
  readonly #outstanding = new OutForDelivery();
  #nextDelivery = 1;
  #expiryTimer: NodeJS.Timeout | undefined;
  /** Messages waiting for their redelivery, ordered by when they are due. */
  #delayed: Delayed[] = [];
  /** One timer, for the earliest delayed message. */
  #delayTimer: NodeJS.Timeout | undefined;
  readonly #arrivals = new WakeUp();

  constructor(ackDeadlineMs: number) {
    this.ackDeadlineMs = ackDeadlineMs;
  }

  get available(): number {
    return this.#ready.length + this.#again.length;
  }

  /** Messages delivered and neither acked nor expired. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** Failed messages waiting out their redelivery delay. */
  get delayed(): number {
    return this.#delayed.length;
  }

  /** Adds `messages` for delivery and wakes waiting receivers. */
  enqueue(messages: MessageCopies): void {
    this.#ready.append(messages);
    this.#arrivals.wakeAll();
  }

  /** Takes up to `max` messages for delivery; each one's `delivery` is the id of this delivery. */
  take(max: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    const deadline = Date.now() + this.ackDeadlineMs;
    while (out.length < max && this.#again.length > 0)
      out.push(this.#deliver(this.#again.shift() as StoredMessage, deadline));
    while (out.length < max && this.#ready.length > 0) out.push(this.#deliver(this.#ready.shift(), deadline));
    if (out.length > 0) this.#armExpiry();
    return out;
  }

  /** Waits until a message may be available, `ms` pass, or `signal` fires. */
  waitForMessages(ms: number, signal: AbortSignal): Promise<void> {
    if (this.available > 0) return Promise.resolve();
    return this.#arrivals.wait(ms, signal);
  }

  /** Removes the message of the delivery `ackId` names for good; a stale ackId is ignored. */
  ack(ackId: unknown): void {
    const message = this.#outstanding.find(ackId);
    if (message) this.#outstanding.remove(message);
  }

  /** Makes the message of `ackId`'s delivery deliverable again at once; a stale ackId is ignored. */
  nack(ackId: unknown): void {
    const message = this.#outstanding.find(ackId);
    if (!message) return;
    this.#outstanding.remove(message);
    this.#again.push(message);
    this.#arrivals.wakeAll();
  }

  /**
   * Makes the message of `ackId`'s delivery deliverable again once `delayMs`
   * have passed, ahead of new messages; a stale ackId is ignored. It is never made
   * deliverable synchronously, not even with `delayMs` 0 (then by a timer of
   * 1 ms): a handler that fails on every delivery must not turn
   * receive → fail → redeliver into a loop of microtasks that starves the
   * event loop.
   */
  redeliver(ackId: unknown, delayMs: number): void {
    const message = this.#outstanding.find(ackId);
    if (!message) return;
    this.#outstanding.remove(message);
    message.failures++;
    const due = Date.now() + Math.max(0, delayMs);
    // Kept ordered by due time; an insertion after those due no later keeps equal delays in order.
    let at = this.#delayed.length;
    while (at > 0 && (this.#delayed[at - 1] as Delayed).due > due) at--;
    this.#delayed.splice(at, 0, { message, due });
    if (at === 0) this.#armDelay();
  }

  /**
   * Restarts the ack deadline of the delivery each of `ackIds` names from
   * now; a stale ackId (acked, nacked, expired) is ignored.
   */
  extend(ackIds: readonly unknown[]): void {
    const deadline = Date.now() + this.ackDeadlineMs;
    for (const ackId of ackIds) {
      const message = this.#outstanding.find(ackId);
      if (!message) continue;
      // Moved to the end: its deadline is now the latest.
      this.#outstanding.remove(message);
      message.deadline = deadline;
      this.#outstanding.add(message);
    }
  }

  /** Marks the subscription deleted and drops its messages (and so its timers). */
  delete(): void {
    this.deleted = true;
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#delayTimer);
    this.#ready.clear();
    this.#again = [];
    this.#delayed = [];
    this.#outstanding.clear();
    this.#arrivals.wakeAll();
  }

  #deliver(message: StoredMessage, deadline: number): StoredMessage {
    message.attempts++;
    message.delivery = this.#nextDelivery++;
    message.deadline = deadline;
    this.#outstanding.add(message);
    return message;
  }

  #armExpiry(): void {
    const first = this.#outstanding.first();
    if (this.#expiryTimer || first === undefined) return;
    this.#expiryTimer = setTimeout(() => this.#expire(), Math.max(1, first.deadline - Date.now()));
    this.#expiryTimer.unref();
  }

  /** (Re)arms the one delay timer for the earliest delayed message. Unref'd: a delay must not keep a process alive. */
  #armDelay(): void {
    clearTimeout(this.#delayTimer);
    this.#delayTimer = undefined;
    const first = this.#delayed[0];
    if (!first) return;
    // A timer even for what is due now (Node waits at least 1 ms): a message that fails at once on
    // every delivery then comes round about a thousand times a second, with the process asleep in
    // between, where setImmediate would spin a core at a hundred thousand and make other timers of
    // the process late whenever the machine is busy. A timer's limit caps long delays (re-armed then).
    const wait = Math.min(Math.max(0, first.due - Date.now()), MAX_TIMER_MS);
    this.#delayTimer = setTimeout(() => this.#release(), wait).unref();
  }

  /** Moves the delayed messages now due to the redelivery queue. */
  #release(): void {
    this.#delayTimer = undefined;
    const now = Date.now();
    let due = 0;
    while (due < this.#delayed.length && (this.#delayed[due] as Delayed).due <= now) {
      this.#again.push((this.#delayed[due] as Delayed).message);
      due++;
    }
    if (due > 0) {
      this.#delayed.splice(0, due);
      this.#arrivals.wakeAll();
    }
    this.#armDelay();
  }

  #expire(): void {
    this.#expiryTimer = undefined;
    const now = Date.now();
    let expired = 0;
    for (let message = this.#outstanding.first(); message !== undefined; message = this.#outstanding.first()) {
      if (message.deadline > now) break;
      this.#outstanding.remove(message);
      message.failures++;
      this.#again.push(message);
      expired++;
    }
    if (expired > 0) this.#arrivals.wakeAll();
    this.#armExpiry();
  }
}

class TopicState {
  readonly subscriptions = new Map<string, SubscriptionState>();
  nextId = 1;
}

/**
 * An in-process broker: named topics, each with named subscriptions. The
 * default one backs every `mem://` URL; create your own for isolation in tests.
 */
export class MemBroker {
  readonly #topics = new Map<string, TopicState>();
  #anonymous = 0;

  /** Creates topic `name` if it does not exist. */
  createTopic(name: string): void {
    if (!this.#topics.has(name)) this.#topics.set(name, new TopicState());
  }

  /** Whether topic `name` exists. */
  hasTopic(name: string): boolean {
    return this.#topics.has(name);
  }

  /** Deletes topic `name` and its subscriptions; their consumers then get NotFound. */
  deleteTopic(name: string): void {
    const topic = this.#topics.get(name);
    if (!topic) return;
    for (const subscription of topic.subscriptions.values()) subscription.delete();
    this.#topics.delete(name);
  }

  /**
   * Publishes to every subscription of `topicName`, or to its subscription
   * `only` alone. A message that no subscription would receive is not
   * dropped: the publish fails with FailedPrecondition (as rabbit://'s
   * mandatory publish does), and a missing `only` with NotFound.
   */
  publish(
    topicName: string,
    messages: readonly { id?: string; body: Uint8Array; metadata: Record<string, string> }[],
    only?: string,
  ): void {
    const topic = this.#topics.get(topicName);
    if (!topic) throw notFound(`mem topic "${topicName}" does not exist`);
    const receivers = only === undefined ? [...topic.subscriptions.values()] : [topic.subscriptions.get(only)];
    if (receivers[0] === undefined) {
      if (only !== undefined) {
        throw notFound(
          `mem subscription "${only}" of topic "${topicName}" does not exist; open it with openSubscription("mem://${topicName}?subscription=${only}") first`,
        );
      }
      throw new PubSubError(
        ErrorCode.FailedPrecondition,
        `mem topic "${topicName}" has no subscription, so no one would receive the message; open a subscription to it (openSubscription("mem://${topicName}")) before sending`,
      );
    }
    const first = topic.nextId;
    topic.nextId += messages.length;
    // One copy per message, shared by the subscriptions; each makes its own record of a message at
    // its first delivery, as delivery attempts are counted per subscription.
    const copies = copyMessages(messages, first);
    for (const subscription of receivers as SubscriptionState[]) subscription.enqueue(copies);
  }

  /**
   * Returns subscription `name` of `topicName`, creating it if `create` and it
   * is missing. Without `create`, a missing topic or subscription is NotFound.
   */
  subscription(topicName: string, name: string, create: { ackDeadlineMs: number } | undefined): SubscriptionState {
    const topic = this.#topics.get(topicName);
    if (!topic)
      throw notFound(`mem topic "${topicName}" does not exist; open it with openTopic("mem://${topicName}") first`);
    let subscription = topic.subscriptions.get(name);
    if (!subscription) {
      if (!create) throw notFound(`mem subscription "${name}" of topic "${topicName}" does not exist`);
      subscription = new SubscriptionState(create.ackDeadlineMs);
      topic.subscriptions.set(name, subscription);
    }
    return subscription;
  }

  /** A fresh subscription name that no one else uses. */
  anonymousName(): string {
    return `~anonymous-${++this.#anonymous}`;
  }

  /** Deletes subscription `name` of topic `topicName`, dropping its messages; a missing one is ignored. */
  deleteSubscription(topicName: string, name: string): void {
    const topic = this.#topics.get(topicName);
    topic?.subscriptions.get(name)?.delete();
    topic?.subscriptions.delete(name);
  }
}

export function notFound(message: string): PubSubError {
  return new PubSubError(ErrorCode.NotFound, message);
}

/** The broker behind `mem://` URLs. */
export const defaultMemBroker = new MemBroker();
