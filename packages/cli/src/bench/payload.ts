import { randomBytes } from "node:crypto";

/**
 * Bench message bodies: a 16-byte header (magic "ppb1", an 8-byte run id, a
 * 4-byte sequence number) then filler derived from the sequence number, so
 * that the receiver can tell this run's messages from leftovers of others,
 * count duplicates and losses, and check that bytes arrived unchanged.
 */
export const HEADER_BYTES = 16;
const MAGIC = [0x70, 0x70, 0x62, 0x31]; // "ppb1"

export type RunId = Uint8Array;

export function newRunId(): RunId {
  return new Uint8Array(randomBytes(8));
}

/** The body of message `seq` of `run`, `size` bytes long (at least HEADER_BYTES). */
export function encodeBody(run: RunId, seq: number, size: number): Uint8Array {
  const body = new Uint8Array(size);
  body.set(MAGIC, 0);
  body.set(run, 4);
  new DataView(body.buffer).setUint32(12, seq);
  for (let i = HEADER_BYTES; i < size; i++) body[i] = (seq + i) & 0xff;
  return body;
}

/** What a received body is: one of this run's (with its seq, and whether its bytes are intact), or foreign. */
export type Decoded = { kind: "ours"; seq: number; intact: boolean } | { kind: "foreign" };

export function decodeBody(run: RunId, body: Uint8Array): Decoded {
  if (body.byteLength < HEADER_BYTES) return { kind: "foreign" };
  for (let i = 0; i < 4; i++) if (body[i] !== MAGIC[i]) return { kind: "foreign" };
  for (let i = 0; i < 8; i++) if (body[4 + i] !== run[i]) return { kind: "foreign" };
  const seq = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(12);
  let intact = true;
  for (let i = HEADER_BYTES; i < body.byteLength; i++) {
    if (body[i] !== ((seq + i) & 0xff)) {
      intact = false;
      break;
    }
  }
  return { kind: "ours", seq, intact };
}
