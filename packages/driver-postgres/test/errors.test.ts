import { ErrorCode, errorCode, openTopic, PubSubError } from "@portable-pubsub/core";
import { DriverError } from "@portable-pubsub/core/driver";
import { isConnectionLoss, PgDriverError, pgErrors, SqlState } from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { PG_URL, schemaFixture, skipPg, unique } from "./helpers.js";

/** An error as node-postgres makes it for a server ErrorResponse: a message and the SQLSTATE as `code`. */
function serverError(code: string, message = "from the server"): Error {
  return Object.assign(new Error(message), { code });
}

describe("pg error classifier", () => {
  it("maps SQLSTATEs to portable codes and retries", () => {
    const cases: [string, ErrorCode, boolean][] = [
      [SqlState.UniqueViolation, ErrorCode.AlreadyExists, false],
      [SqlState.UndefinedTable, ErrorCode.NotFound, false],
      [SqlState.UndefinedObject, ErrorCode.NotFound, false],
      [SqlState.InvalidSchemaName, ErrorCode.NotFound, false],
      [SqlState.InvalidCatalogName, ErrorCode.NotFound, false],
      [SqlState.InsufficientPrivilege, ErrorCode.PermissionDenied, false],
      [SqlState.InvalidPassword, ErrorCode.PermissionDenied, false],
      [SqlState.TooManyConnections, ErrorCode.ResourceExhausted, true],
      ["53100", ErrorCode.ResourceExhausted, false],
      [SqlState.SerializationFailure, ErrorCode.Unknown, true],
      [SqlState.DeadlockDetected, ErrorCode.Unknown, true],
      [SqlState.AdminShutdown, ErrorCode.Unknown, true],
      [SqlState.CannotConnectNow, ErrorCode.Unknown, true],
      ["08006", ErrorCode.Unknown, true],
      [SqlState.QueryCanceled, ErrorCode.DeadlineExceeded, true],
      [SqlState.UntranslatableCharacter, ErrorCode.InvalidArgument, false],
      ["22001", ErrorCode.InvalidArgument, false],
      [SqlState.ReadOnlyTransaction, ErrorCode.FailedPrecondition, false],
      ["XX000", ErrorCode.Internal, false],
    ];
    for (const [code, portable, retryable] of cases) {
      const err = serverError(code);
      expect([code, pgErrors.errorCode(err), pgErrors.isRetryable(err)]).toEqual([code, portable, retryable]);
    }
    expect(pgErrors.hint?.(serverError(SqlState.UndefinedTable))).toMatch(/declare=true/);
    expect(pgErrors.hint?.(serverError(SqlState.TooManyConnections))).toMatch(/max_connections/);
  });

  it("retries node-postgres's connection errors and socket errors, and says the connection is lost", () => {
    for (const err of [
      new Error("Connection terminated unexpectedly"),
      new Error("timeout exceeded when trying to connect"),
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
      new Error("wrapped", { cause: serverError(SqlState.AdminShutdown) }),
    ]) {
      expect([err.message, pgErrors.isRetryable(err), isConnectionLoss(err)]).toEqual([err.message, true, true]);
    }
    expect(isConnectionLoss(serverError(SqlState.UniqueViolation))).toBe(false);
    expect(pgErrors.errorCode(new Error("Cannot use a pool after calling end on the pool"))).toBe(
      ErrorCode.FailedPrecondition,
    );
    expect(pgErrors.errorCode(new PgDriverError("x", ErrorCode.NotFound))).toBe(ErrorCode.NotFound);
    // The package's old name is the kit's class: an application's `instanceof PgDriverError` still holds.
    expect(PgDriverError).toBe(DriverError);
    const own = new DriverError("full", ErrorCode.ResourceExhausted, { retryable: true, hint: "wait" });
    expect([pgErrors.errorCode(own), pgErrors.isRetryable(own), pgErrors.hint?.(own)]).toEqual([
      ErrorCode.ResourceExhausted,
      true,
      "wait",
    ]);
    expect(pgErrors.errorCode(new Error("anything else"))).toBe(ErrorCode.Unknown);
    expect(pgErrors.isRetryable("not an error")).toBe(false);
  });
});

describe.skipIf(skipPg)("pg errors from the real server", () => {
  const fixture = schemaFixture("errors");

  it("classifies a unique violation and a terminated backend as the server reports them", async () => {
    const name = unique("dup");
    await fixture().admin.query(`INSERT INTO ${fixture().schema}.topics (name) VALUES ($1)`, [name]);
    const dup = await fixture()
      .admin.query(`INSERT INTO ${fixture().schema}.topics (name) VALUES ($1)`, [name])
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(pgErrors.errorCode(dup)).toBe(ErrorCode.AlreadyExists);

    const victim = new pg.Client({ connectionString: PG_URL });
    victim.on("error", () => {});
    await victim.connect();
    const pid = (await victim.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    const sleeping = victim.query("SELECT pg_sleep(5)").then(
      () => undefined,
      (err: unknown) => err,
    );
    await new Promise((r) => setTimeout(r, 100));
    await fixture().admin.query("SELECT pg_terminate_backend($1)", [pid]);
    const terminated = await sleeping;
    expect(pgErrors.isRetryable(terminated)).toBe(true);
    expect(isConnectionLoss(terminated)).toBe(true);
    await victim.end().catch(() => {});
  });

  it("rejects metadata PostgreSQL cannot store with InvalidArgument, alone, before batching", async () => {
    const name = unique("nul");
    const topic = await openTopic(`pg://${name}?schema=${fixture().schema}&declare=true`, { serverUrl: PG_URL });
    try {
      const err = await topic.send({ body: "x", metadata: { k: "a\u0000b" } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PubSubError);
      expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
      expect((err as Error).message).toMatch(/U\+0000, which PostgreSQL cannot store/);
      await topic.send({ body: "fine", metadata: { k: "ab" } });
    } finally {
      await topic.shutdown();
    }
  });

  it("names the server, never the password, when the connection is refused", async () => {
    const err = await openTopic(`pg://t?schema=${fixture().schema}`, {
      serverUrl: "postgres://postgres:hunter2@127.0.0.1:1/test",
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PubSubError);
    expect(JSON.stringify({ m: (err as Error).message, s: (err as Error).stack })).not.toContain("hunter2");
    expect((err as Error).message).toMatch(/pg topic "t"/);
  });
});
