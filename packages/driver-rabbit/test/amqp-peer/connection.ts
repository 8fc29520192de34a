/**
 * One client connection of the scripted peer: the AMQP 0-9-1 handshake, then
 * what a well-behaved broker answers to channels, confirms, consumers and
 * publishes, unless the script handles a frame first. Replies go out one
 * write per frame group, so `send(a, b)` puts two frames in one TCP segment.
 */
import type { Socket } from "node:net";
import { BASIC_PROPERTIES, connectionClose, defs, type Frame, message, method, readFrames } from "./codec.js";

/** A publish the peer received in full. */
export interface Publish {
  readonly channel: number;
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: amqplib's decoded properties
  readonly properties: any;
  readonly body: Buffer;
  /** Its confirm tag on its channel (0 without confirm mode). */
  readonly tag: number;
}

/** What to do with a publish: confirm it, refuse it, return it as unroutable, or say nothing. */
export type PublishReply = "ack" | "nack" | "return" | "none";

/** How the peer misbehaves; every hook is optional, and without hooks it behaves. */
export interface Script {
  /** Values the peer offers in connection.tune. Defaults: channelMax 2047, frameMax 131072, heartbeat 0. */
  readonly tune?: { channelMax?: number; frameMax?: number; heartbeat?: number };
  /** Runs after open-ok was sent. */
  opened?(conn: PeerConnection): void;
  /** Sees every method frame after the handshake first; returning true means it answered (or chose silence). */
  onMethod?(conn: PeerConnection, frame: Frame): boolean | undefined;
  /** Decides the reply to a publish. Default "ack" in confirm mode, else "none". */
  onPublish?(conn: PeerConnection, publish: Publish): PublishReply | undefined;
}

interface ChannelState {
  confirm: boolean;
  published: number;
  partial:
    | {
        fields: { exchange: string; routingKey: string; mandatory: boolean };
        props?: unknown;
        size?: number;
        chunks: Buffer[];
        got: number;
      }
    | undefined;
  consumers: Set<string>;
}

/** See the module comment. */
export class PeerConnection {
  readonly socket: Socket;
  /** Every publish received, in order. */
  readonly publishes: Publish[] = [];
  /** Every method frame received after the handshake, in order. */
  readonly methods: Frame[] = [];
  readonly #script: Script;
  readonly #channels = new Map<number, ChannelState>();
  #buffer: Buffer = Buffer.alloc(0);
  #stage: "header" | "start-ok" | "tune-ok" | "open" | "open-done" = "header";
  #frameMax = 131072;
  #nextConsumer = 0;

  constructor(socket: Socket, script: Script) {
    this.socket = socket;
    this.#script = script;
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
  }

  /** True once the handshake finished. */
  get open(): boolean {
    return this.#stage === "open-done";
  }

