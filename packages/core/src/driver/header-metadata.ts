/** Options of {@link HeaderMetadata}. */
export interface HeaderMetadataOptions {
  /**
   * The prefix of the header that carries an escaped pair. Default
   * {@link ESCAPED_HEADER_PREFIX}, "Pps-E-". Matched case-insensitively on
   * receipt; a key that starts with it is always escaped when sent.
   */
  readonly prefix?: string;
  /**
   * Name prefixes the broker keeps for its own headers, such as `["Nats-"]`:
   * a key that starts with one is always escaped when sent, so that metadata
   * can never pose as a broker header, and a received header that starts
   * with one is left out of the metadata. Matched case-insensitively.
   */
  readonly reservedPrefixes?: readonly string[];
  /**
   * Whether a key may be sent as a header name as it is. Default: one or
   * more printable ASCII characters (33–126) other than ":".
   */
  readonly plainKey?: (key: string) => boolean;
  /**
   * Whether a value may be sent as a header value as it is. Default: no
   * line break, and no white space at either end (brokers trim it).
   */
  readonly plainValue?: (value: string) => boolean;
  /**
   * Keys read back under this one spelling whatever the case they arrive
   * in, such as `["content-type"]`: header names are case-insensitive, and
   * a foreign producer may send `Content-Type`.
   */
  readonly canonicalKeys?: readonly string[];
  /**
   * For a key that a protocol binding maps to a header of its own name with
   * a value encoded its way, that encoding; undefined for every other key.
   * Such a pair is sent as `key` and the encoded value, never escaped, and
   * after the other pairs (in key order among themselves), so that encoding
   * takes one pass over the metadata. nats:// gives CloudEvents attributes
   * (`ce-id`) the binding's percent-encoding so. Decoding such headers is the
   * caller's: `decode` reads them as plain pairs.
   */
  readonly valueEncoding?: (key: string) => ((value: string) => string) | undefined;
}

/** The default prefix of a header that carries an escaped metadata pair. */
export const ESCAPED_HEADER_PREFIX = "Pps-E-";

/** 33–126 without ":" (58): a header name every header-carrying protocol takes. */
const TOKEN = /^[!-9;-~]+$/;
const defaultPlainKey = (key: string) => TOKEN.test(key);
const defaultPlainValue = (value: string) => !value.includes("\n") && !value.includes("\r") && value.trim() === value;

const NO_METADATA: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Metadata carried in the headers of a broker that restricts header names
 * or values (NATS, MQTT 5 user properties behind a proxy, HTTP-like
 * protocols), so that every string round-trips exactly. A pair whose key and
 * value the broker takes as they are is sent as an ordinary header, so other
 * programs read it as one. Any other pair goes in a header named
 * `<prefix><key>`, key and value percent-encoded (encodeURIComponent). On
 * receipt, escaped pairs are decoded, the broker's own headers left out, and
 * a header that merely looks escaped (another program's) kept as it is.
 * nats:// uses it with its defaults and `reservedPrefixes: ["Nats-"]`.
 */
export class HeaderMetadata {
  readonly #prefix: string;
  readonly #prefixLower: string;
  readonly #reserved: readonly string[];
  readonly #plainKey: (key: string) => boolean;
  readonly #plainValue: (value: string) => boolean;
  readonly #canonical: ReadonlyMap<string, string>;
  readonly #valueEncoding: ((key: string) => ((value: string) => string) | undefined) | undefined;

  constructor(options: HeaderMetadataOptions = {}) {
    this.#prefix = options.prefix ?? ESCAPED_HEADER_PREFIX;
    this.#prefixLower = this.#prefix.toLowerCase();
    this.#reserved = (options.reservedPrefixes ?? []).map((p) => p.toLowerCase());
    this.#plainKey = options.plainKey ?? defaultPlainKey;
    this.#plainValue = options.plainValue ?? defaultPlainValue;
    this.#canonical = new Map((options.canonicalKeys ?? []).map((key) => [key.toLowerCase(), key]));
    this.#valueEncoding = options.valueEncoding;
  }

  /**
   * The headers, as name and value, that carry `metadata`, in its key order;
   * the pairs that have a {@link HeaderMetadataOptions.valueEncoding} last.
   */
  encode(metadata: Readonly<Record<string, string>>): [name: string, value: string][] {
    const out: [string, string][] = [];
    let own: [string, string][] | undefined;
    for (const key in metadata) {
      const value = metadata[key] as string;
      const encodeValue = this.#valueEncoding?.(key);
      if (encodeValue !== undefined) {
        own ??= [];
        own.push([key, encodeValue(value)]);
      } else if (this.#sendsPlain(key) && this.#plainValue(value)) out.push([key, value]);
      else out.push([this.#prefix + encodeURIComponent(key), encodeURIComponent(value)]);
    }
    if (own !== undefined) for (const pair of own) out.push(pair);
    return out;
  }

  /**
   * The metadata that `headers` (name and first value of each) carry:
   * escaped pairs decoded, the broker's reserved headers left out. Returns
   * one shared frozen empty object when there is none.
   */
  decode(headers: Iterable<readonly [name: string, value: string]>): Record<string, string> {
    let metadata = NO_METADATA;
    for (const [key, value] of headers) {
      const lower = key.toLowerCase();
      if (this.#isReserved(lower)) continue;
      if (metadata === NO_METADATA) metadata = {};
      if (lower.startsWith(this.#prefixLower)) {
        try {
          metadata[decodeURIComponent(key.slice(this.#prefix.length))] = decodeURIComponent(value);
          continue;
        } catch {
          // Not escaped by us after all (another program's header with this prefix): kept as it is.
        }
      }
      metadata[this.#canonical.get(lower) ?? key] = value;
    }
    return metadata;
  }

  #sendsPlain(key: string): boolean {
    if (!this.#plainKey(key)) return false;
    const lower = key.toLowerCase();
    return !lower.startsWith(this.#prefixLower) && !this.#isReserved(lower);
  }

  #isReserved(lower: string): boolean {
    for (const prefix of this.#reserved) if (lower.startsWith(prefix)) return true;
    return false;
  }
}
