/**
 * What pg:// errors mean portably, decided in one place: {@link pgErrors},
 * the classifier the topic and subscription drivers share. PostgreSQL
 * reports a SQLSTATE (`err.code`, five characters); node-postgres's own
 * errors (a connection that ended, a timeout) carry only a message, and
 * socket errors Node's codes. Errors the driver makes itself for a missing
 * topic or subscription are the kit's DriverErrors. Drivers throw all of
 * them as they are: core builds the PubSubError the caller sees.
 */
import { DriverError, type ErrorClassifier, ErrorCode, isNetworkError } from "@portable-pubsub/core/driver";

/**
 * An error this driver makes for a database condition, with its portable code:
 * the kit's DriverError, under the name this package has always exported.
 */
export const PgDriverError = DriverError;
/** An error this driver makes for a database condition, with its portable code: the kit's DriverError. */
export type PgDriverError = DriverError;

/** SQLSTATE codes this driver acts on. */
export const SqlState = {
  UniqueViolation: "23505",
  ForeignKeyViolation: "23503",
  UndefinedTable: "42P01",
  UndefinedColumn: "42703",
  UndefinedObject: "42704",
  InvalidSchemaName: "3F000",
  InvalidCatalogName: "3D000",
  InsufficientPrivilege: "42501",
  InvalidPassword: "28P01",
  InvalidAuthorization: "28000",
  TooManyConnections: "53300",
  SerializationFailure: "40001",
  DeadlockDetected: "40P01",
  LockNotAvailable: "55P03",
  QueryCanceled: "57014",
  AdminShutdown: "57P01",
  CrashShutdown: "57P02",
  CannotConnectNow: "57P03",
  ReadOnlyTransaction: "25006",
  UntranslatableCharacter: "22P05",
} as const;

interface Meaning {
  code: ErrorCode;
  retryable: boolean;
  hint?: string;
  /** The connection is lost or was refused (health turns to reconnecting), as opposed to a statement that failed. */
  lost?: boolean;
}

const NOT_MIGRATED =
  "the pg:// tables are missing; open the URL with declare=true, or run the package's sql/001_init.sql (with your schema name in place of pubsub)";
/** A column of a later migration is missing: the tables are of an older release. */
const OLDER_SCHEMA =
  "the pg:// tables are of an older version of the package; run its migrations (pubsub pg migrate --schema NAME, or open the URL with declare=true)";
const LOST: Meaning = {
  code: ErrorCode.Unknown,
  retryable: true,
  lost: true,
  hint: "the connection to PostgreSQL was lost or refused; check that the server runs and is reachable",
};

const SQL_STATES: Record<string, Meaning> = {
  [SqlState.UniqueViolation]: { code: ErrorCode.AlreadyExists, retryable: false },
  // A subscription removed while a send wrote its delivery row: the retry sends without it.
  [SqlState.ForeignKeyViolation]: { code: ErrorCode.Unknown, retryable: true },
  [SqlState.UndefinedTable]: { code: ErrorCode.NotFound, retryable: false, hint: NOT_MIGRATED },
  [SqlState.UndefinedColumn]: { code: ErrorCode.FailedPrecondition, retryable: false, hint: OLDER_SCHEMA },
  [SqlState.UndefinedObject]: { code: ErrorCode.NotFound, retryable: false },
  [SqlState.InvalidSchemaName]: { code: ErrorCode.NotFound, retryable: false, hint: NOT_MIGRATED },
  [SqlState.InvalidCatalogName]: {
    code: ErrorCode.NotFound,
    retryable: false,
    hint: "the database does not exist; create it (createdb NAME) or name another in the server URL",
  },
  [SqlState.InsufficientPrivilege]: {
    code: ErrorCode.PermissionDenied,
    retryable: false,
    hint: "the database user lacks a privilege on the pg:// schema or tables; GRANT it (USAGE on the schema, SELECT, INSERT, UPDATE, DELETE on its tables)",
  },
  [SqlState.InvalidPassword]: {
    code: ErrorCode.PermissionDenied,
    retryable: false,
    hint: "PostgreSQL refused the credentials; check the user and password of the server URL (or PGUSER and PGPASSWORD)",
  },
  [SqlState.InvalidAuthorization]: {
    code: ErrorCode.PermissionDenied,
    retryable: false,
    hint: "PostgreSQL refused the connection (pg_hba.conf, or the user does not exist)",
  },
  [SqlState.TooManyConnections]: {
    code: ErrorCode.ResourceExhausted,
    retryable: true,
    hint: "the server has no connection slot left (max_connections); lower the pool sizes, or put PgBouncer in front and open the URLs with notify=false",
  },
  [SqlState.SerializationFailure]: { code: ErrorCode.Unknown, retryable: true },
  [SqlState.DeadlockDetected]: { code: ErrorCode.Unknown, retryable: true },
  [SqlState.LockNotAvailable]: { code: ErrorCode.Unknown, retryable: true },
  [SqlState.QueryCanceled]: {
    code: ErrorCode.DeadlineExceeded,
    retryable: true,
    hint: "the statement was canceled (statement_timeout, or pg_cancel_backend)",
  },
  [SqlState.AdminShutdown]: LOST,
  [SqlState.CrashShutdown]: LOST,
  [SqlState.CannotConnectNow]: { ...LOST, hint: "PostgreSQL is starting or shutting down; the driver retries" },
  [SqlState.ReadOnlyTransaction]: {
    code: ErrorCode.FailedPrecondition,
    retryable: false,
    hint: "the server is a read-only standby; connect to the primary",
  },
  [SqlState.UntranslatableCharacter]: {
    code: ErrorCode.InvalidArgument,
    retryable: false,
    hint: "PostgreSQL text and jsonb cannot hold the character U+0000; remove it from the metadata",
  },
};

