/**
 * Finds a silent broker. amqplib's own heartbeat check runs once per interval
 * and needs two missed checks, so it notices a dead peer two to three
 * intervals after the last byte. This one samples the socket's byte counter
 * four times per interval and cuts the socket once nothing arrived for two
 * intervals, so a blackholed connection is found within about 2.25 intervals
 * at worst. The broker sends a heartbeat every half interval while idle, so
 * a healthy connection never goes quiet that long.
 */
import type { Socket } from "node:net";

/** Starts watching `socket`; returns a function that stops. */
export function watchHeartbeat(socket: Socket, heartbeatSeconds: number): () => void {
  if (!(heartbeatSeconds > 0)) return () => {};
  const limitMs = heartbeatSeconds * 2000;
  let lastBytes = socket.bytesRead;
  let lastChange = Date.now();
  const timer = setInterval(
    () => {
      const bytes = socket.bytesRead;
      const now = Date.now();
      if (bytes !== lastBytes) {
        lastBytes = bytes;
        lastChange = now;
        return;
      }
      if (now - lastChange >= limitMs) {
        clearInterval(timer);
        const err = Object.assign(
          new Error(`heartbeat timeout: nothing from the broker for ${Math.round((now - lastChange) / 1000)}s`),
          { code: "ETIMEDOUT" },
        );
        // amqplib turns a socket error into a connection close, which starts recovery.
        socket.destroy(err);
      }
    },
    Math.max(50, (heartbeatSeconds * 1000) / 4),
  );
  timer.unref();
  return () => clearInterval(timer);
}
