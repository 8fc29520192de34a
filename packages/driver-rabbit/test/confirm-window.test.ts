import { describe, expect, it } from "vitest";
import { ConfirmWindow } from "../src/confirm-window.js";

describe("ConfirmWindow: unconfirmed publishes by delivery tag", () => {
  it("settles single, out-of-order and multiple confirms exactly once", () => {
    const window = new ConfirmWindow<string>();
    for (const item of ["a", "b", "c", "d", "e"]) window.push(item); // tags 1..5
    expect(window.take(3, false)).toEqual(["c"]);
    expect(window.take(3, false)).toEqual([]);
    expect(window.take(4, true)).toEqual(["a", "b", "d"]);
    expect([...window]).toEqual(["e"]);
    window.push("f"); // tag 6
    expect(window.find((x) => x === "f")).toBe("f");
    expect(window.take(6, true)).toEqual(["e", "f"]);
    expect([...window]).toEqual([]);
    window.push("g"); // tag 7: tags keep counting after the window emptied
    expect(window.take(7, false)).toEqual(["g"]);
  });

  it("keeps tags right across compaction of a long-lived window", () => {
    const window = new ConfirmWindow<number>();
    for (let tag = 1; tag <= 20_000; tag++) window.push(tag);
    window.take(10_000, false); // a hole, then everything before it
    expect(window.take(9_999, true)).toHaveLength(9_999);
    for (let tag = 10_001; tag <= 15_000; tag++) expect(window.take(tag, false)).toEqual([tag]);
    expect(window.take(20_000, true)).toHaveLength(5_000);
    expect([...window]).toEqual([]);
  });

  it("hands back what was unconfirmed, in order, and starts again at tag 1", () => {
    const window = new ConfirmWindow<string>();
    for (const item of ["a", "b", "c"]) window.push(item);
    window.take(2, false);
    expect(window.oldest).toBe("a");
    window.take(1, false);
    expect(window.oldest).toBe("c");
    expect(window.reset()).toEqual(["c"]);
    expect(window.oldest).toBeUndefined();
    window.push("x");
    expect(window.take(1, false)).toEqual(["x"]);
  });
});