/** node-postgres's own errors, which carry no code: what their messages say. */
const CLIENT_MESSAGES: [RegExp, Meaning][] = [
  [/Connection terminated|connection error|not queryable|Connection ended/i, LOST],
  [
    /timeout exceeded when trying to connect|Query read timeout|timeout expired/i,
    { ...LOST, hint: "PostgreSQL did not answer in time" },
  ],
  [
    /Cannot use a pool after calling end/i,
    {
      code: ErrorCode.FailedPrecondition,
      retryable: false,
      hint: "the pg.Pool given as the pool option was ended; open the topic or subscription on a pool that is open",
    },
  ],
];

function meaningOf(err: unknown): Meaning | undefined {
  if (err instanceof DriverError) {
    return { code: err.code, retryable: err.options.retryable ?? false, hint: err.options.hint };
  }
  if (!(err instanceof Error)) return undefined;
  const sqlState = (err as { code?: unknown }).code;
  if (typeof sqlState === "string" && /^[0-9A-Z]{5}$/.test(sqlState)) {
    const known = SQL_STATES[sqlState];
    if (known) return known;
    if (sqlState.startsWith("08")) return LOST;
    if (sqlState.startsWith("22")) return { code: ErrorCode.InvalidArgument, retryable: false };
    if (sqlState.startsWith("53")) return { code: ErrorCode.ResourceExhausted, retryable: false };
    if (sqlState.startsWith("XX")) return { code: ErrorCode.Internal, retryable: false };
  }
  if (isNetworkError(err)) return LOST;
  for (const [pattern, meaning] of CLIENT_MESSAGES) if (pattern.test(err.message)) return meaning;
  return undefined;
}

/** The first meaning along the cause chain. */
function classify(err: unknown): Meaning | undefined {
  let current = err;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    const meaning = meaningOf(current);
    if (meaning) return meaning;
    current = current instanceof Error ? current.cause : undefined;
  }
  return undefined;
}

/**
 * How PostgreSQL and node-postgres errors map to portable ones, for the
 * topic and the subscription drivers alike: by SQLSTATE first, then by
 * class (08 connection, 22 data, 53 resources), then socket errors and
 * node-postgres's connection messages, which are retried.
 */
export const pgErrors: ErrorClassifier = {
  errorCode: (err) => classify(err)?.code ?? ErrorCode.Unknown,
  isRetryable: (err) => classify(err)?.retryable ?? false,
  hint: (err) => classify(err)?.hint,
};

/** True if `err` means the connection is lost or refused (not that the statement was wrong): health turns to reconnecting. */
export function isConnectionLoss(err: unknown): boolean {
  return classify(err)?.lost === true;
}
