import net from "node:net";

export const RABBIT = { host: "127.0.0.1", port: 5672 };

/** True if something accepts TCP connections at `target`. */
export function reachable(target: { host: string; port: number }, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(target);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Without CI, tests that need RabbitMQ are skipped when it is not running;
 * with CI=true they run, and fail, so that a missing broker is never a pass.
 */
export const skipWithoutRabbit = !process.env.CI && !(await reachable(RABBIT));
