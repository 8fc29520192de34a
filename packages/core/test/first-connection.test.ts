import { ErrorCode, errorCode, FirstConnection } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";

/** An open function whose attempts the test settles by hand. */
function scripted<C>() {
  const attempts: { resolve(c: C): void; reject(e: unknown): void }[] = [];
  const open = () =>
    new Promise<C>((resolve, reject) => {
      attempts.push({ resolve, reject });
    });
  return { attempts, open };
}

const codeOf = (e: unknown) => (e as { code?: string }).code ?? errorCode(e);

describe("FirstConnection", () => {
  it("shares one attempt between callers and gives each the connection, then gives it at once", async () => {
    const { attempts, open } = scripted<string>();
    const connected: string[] = [];
    const gate = new FirstConnection({ open, connected: (c) => connected.push(c) });
    const a = gate.get();
    const b = gate.get();
    expect(attempts.length).toBe(1);
    attempts[0]?.resolve("conn");
    expect(await Promise.all([a, b])).toEqual(["conn", "conn"]);
    expect(connected).toEqual(["conn"]);
    expect(gate.current).toBe("conn");
    expect(await gate.get()).toBe("conn");
    expect(attempts.length).toBe(1);
  });

  it("fails every caller with the first connect error, as failed words it, and tries again on the next call", async () => {
    const { attempts, open } = scripted<string>();
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const gate = new FirstConnection({ open, failed: (err) => new Error(`cannot connect: ${(err as Error).message}`) });
    const outcomes = Promise.allSettled([gate.get(), gate.get()]);
    attempts[0]?.reject(refused);
    const settled = await outcomes;
    expect(settled.map((s) => (s.status === "rejected" ? (s.reason as Error).message : "resolved"))).toEqual([
      "cannot connect: connect ECONNREFUSED",
      "cannot connect: connect ECONNREFUSED",
    ]);
    expect(gate.current).toBeUndefined();
    const again = gate.get();
    expect(attempts.length).toBe(2);
    attempts[1]?.resolve("second");
    expect(await again).toBe("second");
  });

  it("fails callers with DeadlineExceeded after timeoutMs, and keeps a connection made later", async () => {
    const { attempts, open } = scripted<string>();
    const gate = new FirstConnection({ open, timeoutMs: 50 });
    const started = Date.now();
    const error = await gate.get().catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(codeOf(error)).toBe(ErrorCode.DeadlineExceeded);
    expect((error as Error).message).toBe("no connection within the connect timeout (50 ms)");
    const waiting = gate.get();
    expect(attempts.length).toBe(1);
    attempts[0]?.resolve("late");
    expect(await waiting).toBe("late");
    expect(gate.current).toBe("late");
  });

  it("cancels one caller with its signal while the attempt goes on for the others", async () => {
    const { attempts, open } = scripted<string>();
    const gate = new FirstConnection({ open });
    const controller = new AbortController();
    const cancelled = gate.get(controller.signal).catch((e: unknown) => e);
    const other = gate.get();
    controller.abort();
    expect(codeOf(await cancelled)).toBe(ErrorCode.Canceled);
    attempts[0]?.resolve("conn");
    expect(await other).toBe("conn");
  });

  it("fails calls after close with FailedPrecondition, and disposes of a connection that arrives after it", async () => {
    const { attempts, open } = scripted<string>();
    const disposed: string[] = [];
    const gate = new FirstConnection({ open, dispose: (c) => disposed.push(c) });
    const waiting = gate.get().catch((e: unknown) => e);
    gate.close();
    attempts[0]?.resolve("too late");
    expect(codeOf(await waiting)).toBe(ErrorCode.FailedPrecondition);
    expect(codeOf(await gate.get().catch((e: unknown) => e))).toBe(ErrorCode.FailedPrecondition);
    await new Promise((r) => setTimeout(r, 0));
    expect(disposed).toEqual(["too late"]);
    expect(gate.current).toBeUndefined();
  });
});
