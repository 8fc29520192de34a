import type { ChannelModel } from "amqplib";

/** The parts of amqplib's connection internals that `coalesceWrites` touches. */
interface Muxed {
  stream?: { cork?(): void; uncork?(): void };
  muxer?: { _readIncoming?: () => void };
}

/**
 * amqplib writes every frame to the socket on its own: its writer (a "mux"
 * that drains the channels' outgoing buffers, on setImmediate) calls
 * `socket.write` once per frame, and with no-delay on each is a syscall and
 * a TCP segment, for us and for the broker. This corks the socket for each
 * run of that writer, so that what it drains in one turn (a burst of
 * publishes, of acks) leaves in one writev; nothing waits longer than it
 * did. Backpressure is unchanged: a corked write still reports a full
 * buffer. If amqplib's internals are not as expected, writes stay as they
 * were.
 */
export function coalesceWrites(model: ChannelModel): void {
  const connection = model.connection as unknown as Muxed;
  const socket = connection.stream;
  const muxer = connection.muxer;
  const drain = muxer?._readIncoming;
  if (!socket?.cork || !socket.uncork || !muxer || typeof drain !== "function") return;
  muxer._readIncoming = function corked(this: unknown) {
    socket.cork?.();
    try {
      drain.call(this);
    } finally {
      socket.uncork?.();
    }
  };
}
