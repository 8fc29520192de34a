/**
 * A corpus of passwords holding the characters that end a "word" for a
 * careless scanner, or that a reader cannot see: C0 and C1 controls, tab and
 * the line breaks, the Unicode spaces, the zero-width and bidi format
 * characters. WHATWG URL parsing keeps a password holding any of them (tab
 * and newline are dropped, the others percent-encoded), so a server URL
 * written that way works, and its raw text may reach a message. Each
 * character is planted inside a password, at its end and inside a user
 * name, in a `scheme://` URL, a scheme-less `user:pw@host`, and a query's
 * `password=`; no piece of the password may survive `redactUrl`, and the
 * host must (a message that lost it would not say where it failed).
 */
import { redactUrl } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";

/** Name → character. Every class the issue names, and the percent-encoded forms. */
const CHARACTERS: Record<string, string> = {
  "U+0009 tab": "\t",
  "U+000A line feed": "\n",
  "U+000D carriage return": "\r",
  "U+000B vertical tab": "\v",
  "U+000C form feed": "\f",
  "U+0000 NUL": "\0",
  "U+001B escape": "\x1b",
  "U+001F unit separator": "\x1f",
  "U+007F delete": "\x7f",
  "U+0085 next line (C1)": "\x85",
  "U+009B CSI (C1)": "\x9b",
  "U+00A0 no-break space": "\u00a0",
  "U+00AD soft hyphen": "\u00ad",
  "U+1680 ogham space": "\u1680",
  "U+2000 en quad": "\u2000",
  "U+2003 em space": "\u2003",
  "U+2007 figure space": "\u2007",
  "U+200A hair space": "\u200a",
  "U+200B zero-width space": "\u200b",
  "U+200C zero-width non-joiner": "\u200c",
  "U+200D zero-width joiner": "\u200d",
  "U+2028 line separator": "\u2028",
  "U+2029 paragraph separator": "\u2029",
  "U+202A left-to-right embedding": "\u202a",
  "U+202E right-to-left override": "\u202e",
  "U+202F narrow no-break space": "\u202f",
  "U+205F medium mathematical space": "\u205f",
  "U+2060 word joiner": "\u2060",
  "U+2066 left-to-right isolate": "\u2066",
  "U+2069 pop directional isolate": "\u2069",
  "U+3000 ideographic space": "\u3000",
  "U+FEFF byte order mark": "\ufeff",
  "%09 (tab, percent-encoded)": "%09",
  "%0A (line feed, percent-encoded)": "%0A",
  "%C2%A0 (no-break space, percent-encoded)": "%C2%A0",
  "%E2%80%A8 (line separator, percent-encoded)": "%E2%80%A8",
};

/** Where the character goes: each form names the password's two halves, which must both go. */
const FORMS: Record<string, (c: string) => string> = {
  "inside the password": (c) => `connect to amqp://user:Zqfront${c}Zqback@broker.example:5672 failed`,
  "at the end of the password": (c) => `connect to amqp://user:ZqfrontZqback${c}@broker.example:5672 failed`,
  "inside the user name": (c) => `connect to amqp://Zqfront${c}Zqback:pw@broker.example:5672 failed`,
  "in a URL that starts a line": (c) => `redis://:Zqfront${c}Zqback@broker.example:5672/0`,
  "scheme-less, inside the password": (c) => `dial user:Zqfront${c}Zqback@broker.example:5672 failed`,
  "in the query's password": (c) => `amqps://broker.example:5672?password=Zqfront${c}Zqback&heartbeat=5`,
};

const SECRETS = ["Zqfront", "Zqback"];

describe("redactUrl", () => {
  const cases = Object.entries(CHARACTERS).flatMap(([name, c]) =>
    Object.entries(FORMS).map(([where, form]) => ({ label: `${name}, ${where}`, text: form(c) })),
  );

  it.each(cases)("removes a password with $label", ({ text }) => {
    const redacted = redactUrl(text);
    for (const secret of SECRETS) expect(redacted).not.toContain(secret);
    expect(redacted).toContain("broker.example:5672");
  });

  it("covers at least 24 characters, in every form", () => {
    expect(Object.keys(CHARACTERS).length).toBeGreaterThanOrEqual(24);
    expect(cases.length).toBe(Object.keys(CHARACTERS).length * Object.keys(FORMS).length);
  });

  it("removes user information after a scheme whose '//' holds a tab or a newline, which URL parsing drops", () => {
    for (const marker of [":\t//", ":/\n/", ":\r\n//"]) {
      const redacted = redactUrl(`connect to amqp${marker}user:ZqfrontZqback@broker.example:5672 failed`);
      expect(redacted).not.toContain("Zqfront");
      expect(redacted).toContain("@broker.example:5672 failed");
    }
  });

  it("still ends a URL at an ordinary space, so that the words after it stay", () => {
    expect(redactUrl("amqp://u:p@h:5672 is down; ask ops@example.com")).toBe(
      "amqp://***@h:5672 is down; ask ***@example.com",
    );
    expect(redactUrl("amqp://h:5672 is down")).toBe("amqp://h:5672 is down");
  });
});
