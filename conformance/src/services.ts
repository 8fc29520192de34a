import net from "node:net";

/** True if something accepts TCP connections at `target` within `timeoutMs`. */
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
 * Whether tests that need the service at `target` should be skipped: only
 * when it is unreachable and `CI` is not set. On CI they always run, and
 * fail, so that a missing broker is never reported as a pass. For
 * `describe.skipIf(await skipUnlessReachable(...))`.
 */
export async function skipUnlessReachable(target: { host: string; port: number }): Promise<boolean> {
  if (process.env.CI) return false;
  return !(await reachable(target));
}
