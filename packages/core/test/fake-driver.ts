import {
  type DriverMessage,
  type ErrorClassifier,
  type ErrorCode,
  errorCode,
  HealthTracker,
  type PubSubError,
  type SubscriptionDriver,
  type TopicDriver,
} from "@portable-pubsub/core/driver";

/** Errors of the scripted drivers carry their own code and retryability; the hint repeats a `hint` field. */
const scriptedErrors: ErrorClassifier = {
  errorCode: (err) => (err as { code?: ErrorCode }).code ?? errorCode(err),
  isRetryable: (err) => (err as { retryable?: boolean }).retryable === true,
  hint: (err) => (err as { hint?: string }).hint,
};

/** A scripted topic driver: records batches, and fails as told. A test double for core's own logic only. */
export class ScriptedTopicDriver implements TopicDriver {
  readonly resource = 'fake topic "t"';
  readonly health = new HealthTracker("ready");
  readonly batches: DriverMessage[][] = [];
  /** Errors to throw, one per sendBatch call, before succeeding. */
  failures: unknown[] = [];
  /** A promise each sendBatch waits on, to hold batches in flight. */
  gate: Promise<void> | undefined;
  inFlight = 0;
  maxInFlight = 0;
  closed = 0;

  async sendBatch(messages: DriverMessage[]): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.gate) await this.gate;
      const failure = this.failures.shift();
      if (failure !== undefined) throw failure;
      this.batches.push(messages);
    } finally {
      this.inFlight--;
    }
  }

  readonly errors = scriptedErrors;

  async close(): Promise<void> {
    this.closed++;
  }
}

/** A scripted subscription driver fed by `push`. */
export class ScriptedSubscriptionDriver implements SubscriptionDriver {
  readonly resource = 'fake subscription "s"';
  readonly canNack = true;
  readonly acked: unknown[] = [];
  readonly nacked: unknown[] = [];
  readonly requested: number[] = [];
  receiveFailures: unknown[] = [];
  ackFailures: unknown[] = [];
  #ready: DriverMessage[] = [];
  #wake: (() => void) | undefined;
  #next = 0;

  /** Messages pushed and not yet returned by receiveBatch. */
  get remaining(): number {
    return this.#ready.length;
  }

  /**
   * Makes `messages` (as a topic driver recorded them) available, as a broker would deliver them, each with
   * a fresh ackId; a message without a loggableId gets `m` and its ackId.
   */
  deliver(...messages: DriverMessage[]): void {
    for (const message of messages) {
      ++this.#next;
      this.#ready.push({ ...message, ackId: this.#next, loggableId: message.loggableId ?? `m${this.#next}` });
    }
    this.#wake?.();
  }

  push(...bodies: string[]): void {
    for (const body of bodies) {
      this.#ready.push({ body: new TextEncoder().encode(body), metadata: {}, ackId: ++this.#next, loggableId: body });
    }
    this.#wake?.();
  }

  async receiveBatch(max: number, signal: AbortSignal): Promise<DriverMessage[]> {
    this.requested.push(max);
    const failure = this.receiveFailures.shift();
    if (failure !== undefined) throw failure;
    if (this.#ready.length === 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", wake);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(wake, 200);
        this.#wake = wake;
        signal.addEventListener("abort", wake, { once: true });
      });
    }
    return this.#ready.splice(0, max);
  }

  async sendAcks(ids: unknown[]): Promise<void> {
    const failure = this.ackFailures.shift();
    if (failure !== undefined) throw failure;
    this.acked.push(...ids);
  }

  async sendNacks(ids: unknown[]): Promise<void> {
    this.nacked.push(...ids);
  }

  readonly errors = scriptedErrors;

  async close(): Promise<void> {}
}

/** An error a scripted driver throws. */
export function driverError(message: string, code: ErrorCode, retryable = false): Error {
  return Object.assign(new Error(message), { code, retryable });
}

/** The error `promise` rejects with; fails the test if it resolves. */
export async function failure(promise: Promise<unknown>): Promise<PubSubError> {
  return (await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  )) as PubSubError;
}
