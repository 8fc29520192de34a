import { once } from "node:events";
import net from "node:net";

/** Where a FaultProxy forwards to, and where it listens. */
export interface FaultProxyOptions {
  /** The real server. */
  upstream: { host: string; port: number };
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Listen port. Default 0: a free port. */
  port?: number;
}

interface Link {
  client: net.Socket;
  server: net.Socket;
}

/**
 * A TCP proxy between a driver and its broker that injects faults: cut every
 * connection, stall traffic (a blackhole: bytes are held, nothing errors),
 * add latency, or refuse new connections (the broker seems down). Every
 * driver's fault tests and the conformance reconnect case use it. It never
 * lets a socket error escape as an unhandled 'error' event.
 */
export class FaultProxy {
  readonly host: string;
  readonly #server: net.Server;
  readonly #upstream: { host: string; port: number };
  readonly #links = new Set<Link>();
  #stalled = false;
  #latencyMs = 0;
  #refusing = false;
  #accepted = 0;
  #cuts = 0;

  private constructor(server: net.Server, host: string, upstream: { host: string; port: number }) {
    this.#server = server;
    this.host = host;
    this.#upstream = upstream;
  }

  /** Starts a proxy; it listens once this resolves. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const host = options.host ?? "127.0.0.1";
    const server = net.createServer();
    const proxy = new FaultProxy(server, host, options.upstream);
    server.on("connection", (client) => proxy.#accept(client));
    server.on("error", () => {});
    server.listen(options.port ?? 0, host);
    await once(server, "listening");
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** `host:port` of the proxy, to put in a server URL in place of the broker's. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Connections currently open through the proxy. */
  get connections(): number {
    return this.#links.size;
  }

  /** Connections accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Connections cut by `cut()` since start. */
  get cuts(): number {
    return this.#cuts;
  }

  /** Cuts every open connection at once with a TCP reset, both sides. New connections are accepted. */
  cut(): number {
    const n = this.#links.size;
    for (const link of this.#links) this.#drop(link, true);
    this.#cuts += n;
    return n;
  }

  /**
   * Holds all traffic, both ways, on open and new connections, until
   * `resume()`: to the peers it looks like a silent network, as when a cable
   * is pulled. Only timeouts and heartbeats can notice it.
   */
  stall(): void {
    this.#stalled = true;
    for (const link of this.#links) {
      link.client.pause();
      link.server.pause();
    }
  }

  /** Ends a stall; held bytes flow again. */
  resume(): void {
    this.#stalled = false;
    for (const link of this.#links) {
      link.client.resume();
      link.server.resume();
    }
  }

  /** Delays every chunk by `ms` in each direction; 0 removes the delay. */
  slow(ms: number): void {
    this.#latencyMs = Math.max(0, ms);
  }

  /** While true, new connections are reset at once, as if the broker were down. */
  refuse(refusing: boolean): void {
    this.#refusing = refusing;
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    for (const link of this.#links) this.#drop(link, false);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    client.on("error", () => {});
    if (this.#refusing) {
      client.resetAndDestroy();
      return;
    }
    this.#accepted++;
    const server = net.connect({ host: this.#upstream.host, port: this.#upstream.port });
    server.on("error", () => {});
    client.setNoDelay(true);
    server.setNoDelay(true);
    const link: Link = { client, server };
    this.#links.add(link);
    this.#forward(client, server);
    this.#forward(server, client);
    const end = () => this.#drop(link, false);
    client.on("close", end);
    server.on("close", end);
    if (this.#stalled) {
      client.pause();
      server.pause();
    }
  }

  #forward(from: net.Socket, to: net.Socket): void {
    from.on("data", (chunk: Buffer) => {
      if (this.#latencyMs === 0) {
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => {
            if (!this.#stalled) from.resume();
          });
        }
        return;
      }
      // Order is kept: every chunk waits the same delay, and timers of equal delay fire in order.
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, this.#latencyMs);
    });
  }

  #drop(link: Link, reset: boolean): void {
    if (!this.#links.delete(link)) return;
    for (const socket of [link.client, link.server]) {
      if (socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