  /** Writes `frames` in one write: on a local socket with no-delay, one segment the client parses in one go. */
  send(...frames: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(frames));
  }

  /** Sends a delivery of `body` to consumer `consumerTag` on `channel`. */
  deliver(channel: number, consumerTag: string, deliveryTag: number, body: Buffer): void {
    this.send(
      message(
        channel,
        defs.BasicDeliver,
        { consumerTag, deliveryTag, redelivered: false, exchange: "", routingKey: "" },
        body,
      ),
    );
  }

  /** Consumer tags registered on `channel`. */
  consumers(channel: number): string[] {
    return [...(this.#channels.get(channel)?.consumers ?? [])];
  }

  /** Drops the TCP connection at once, without a close handshake. */
  cut(): void {
    this.socket.resetAndDestroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    if (this.#stage === "header") {
      if (this.#buffer.length < 8) return;
      this.#buffer = this.#buffer.subarray(8);
      this.#stage = "start-ok";
      const capabilities = {
        publisher_confirms: true,
        "basic.nack": true,
        consumer_cancel_notify: true,
        "connection.blocked": true,
      };
      this.send(
        method(0, defs.ConnectionStart, {
          serverProperties: { product: "amqp-peer", version: "0", capabilities },
          mechanisms: Buffer.from("PLAIN"),
          locales: Buffer.from("en_US"),
        }),
      );
    }
    const { frames, rest } = readFrames(this.#buffer);
    this.#buffer = rest;
    for (const frame of frames) {
      if (this.socket.destroyed) return;
      this.#onFrame(frame);
    }
  }

  #onFrame(frame: Frame): void {
    if (frame.id === undefined && frame.content === undefined) return; // heartbeat
    if (this.#stage !== "open-done") {
      this.#handshake(frame);
      return;
    }
    // A frame over the negotiated frame_max: RabbitMQ closes the whole connection with 501.
    if (frame.bytes + 8 > this.#frameMax) {
      this.send(connectionClose(501, `FRAME_ERROR - frame size ${frame.bytes + 8} exceeds ${this.#frameMax}`));
      this.socket.end();
      return;
    }
    if (frame.id === BASIC_PROPERTIES || frame.content !== undefined) {
      this.#content(frame);
      return;
    }
    this.methods.push(frame);
    if (this.#script.onMethod?.(this, frame)) return;
    const reply = this.#reply(frame);
    if (reply) this.send(reply);
  }

  #handshake(frame: Frame): void {
    if (this.#stage === "start-ok" && frame.id === defs.ConnectionStartOk) {
      this.#stage = "tune-ok";
      const tune = { channelMax: 2047, frameMax: 131072, heartbeat: 0, ...this.#script.tune };
      this.send(method(0, defs.ConnectionTune, tune));
    } else if (this.#stage === "tune-ok" && frame.id === defs.ConnectionTuneOk) {
      this.#frameMax = frame.fields.frameMax || 131072;
      this.#stage = "open";
    } else if (this.#stage === "open" && frame.id === defs.ConnectionOpen) {
      this.#stage = "open-done";
      this.send(method(0, defs.ConnectionOpenOk, { knownHosts: "" }));
      this.#script.opened?.(this);
    }
  }

  /** What a broker that behaves answers, if anything. */
  #reply(frame: Frame): Buffer | undefined {
    const ch = frame.channel;
    const f = frame.fields;
    switch (frame.id) {
      case defs.ChannelOpen:
        this.#channels.set(ch, { confirm: false, published: 0, partial: undefined, consumers: new Set() });
        return method(ch, defs.ChannelOpenOk, { channelId: Buffer.alloc(0) });
      case defs.ConfirmSelect:
        this.#state(ch).confirm = true;
        return f.nowait ? undefined : method(ch, defs.ConfirmSelectOk);
      case defs.BasicQos:
        return method(ch, defs.BasicQosOk);
      case defs.BasicConsume: {
        const consumerTag = f.consumerTag || `amq.ctag-peer-${++this.#nextConsumer}`;
        this.#state(ch).consumers.add(consumerTag);
        return method(ch, defs.BasicConsumeOk, { consumerTag });
      }
      case defs.BasicCancel:
        this.#state(ch).consumers.delete(f.consumerTag);
        return method(ch, defs.BasicCancelOk, { consumerTag: f.consumerTag });
      case defs.ExchangeDeclare:
        return method(ch, defs.ExchangeDeclareOk);
      case defs.QueueDeclare:
        return method(ch, defs.QueueDeclareOk, { queue: f.queue, messageCount: 0, consumerCount: 0 });
      case defs.QueueBind:
        return method(ch, defs.QueueBindOk);
      case defs.BasicPublish:
        this.#state(ch).partial = { fields: f, chunks: [], got: 0 };
        return undefined;
      case defs.ChannelClose:
        this.#channels.delete(ch);
        return method(ch, defs.ChannelCloseOk);
      case defs.ChannelCloseOk:
        this.#channels.delete(ch);
        return undefined;
      case defs.ConnectionClose:
        this.socket.end(method(0, defs.ConnectionCloseOk));
        return undefined;
      case defs.ConnectionCloseOk:
        this.socket.end();
        return undefined;
      default:
        // basic.ack / nack / reject from a consumer, and anything else: recorded in `methods`, not answered.
        return undefined;
    }
  }

  #state(channel: number): ChannelState {
    let state = this.#channels.get(channel);
    if (!state) {
      state = { confirm: false, published: 0, partial: undefined, consumers: new Set() };
      this.#channels.set(channel, state);
    }
    return state;
  }

  /** Content header and body frames complete the publish that a basic.publish began. */
  #content(frame: Frame): void {
    const state = this.#state(frame.channel);
    const partial = state.partial;
    if (!partial) return;
    if (frame.id === BASIC_PROPERTIES) {
      partial.props = frame.fields;
      partial.size = frame.size ?? 0;
    } else if (frame.content) {
      partial.chunks.push(frame.content);
      partial.got += frame.content.length;
    }
    if (partial.size === undefined || partial.got < partial.size) return;
    state.partial = undefined;
    const tag = state.confirm ? ++state.published : 0;
    const publish: Publish = {
      channel: frame.channel,
      exchange: partial.fields.exchange,
      routingKey: partial.fields.routingKey,
      mandatory: partial.fields.mandatory,
      properties: partial.props,
      body: Buffer.concat(partial.chunks),
      tag,
    };
    this.publishes.push(publish);
    const reply = this.#script.onPublish?.(this, publish) ?? (state.confirm ? "ack" : "none");
    this.confirm(publish, reply);
  }

  /** Sends `reply` for `publish` (a scripted reply may come later, through this). */
  confirm(publish: Publish, reply: PublishReply): void {
    const ch = publish.channel;
    if (reply === "return") {
      const fields = {
        replyCode: 312,
        replyText: "NO_ROUTE",
        exchange: publish.exchange,
        routingKey: publish.routingKey,
      };
      this.send(message(ch, defs.BasicReturn, fields, publish.body, publish.properties));
    }
    if (reply === "ack" || reply === "return")
      this.send(method(ch, defs.BasicAck, { deliveryTag: publish.tag, multiple: false }));
    if (reply === "nack") {
      this.send(method(ch, defs.BasicNack, { deliveryTag: publish.tag, multiple: false, requeue: false }));
    }
  }
}
