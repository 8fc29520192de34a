/**
 * A scripted AMQP 0-9-1 peer: a small fake broker on a free local port that
 * runs the handshake and answers channels, confirms, consumers and
 * publishes as RabbitMQ does, and misbehaves where a test's {@link Script}
 * says (answer a close with a close, put two frames in one segment, refuse
 * channels, nack, return, cut after N publishes). It reaches what a real
 * broker only does by chance; it never replaces the real-broker tests.
 */
import { once } from "node:events";
import net from "node:net";
import { PeerConnection, type Script } from "./connection.js";

export { channelClose, connectionClose, defs, type Frame, method } from "./codec.js";
export { PeerConnection, type Publish, type PublishReply, type Script } from "./connection.js";

/** See the module comment. */
export class AmqpPeer {
  /** Every connection accepted, in order (closed ones included). */
  readonly connections: PeerConnection[] = [];
  /** When each connection was accepted (Date.now()). */
  readonly acceptedAt: number[] = [];
  readonly #server: net.Server;
  readonly #script: Script;

  private constructor(server: net.Server, script: Script) {
    this.#server = server;
    this.#script = script;
  }

  /** Starts a peer on 127.0.0.1 and a free port, behaving as `script` says. */
  static async start(script: Script = {}): Promise<AmqpPeer> {
    const server = net.createServer();
    const peer = new AmqpPeer(server, script);
    server.on("connection", (socket) => {
      peer.acceptedAt.push(Date.now());
      peer.connections.push(new PeerConnection(socket, peer.#script));
    });
    server.on("error", () => {});
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return peer;
  }

  /** A server URL for the peer, with `query` (such as "heartbeat=1") appended. */
  url(query = ""): string {
    const { port } = this.#server.address() as net.AddressInfo;
    return `amqp://guest:guest@127.0.0.1:${port}${query ? `?${query}` : ""}`;
  }

  /** The most recent connection that finished its handshake. */
  get latest(): PeerConnection | undefined {
    return this.connections.filter((c) => c.open).at(-1);
  }

  /** Publishes received over every connection. */
  get publishes(): number {
    return this.connections.reduce((n, c) => n + c.publishes.length, 0);
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const conn of this.connections) conn.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
