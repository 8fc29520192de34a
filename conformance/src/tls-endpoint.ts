/**
 * A TLS endpoint of a test's own in front of a real broker: it terminates
 * TLS with a freshly made self-signed certificate and forwards the plain
 * bytes to the broker. Drivers' tests use it to check what a client that
 * refuses the certificate (not trusted, or issued for another name) reports.
 * Needs the `openssl` command.
 */
import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";

/** Where a TlsEndpoint forwards to, and the name its certificate is issued for. */
export interface TlsEndpointOptions {
  /** The real server, spoken to in plain text. */
  upstream: { host: string; port: number };
  /** The DNS name the certificate is issued for. Default "localhost". */
  certificateName?: string;
}

/** See the module comment. */
export class TlsEndpoint {
  /** The self-signed certificate (PEM): give it to a client as its CA to trust the endpoint. */
  readonly certificate: string;
  readonly #server: tls.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(server: tls.Server, certificate: string) {
    this.#server = server;
    this.certificate = certificate;
  }

  /** Makes a certificate, then listens on a free port of 127.0.0.1. */
  static async start(options: TlsEndpointOptions): Promise<TlsEndpoint> {
    const { key, cert } = await selfSigned(options.certificateName ?? "localhost");
    const server = tls.createServer({ key, cert });
    const endpoint = new TlsEndpoint(server, cert);
    server.on("secureConnection", (client) => endpoint.#forward(client, options.upstream));
    // A client that refuses the certificate aborts the handshake: that is what the tests provoke.
    server.on("tlsClientError", () => {});
    server.on("error", () => {});
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return endpoint;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #forward(client: tls.TLSSocket, upstream: { host: string; port: number }): void {
    const server = net.connect(upstream);
    for (const socket of [client, server]) {
      this.#sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        this.#sockets.delete(socket);
        client.destroy();
        server.destroy();
      });
    }
    client.pipe(server);
    server.pipe(client);
  }
}

/** The two endpoints of {@link tlsEndpointsForTests}. */
export interface TlsEndpoints {
  /** Its certificate is issued for "localhost": trusted by a client given it as CA and that name. */
  readonly trusted: TlsEndpoint;
  /** Its certificate is issued for "broker.invalid": refused for the wrong name even with it as CA. */
  readonly misnamed: TlsEndpoint;
}

/**
 * For a `describe` block: two TlsEndpoints in front of `upstream`, started
 * before its tests and closed after them. Read them inside the tests.
 */
export function tlsEndpointsForTests(upstream: { host: string; port: number }): TlsEndpoints {
  let trusted: TlsEndpoint | undefined;
  let misnamed: TlsEndpoint | undefined;
  beforeAll(async () => {
    trusted = await TlsEndpoint.start({ upstream, certificateName: "localhost" });
    misnamed = await TlsEndpoint.start({ upstream, certificateName: "broker.invalid" });
  });
  afterAll(async () => {
    await trusted?.close();
    await misnamed?.close();
  });
  const started = (endpoint: TlsEndpoint | undefined) => {
    if (!endpoint) throw new Error("the TLS endpoints start in beforeAll: read them inside a test");
    return endpoint;
  };
  return {
    get trusted() {
      return started(trusted);
    },
    get misnamed() {
      return started(misnamed);
    },
  };
}

/** A key and a self-signed certificate for `name`, made with openssl in a temporary folder. */
async function selfSigned(name: string): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), "pps-tls-"));
  try {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    await promisify(execFile)("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name}`,
      "-keyout",
      key,
      "-out",
      cert,
    ]);
    return { key: await readFile(key, "utf8"), cert: await readFile(cert, "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
