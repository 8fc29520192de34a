import cliProgress from "cli-progress";

/** Progress of a bench run: a bar on a terminal, nothing otherwise (the summary follows either way). */
export interface Progress {
  update(sent: number, received: number): void;
  stop(): void;
}

export function progressFor(total: number, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: "bench [{bar}] {percentage}% | received {value}/{total} | sent {sent} | {duration_formatted}",
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { sent: 0 });
  return {
    update: (sent, received) => bar.update(received, { sent }),
    stop: () => bar.stop(),
  };
}
