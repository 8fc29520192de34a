import { progressBar } from "../progress.js";

/** Progress of a bench run: a bar on a terminal, nothing otherwise (the summary follows either way). */
export interface Progress {
  update(sent: number, received: number): void;
  stop(): void;
}

export function progressFor(total: number, enabled: boolean): Progress {
  const bar = progressBar(
    "bench [{bar}] {percentage}% | received {value}/{total} | sent {sent} | {duration_formatted}",
    total,
    { sent: 0 },
    enabled,
  );
  return {
    update: (sent, received) => bar.update(received, { sent }),
    stop: () => bar.stop(),
  };
}
