/** A running Pub/Sub emulator. */
export interface Emulator {
  readonly host: string;
  readonly port: number;
  /** `host:port`, as PUBSUB_EMULATOR_HOST and `apiEndpoint` take it. */
  readonly address: string;
  /** Stops the emulator and its whole process group; resolves once it is gone. */
  stop(): Promise<void>;
}

/** Starts an emulator on a free port of 127.0.0.1; rejects if it does not answer within 45 s. */
export function startEmulator(): Promise<Emulator>;
