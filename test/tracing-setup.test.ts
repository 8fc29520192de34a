// The README's "Tracing setup" snippets, run as they are written there: each in a process of its own (the
// OpenTelemetry globals are set once per process), followed by a small application on mem:// that sends one
// message and processes it, and reports the spans the snippet's exporter received and the logger's warnings.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;

/** The ```js blocks of the README's "### Tracing setup" section, in order. */
function setupSnippets(): string[] {
  const readme = readFileSync(new URL("README.md", `file://${root}`), "utf8");
  const section = readme.split(/^#{2,3} /m).find((s) => s.startsWith("Tracing setup"));
  if (!section) throw new Error('README.md has no "### Tracing setup" section');
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
}

/**
 * The application run after a snippet. ConsoleSpanExporter hands each span to console.dir, which is caught here;
 * the names start with __ so as not to meet the snippet's.
 */
const APPLICATION = `
import { openSubscription as __openSubscription, openTopic as __openTopic } from "@portable-pubsub/core";
import { trace as __trace } from "@opentelemetry/api";
const __spans = [];
console.dir = (info) => __spans.push(info);
const __warnings = [];
const __logger = { info() {}, warn: (e) => __warnings.push(e), error: (e) => __warnings.push(e) };
const __name = "tracing-setup-" + Math.random().toString(36).slice(2);
const __topic = await __openTopic("mem://" + __name, { logger: __logger });
const __sub = await __openSubscription("mem://" + __name, { logger: __logger });
await __topic.send({ body: "order 1" });
await new Promise((resolve, reject) => {
  __sub.process(() => resolve()).catch(reject);
});
await __sub.shutdown();
await __topic.shutdown();
await __trace.getTracerProvider().getDelegate().forceFlush();
const __out = {
  spans: __spans.map((s) => ({ name: s.name, traceId: s.traceId, id: s.id, parentId: s.parentSpanContext?.spanId })),
  warnings: __warnings.map((e) => ({ event: e.event, message: e.message })),
};
process.stdout.write("\\nRESULT " + JSON.stringify(__out) + "\\n", () => process.exit(0));
`;

interface Outcome {
  spans: { name: string; traceId: string; id: string; parentId?: string }[];
  warnings: { event: string; message: string }[];
}

async function runWith(snippet: string): Promise<Outcome> {
  const { stdout } = await run(process.execPath, ["--input-type=module", "--eval", `${snippet}\n${APPLICATION}`], {
    cwd: root,
    timeout: 60_000,
  });
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) throw new Error(`no result; stdout:\n${stdout}`);
  return JSON.parse(line.slice("RESULT ".length)) as Outcome;
}

/** The one span whose name starts with `operation`. */
function span(outcome: Outcome, operation: string) {
  const found = outcome.spans.filter((s) => s.name.startsWith(`${operation} `));
  expect(found.map((s) => s.name.split(" ")[0])).toEqual([operation]);
  return found[0] as Outcome["spans"][number];
}

describe("README Tracing setup", () => {
  const snippets = setupSnippets();

  it("has the Node SDK, the NodeTracerProvider and the bare BasicTracerProvider snippets", () => {
    expect(snippets).toHaveLength(3);
    expect(snippets[0]).toContain("new NodeSDK(");
    expect(snippets[1]).toContain("provider.register()");
    expect(snippets[2]).toContain("trace.setGlobalTracerProvider(provider)");
  });

  it.each([
    ["the Node SDK", 0],
    ["NodeTracerProvider.register()", 1],
  ])(
    "with %s, the process span is in the send span's trace, under the create span, with no warning",
    async (_name, i) => {
      const outcome = await runWith(snippets[i] as string);
      const create = span(outcome, "create");
      const send = span(outcome, "send");
      const process = span(outcome, "process");
      expect(send.traceId).toBe(create.traceId);
      expect(process.traceId).toBe(send.traceId);
      expect(process.parentId).toBe(create.id);
      expect(outcome.warnings).toEqual([]);
    },
  );

  it("with a bare BasicTracerProvider, send and process land in different traces, and the logger is warned once", async () => {
    const outcome = await runWith(snippets[2] as string);
    const send = span(outcome, "send");
    const process = span(outcome, "process");
    expect(process.traceId).not.toBe(send.traceId);
    expect(process.parentId).toBeUndefined();
    // Both the topic and the subscription have the logger: one warning for the process.
    expect(outcome.warnings.map((w) => w.event)).toEqual(["pubsub.tracing_no_propagator"]);
    expect(outcome.warnings[0]?.message).toMatch(/no propagator/);
    expect(outcome.warnings[0]?.message).toMatch(/NodeTracerProvider\.register\(\)/);
  });
});
