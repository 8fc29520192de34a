/**
 * Events a driver reports for the application's `logger` that are not
 * health changes, such as acks dropped because their channel died. The
 * portable layer adds the resource and hands them to the logger, so that
 * drivers never hold a logger of their own.
 */
export interface DriverNotice {
  /** `warn` for what the library recovers from but an operator should see; otherwise `info`. */
  level: "info" | "warn";
  /** A stable name, such as "pubsub.stale_acks_dropped". */
  event: string;
  /** What happened, in a sentence, without credentials. */
  message: string;
  /** Further structured fields (counts, ids). */
  fields?: Record<string, unknown>;
}

/** Where a driver's notices can be listened to. */
export interface NoticeSource {
  /** Calls `listener` with each notice from now on; returns a function that stops it. */
  onNotice(listener: (notice: DriverNotice) => void): () => void;
}

/** The kit's NoticeSource: a driver calls `emit`, the portable layer listens. */
export class Notices implements NoticeSource {
  readonly #listeners = new Set<(notice: DriverNotice) => void>();

  onNotice(listener: (notice: DriverNotice) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reports `notice` to every listener; costs nothing when no logger listens. */
  emit(notice: DriverNotice): void {
    for (const listener of this.#listeners) listener(notice);
  }

  /** True when someone listens: a driver may skip building a notice otherwise. */
  get listened(): boolean {
    return this.#listeners.size > 0;
  }
}
