// What a message or a broker says reaches the operator's terminal escaped, and a pipe byte for byte: for
// `receive` (plain mode), `redrive --dry-run`, `doctor`, and error lines. The hostile texts are in hostile.mjs.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { registerDriver } from "../src/drivers.js";
import { visibleBody, visibleControls } from "../src/format.js";
import { BINARY, BODY, hostileDriver, LINK, prepare } from "./hostile.mjs";
import { cli, onTerminal, output } from "./in-process.js";

registerDriver("hostile", hostileDriver, "hostile-driver");

const MAIN = fileURLToPath(new URL("./hostile-main.mjs", import.meta.url));

/** `pubsub ARGS` in a child process (see hostile-main.mjs) whose stdout and stderr are pipes, as bytes. */
function piped(...args: string[]): Promise<{ code: number; stdout: Buffer; stderr: Buffer }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { encoding: "buffer", timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** In this process, on a terminal, with the hostile messages prepared for `command`. */
async function onTerminalAfter(command: "receive" | "redrive"): Promise<number> {
  const { args, done } = await prepare(command, randomUUID().slice(0, 8));
  try {
    return await onTerminal(() => cli(...args));
  } finally {
    await done();
  }
}

const ESCAPED_LINK = "\\x1b]8;;https://evil.example\\x07click\\x1b]8;;\\x07";

describe("visibleControls and visibleBody", () => {
  it("escape C0, DEL, C1, bidi and invisible characters; keep tabs, joiners and, for bodies, line breaks", () => {
    expect(visibleControls("a\x00\x1b[2J\x7f\x85\x9b\u00ad\u061c\u200b\u200e\u202e\u2066\u2028\ufeff\u{e0001}z")).toBe(
      "a\\x00\\x1b[2J\\x7f\\x85\\x9b\\xad\\u061c\\u200b\\u200e\\u202e\\u2066\\u2028\\ufeff\\u{e0001}z",
    );
    expect(visibleControls("tab\there, 👩\u200d💻 \u200c, line\r\nnext")).toBe(
      "tab\there, 👩\u200d💻 \u200c, line\\r\\nnext",
    );
    expect(visibleControls("line\r\nnext", { lineBreaks: true })).toBe("line\\r\nnext");
    expect(visibleControls("héllo, wörld: ü ✓ 日本")).toBe("héllo, wörld: ü ✓ 日本");
    expect(visibleBody(new TextEncoder().encode(BODY))).toBe(
      "hello \\x1b]0;PWNED\\x07 \\x1b[2J\\u202eevil\\u200b\nsecond line\\r\\x9b",
    );
    expect(visibleBody(new Uint8Array(BINARY))).toBe("\\xff\\x1bA\n\t\\x7f");
  });
});

describe("on a terminal, untrusted text is shown escaped", () => {
  it("receive prints each body with its control characters escaped and its lines kept", async () => {
    expect(await onTerminalAfter("receive")).toBe(0);
    expect(output.stderr).toEqual([]);
    expect(output.stdout.join("")).toBe(
      "hello \\x1b]0;PWNED\\x07 \\x1b[2J\\u202eevil\\u200b\nsecond line\\r\\x9b\n\\xff\\x1bA\n\t\\x7f\n",
    );
  });

  it("redrive --dry-run lists the dead letter's keys escaped", async () => {
    expect(await onTerminalAfter("redrive")).toBe(0);
    const [listing] = output.stdout.join("").split("\n");
    expect(listing).toBe(
      `1  attempts 3\\x1b[2J  at 2026-12-06T20:00:00.000Z\\x9b  from mem://orders\\u202e  error: order failed: ${ESCAPED_LINK}`,
    );
  });

  it("doctor shows the broker's name, the driver's checks and error texts escaped, one line each", async () => {
    expect(await onTerminal(() => cli("doctor", "hostile://orders", "--as", "topic"))).toBe(0);
    expect(output.stdout.join("").split("\n").slice(1, 5)).toEqual([
      "  broker  Evil\\x1b]0;PWNED\\x07MQ",
      "  ok    driver    hostile:// by hostile-driver",
      `  WARN  queue     queue "a\\u202eb"\\nhas ${ESCAPED_LINK}`,
      "                  fix: wait\\x1b[2J",
    ]);
    expect(await onTerminal(() => cli("doctor", "hostile://failing", "--as", "topic"))).toBe(1);
    expect(output.stdout.join("").split("\n")[5]).toBe(
      `  FAIL  topic     Unknown: the broker says \\x1b[2J${ESCAPED_LINK}`,
    );
  });

  it("an error line on stderr is escaped", async () => {
    expect(await onTerminal(() => cli("send", "hostile://failing", "hi"))).toBe(1);
    expect(output.stderr.join("")).toBe(`pubsub: Unknown: the broker says \\x1b[2J${ESCAPED_LINK}\n`);
  });
});

describe("piped, the output is byte for byte what the messages and the broker said", () => {
  it("receive > file keeps every body's bytes", async () => {
    const { code, stdout, stderr } = await piped("receive");
    expect({ code, stderr: stderr.toString() }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toEqual(Buffer.concat([Buffer.from(`${BODY}\n`), Buffer.from(BINARY), Buffer.from("\n")]));
  });

  it("redrive --dry-run writes the dead letter's keys as they are", async () => {
    const { code, stdout } = await piped("redrive");
    expect(code).toBe(0);
    expect(stdout.toString().split("\n")[0]).toBe(
      `1  attempts 3\x1b[2J  at 2026-12-06T20:00:00.000Z\x9b  from mem://orders\u202e  error: order failed: ${LINK}`,
    );
  });

  it("doctor and the error line write what the broker said as it is", async () => {
    const doctor = await piped("doctor", "hostile://orders", "--as", "topic");
    expect(doctor.code).toBe(0);
    expect(doctor.stdout.toString().split("\n").slice(1, 4)).toEqual([
      "  broker  Evil\x1b]0;PWNED\x07MQ",
      "  ok    driver    hostile:// by hostile-driver",
      `  WARN  queue     queue "a\u202eb"`,
    ]);
    const send = await piped("send", "hostile://failing", "hi");
    expect({ code: send.code, stderr: send.stderr.toString() }).toEqual({
      code: 1,
      stderr: `pubsub: Unknown: the broker says \x1b[2J${LINK}\n`,
    });
  });
});
