/**
 * The LISTEN connection of a link: one dedicated connection per link (a
 * pool's connections cannot hold a LISTEN, since each statement may run on
 * another), re-established with backoff whenever it drops. Notifications
 * only wake receivers early: a receiver polls anyway, so nothing is lost
 * while this connection is down, and after each reconnect every receiver is
 * woken to look for what was sent meanwhile.
 */
import { backoffDelay } from "@portable-pubsub/core/driver";
import type pg from "pg";

/** How the listener gets its connection, and gives it back. */
export interface ListenConnector {
  /** A connected client for LISTEN. */
  connect(): Promise<pg.ClientBase>;
  /** Closes (or destroys) what `connect` gave. */
  disconnect(client: pg.ClientBase): Promise<void>;
}

/** Receives `(channel, payload)` of each notification, and `(undefined)` after a reconnect: "look for everything". */
export type NotificationHandler = (channel: string | undefined, payload: string | undefined) => void;

export class Listener {
  readonly #connector: ListenConnector;
  readonly #onNotification: NotificationHandler;
  readonly #onState: (err: Error | undefined) => void;
  readonly #channels = new Set<string>();
  #client: pg.ClientBase | undefined;
  #connecting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;

  /** `onState` gets the error that dropped the connection, or undefined once it is back. */
  constructor(
    connector: ListenConnector,
    onNotification: NotificationHandler,
    onState: (err: Error | undefined) => void,
  ) {
    this.#connector = connector;
    this.#onNotification = onNotification;
    this.#onState = onState;
  }

  /** LISTENs on `channel` from now on (and after every reconnect). */
  add(channel: string): void {
    if (this.#channels.has(channel)) return;
    this.#channels.add(channel);
    const client = this.#client;
    if (client) client.query(`LISTEN "${channel}"`).catch((err: Error) => this.#lost(client, err));
    else this.#start();
  }

  /** Closes the connection; no reconnect follows. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#connecting?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    if (client) await this.#connector.disconnect(client).catch(() => {});
  }

  #start(): void {
    if (this.#stopped || this.#connecting || this.#client || this.#timer) return;
    this.#connecting = this.#connect().finally(() => {
      this.#connecting = undefined;
    });
  }

  async #connect(): Promise<void> {
    let client: pg.ClientBase | undefined;
    try {
      client = await this.#connector.connect();
      const connected = client;
      connected.on("error", (err: Error) => this.#lost(connected, err));
      connected.on("end", () => this.#lost(connected, new Error("the LISTEN connection ended")));
      connected.on("notification", (n) => this.#onNotification(n.channel, n.payload));
      for (const channel of this.#channels) await connected.query(`LISTEN "${channel}"`);
      if (this.#stopped) {
        await this.#connector.disconnect(connected).catch(() => {});
        return;
      }
      this.#client = connected;
      this.#failures = 0;
      this.#onState(undefined);
      this.#onNotification(undefined, undefined);
    } catch (err) {
      if (client) await this.#connector.disconnect(client).catch(() => {});
      this.#retryLater(err as Error);
    }
  }

  #lost(client: pg.ClientBase, err: Error): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#connector.disconnect(client).catch(() => {});
    this.#retryLater(err);
  }

  #retryLater(err: Error): void {
    if (this.#stopped) return;
    this.#onState(err);
    const delay = backoffDelay(this.#failures++, 100, 5000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#start();
    }, delay);
    this.#timer.unref();
  }
}
