/**
 * One URL vocabulary: every built-in driver declares what its URLs take
 * (`queryParameters`), and each query schema uses only the kit's VOCABULARY
 * and the names the driver calls its broker's own. A driver that spells a
 * shared concept its own way has to list that name as its own, where review
 * sees it; a name the vocabulary has cannot be listed as a broker's own.
 */
import { builtinDrivers, type QueryParameters, VOCABULARY } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";

const vocabulary = Object.keys(VOCABULARY);

/** What the test needs of one parameter's zod schema (the root package does not depend on zod). */
interface ParameterSchema {
  safeParse(value: unknown): { success: boolean; data?: unknown };
}

/** For each name of the vocabulary: values every driver that takes it reads alike, and values every one refuses. */
const SAMPLES: Record<keyof typeof VOCABULARY, { reads: [string, unknown][]; refuses: string[] }> = {
  declare: {
    reads: [
      ["true", true],
      ["1", true],
      ["false", false],
      ["0", false],
    ],
    refuses: ["yes"],
  },
  ackDeadline: {
    reads: [
      ["30s", 30_000],
      ["250", 250],
      ["2m", 120_000],
    ],
    refuses: ["soon", "0"],
  },
  start: {
    reads: [
      ["new", "new"],
      ["all", "all"],
    ],
    refuses: ["last", "first"],
  },
  prefetch: { reads: [["10", 10]], refuses: ["0", "1.5", "many"] },
  maxWait: {
    reads: [
      ["500ms", 500],
      ["1s", 1000],
    ],
    refuses: ["soon", "0"],
  },
  subscription: { reads: [["billing", "billing"]], refuses: [""] },
  maxBatchSize: { reads: [["50", 50]], refuses: ["0", "1.5"] },
  maxBatchBytes: {
    reads: [
      ["64KiB", 65_536],
      ["1000", 1000],
    ],
    refuses: ["lots"],
  },
  maxConcurrentBatches: { reads: [["4", 4]], refuses: ["0"] },
  linger: {
    reads: [
      ["5ms", 5],
      ["0", 0],
    ],
    refuses: ["soon"],
  },
  maxReceiveBatchSize: { reads: [["100", 100]], refuses: ["0"] },
};

describe.each(Object.entries(builtinDrivers))("%s://", (scheme, pkg) => {
  it("uses only names of the vocabulary and of its broker, and keeps its old names as aliases of vocabulary names", async () => {
    const { queryParameters } = (await import(pkg)) as { queryParameters?: QueryParameters };
    expect(queryParameters, `${pkg} exports no queryParameters`).toBeDefined();
    const { schemas, own, renamed } = queryParameters as QueryParameters;
    expect(Object.keys(schemas).sort()).toEqual(["subscription", "topic"]);
    expect(own.filter((name) => vocabulary.includes(name))).toEqual([]);
    const used = new Set<string>();
    for (const [kind, schema] of Object.entries(schemas)) {
      const names = Object.keys(schema.shape);
      expect(
        names.filter((name) => !vocabulary.includes(name) && !own.includes(name)),
        `${scheme}:// ${kind} names outside the vocabulary`,
      ).toEqual([]);
      for (const name of names) used.add(name);
    }
    for (const [kind, schema] of Object.entries(schemas)) {
      for (const [name, field] of Object.entries(schema.shape as Record<string, ParameterSchema>)) {
        const sample = SAMPLES[name as keyof typeof VOCABULARY];
        if (!sample) continue;
        for (const [text, value] of sample.reads) {
          expect(field.safeParse(text), `${scheme}:// ${kind} ${name}=${text}`).toEqual({ success: true, data: value });
        }
        for (const text of sample.refuses) {
          expect(field.safeParse(text).success, `${scheme}:// ${kind} ${name}=${text}`).toBe(false);
        }
      }
    }
    // What a driver lists as its own, it uses; an old name is no longer in a schema, and its new name is.
    expect(own.filter((name) => !used.has(name))).toEqual([]);
    for (const [old, name] of Object.entries(renamed)) {
      expect(used.has(old), `${scheme}:// still has the old name ${old}`).toBe(false);
      expect(used.has(name), `${scheme}:// renames ${old} to ${name}, which it does not take`).toBe(true);
      expect(vocabulary).toContain(name);
    }
  });
});

it("gives each concept of the issue one name on every driver", async () => {
  const renamed: Record<string, string> = {};
  for (const pkg of Object.values(builtinDrivers)) {
    const { queryParameters } = (await import(pkg)) as { queryParameters: QueryParameters };
    Object.assign(renamed, queryParameters.renamed);
  }
  expect(renamed).toEqual({ create: "declare", ackWait: "ackDeadline", deliver: "start" });
});
