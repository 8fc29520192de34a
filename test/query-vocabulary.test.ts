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
