import cliProgress from "cli-progress";

/** A progress display on stderr: a bar on a terminal, nothing otherwise (the command's summary follows either way). */
export interface ProgressBar<P extends object> {
  update(value: number, payload: P): void;
  stop(): void;
}

/**
 * Starts a cli-progress bar on stderr with `format` (its `{value}`, `{total}`
 * and the keys of `payload`), only when `enabled` and stderr is a terminal:
 * piped or redirected output gets no escape codes.
 */
export function progressBar<P extends object>(
  format: string,
  total: number,
  payload: P,
  enabled: boolean,
): ProgressBar<P> {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: true, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, payload);
  return {
    update: (value, next) => bar.update(value, next),
    stop: () => bar.stop(),
  };
}
