import type { Channel } from "amqplib";

/**
 * amqplib writes every frame to the socket on its own; with no-delay on, a
 * burst of publishes becomes a burst of small TCP segments that cost both
 * sides a syscall each. Corking the socket until amqplib's writer (which runs
 * on setImmediate) has drained the burst sends it in one writev. A single
 * publish is never held back.
 */
export function coalesceWrites(channel: Channel): void {
  const socket = (channel.connection as unknown as { stream?: { cork?(): void; uncork?(): void } }).stream;
  if (!socket?.cork || !socket.uncork) return;
  socket.cork();
  setImmediate(() => setImmediate(() => socket.uncork?.()));
}
