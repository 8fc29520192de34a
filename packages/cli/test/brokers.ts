import { randomUUID } from "node:crypto";
import net from "node:net";

export const RABBIT = { host: "127.0.0.1", port: 5672, serverUrl: "amqp://guest:guest@127.0.0.1:5672" };
export const REDIS = { host: "127.0.0.1", port: 6379, serverUrl: "redis://127.0.0.1:6379" };

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
 * Without CI, a broker's tests are skipped when it is not running; with
 * CI=true they run, and fail, so that a missing broker is never a pass.
 */
export const skipWithoutRabbit = !process.env.CI && !(await reachable(RABBIT));
export const skipWithoutRedis = !process.env.CI && !(await reachable(REDIS));

/** A resource name no other run uses. */
export const unique = (name: string) => `pubsub-cli-test-${name}-${randomUUID().slice(0, 8)}`;
