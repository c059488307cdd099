import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Util from "node:util"
import * as Errors from "../src/Errors.js"
import {
  AcquireTimeoutError,
  CheckViolationError,
  CommandTimeoutError,
  ConnectionDoesNotExistError,
  DataError,
  DeadlockDetectedError,
  DivisionByZeroError,
  ExclusionViolationError,
  ForeignKeyViolationError,
  fromServerFields,
  IntegrityConstraintViolationError,
  InterfaceError,
  InvalidCachedStatementError,
  InvalidCatalogNameError,
  InvalidPasswordError,
  isIntegrityConstraintViolation,
  isPostgresError,
  isSyntaxErrorOrAccessRuleViolation,
  isTransactionRollback,
  NotNullViolationError,
  PoolClosedError,
  PostgresConnectionError,
  PostgresError,
  PostgresSyntaxError,
  ProtocolError,
  QueryCanceledError,
  ReadOnlySQLTransactionError,
  redactCause,
  redactDsn,
  SerializationError,
  type ServerErrorFields,
  sqlstateClass,
  SyntaxOrAccessError,
  TooManyConnectionsError,
  TransactionRollbackError,
  UndefinedColumnError,
  UndefinedFunctionError,
  UndefinedTableError,
  UniqueViolationError,
  UnknownPostgresError
} from "../src/Errors.js"
import { classBySqlstate, classBySqlstateClass } from "../src/errors/sqlstate.js"

const fields = (code: string, extra?: Partial<ServerErrorFields>): ServerErrorFields => ({
  severity: "ERROR",
  code,
  message: `error ${code}`,
  ...extra
})

const uniqueFields: ServerErrorFields = {
  severity: "ERROR",
  severityLocal: "FEHLER",
  code: "23505",
  message: "duplicate key value violates unique constraint \"users_pkey\"",
  detail: "Key (id)=(1) already exists.",
  hint: "pick another id",
  position: 12,
  internalPosition: 3,
  internalQuery: "SELECT 1",
  where: "PL/pgSQL function f() line 3",
  schema: "public",
  table: "users",
  column: "id",
  dataType: "integer",
  constraint: "users_pkey",
  file: "nbtinsert.c",
  line: 666,
  routine: "_bt_check_unique"
}

describe("fromServerFields", () => {
  it("maps exact SQLSTATEs to their classes", () => {
    const cases: ReadonlyArray<readonly [string, { readonly name: string; readonly sqlstate: string }]> = [
      ["23505", UniqueViolationError],
      ["23503", ForeignKeyViolationError],
      ["23502", NotNullViolationError],
      ["23514", CheckViolationError],
      ["23P01", ExclusionViolationError],
      ["40001", SerializationError],
      ["40P01", DeadlockDetectedError],
      ["53300", TooManyConnectionsError],
      ["57014", QueryCanceledError],
      ["28P01", InvalidPasswordError],
      ["22012", DivisionByZeroError],
      ["42P01", UndefinedTableError],
      ["42703", UndefinedColumnError],
      ["42883", UndefinedFunctionError],
      ["42601", PostgresSyntaxError],
      ["25006", ReadOnlySQLTransactionError],
      ["3D000", InvalidCatalogNameError],
      ["23000", IntegrityConstraintViolationError],
      ["42000", SyntaxOrAccessError]
    ]
    for (const [code, cls] of cases) {
      const err = fromServerFields(fields(code))
      expect(err).toBeInstanceOf(cls as unknown as new(...args: Array<never>) => unknown)
      expect(err._tag).toBe(cls.name)
      expect(err.sqlstate).toBe(code)
      expect(cls.sqlstate).toBe(code)
    }
  })

  it("every generated class has _tag = class name and a static sqlstate of its class", () => {
    expect(classBySqlstate.size).toBeGreaterThan(200)
    for (const [code, cls] of classBySqlstate) {
      const err = new cls({ message: "m" })
      expect(err._tag).toBe(cls.name)
      expect(err.name).toBe(cls.name)
      expect(err.sqlstate).toBe(code)
      expect(err.code).toBe(code)
      expect(err.severity).toBe("ERROR")
      expect((cls as unknown as { sqlstate: string }).sqlstate).toBe(code)
      expect(err.sqlstateClass).toBe(code.slice(0, 2))
    }
    for (const [cls2, cls] of classBySqlstateClass) {
      expect((cls as unknown as { sqlstate: string }).sqlstate).toBe(`${cls2}000`)
    }
  })

  it("an unknown code of a known class gets the class's generic error", () => {
    const err = fromServerFields(fields("23999"))
    expect(err).toBeInstanceOf(IntegrityConstraintViolationError)
    expect(err._tag).toBe("IntegrityConstraintViolationError")
    expect(err.sqlstate).toBe("23999")
    expect(err.code).toBe("23999")
    expect(IntegrityConstraintViolationError.sqlstate).toBe("23000")
    expect(isIntegrityConstraintViolation(err)).toBe(true)

    const rollback = fromServerFields(fields("40XYZ"))
    expect(rollback).toBeInstanceOf(TransactionRollbackError)
    expect(isTransactionRollback(rollback)).toBe(true)
  })

  it("an unknown SQLSTATE class gives PostgresError", () => {
    for (const code of ["ZZ001", "01000", "00000", "Q1234"]) {
      const err = fromServerFields(fields(code))
      expect(err._tag).toBe("PostgresError")
      expect(err).toBeInstanceOf(PostgresError)
      expect(err).toBeInstanceOf(UnknownPostgresError)
      expect(err.sqlstate).toBe(code)
      expect(isPostgresError(err)).toBe(true)
      expect(isIntegrityConstraintViolation(err)).toBe(false)
      expect(err.toString()).toBe(`PostgresError [${code}]: error ${code}`)
    }
  })

  it("feature_not_supported from RevalidateCachedQuery is InvalidCachedStatementError", () => {
    const err = fromServerFields(fields("0A000", { routine: "RevalidateCachedQuery" }))
    expect(err._tag).toBe("InvalidCachedStatementError")
    expect(err).toBeInstanceOf(InvalidCachedStatementError)
    expect(Errors.isFeatureNotSupported(err)).toBe(true)
    expect(fromServerFields(fields("0A000"))._tag).toBe("FeatureNotSupportedError")
  })

  it("preserves every field, plus sqlstate and query", () => {
    const err = fromServerFields(uniqueFields, "INSERT INTO users VALUES (1)")
    expect(err).toBeInstanceOf(UniqueViolationError)
    expect(err).toMatchObject({ ...uniqueFields, sqlstate: "23505", query: "INSERT INTO users VALUES (1)" })
    expect(err.message).toBe(uniqueFields.message)
    expect(err).toBeInstanceOf(Error)
    const noQuery = fromServerFields(uniqueFields)
    expect(noQuery.query).toBeUndefined()
    expect("query" in noQuery).toBe(false)
    // JSON carries the fields
    const json = JSON.parse(JSON.stringify(err)) as Record<string, unknown>
    expect(json).toMatchObject({ _tag: "UniqueViolationError", sqlstate: "23505", constraint: "users_pkey", line: 666 })
  })
})

describe("predicates", () => {
  it("narrow by SQLSTATE class", () => {
    const errors: ReadonlyArray<unknown> = [
      fromServerFields(uniqueFields),
      fromServerFields(fields("40001")),
      fromServerFields(fields("42601", { position: 8 })),
      new InterfaceError({ message: "x" }),
      new Error("plain"),
      "string",
      null
    ]
    const seen: Array<string> = []
    for (const u of errors) {
      if (isIntegrityConstraintViolation(u)) {
        // narrowed: the class-23 union
        const c: Errors.IntegrityConstraintViolation = u
        seen.push(`23:${c._tag}:${u.constraint}`)
      } else if (isTransactionRollback(u)) {
        const t: "SerializationError" | "DeadlockDetectedError" | string = u._tag
        seen.push(`40:${t}`)
      } else if (isSyntaxErrorOrAccessRuleViolation(u)) {
        seen.push(`42:${u._tag}:${u.position}`)
      } else if (isPostgresError(u)) {
        seen.push(`pg:${u.sqlstate}`)
      } else {
        seen.push("other")
      }
    }
    expect(seen).toEqual([
      "23:UniqueViolationError:users_pkey",
      "40:SerializationError",
      "42:PostgresSyntaxError:8",
      "other",
      "other",
      "other",
      "other"
    ])
  })

  it("isPostgresError is false for client errors; sqlstateClass gives the class", () => {
    expect(isPostgresError(new PoolClosedError({ message: "closed" }))).toBe(false)
    expect(isPostgresError(new Error("x"))).toBe(false)
    expect(isPostgresError({ _tag: "UniqueViolationError" })).toBe(false)
    expect(sqlstateClass(fromServerFields(uniqueFields))).toBe("23")
    expect(Errors.sqlstateClassTitles["23"]).toBe("Integrity Constraint Violation")
  })

  it("errors can be constructed directly with defaults", () => {
    const err = new UniqueViolationError({ message: "dup", constraint: "c" })
    expect(err.code).toBe("23505")
    expect(err.sqlstate).toBe("23505")
    expect(err.severity).toBe("ERROR")
    expect(isIntegrityConstraintViolation(err)).toBe(true)
    const unknown = new PostgresError({ code: "ZZ999", message: "odd" })
    expect(unknown._tag).toBe("PostgresError")
  })
})

describe("toString", () => {
  it("server errors read `Tag [SQLSTATE]: message (detail: ...)`", () => {
    const err = fromServerFields({
      severity: "ERROR",
      code: "23505",
      message: "duplicate key value violates unique constraint \"users_pkey\"",
      detail: "Key (id)=(1) already exists."
    })
    expect(err.toString()).toBe(
      "UniqueViolationError [23505]: duplicate key value violates unique constraint \"users_pkey\" " +
        "(detail: Key (id)=(1) already exists.)"
    )
    expect(String(fromServerFields(fields("42601", { position: 8, hint: "h" })))).toBe(
      "PostgresSyntaxError [42601]: error 42601 (hint: h) (position: 8)"
    )
  })

  it("client errors read `Tag: message`", () => {
    expect(String(new InterfaceError({ message: "bad argument" }))).toBe("InterfaceError: bad argument")
    expect(String(new ConnectionDoesNotExistError({ message: "closed" }))).toBe("ConnectionDoesNotExistError: closed")
    expect(String(new PoolClosedError({ message: "pool is closed" }))).toBe("PoolClosedError: pool is closed")
    expect(String(new ProtocolError({ message: "unexpected message 'Z'" }))).toBe(
      "ProtocolError: unexpected message 'Z'"
    )
    expect(String(new AcquireTimeoutError({ message: "no connection", timeoutMs: 500 }))).toBe(
      "AcquireTimeoutError (500 ms): no connection"
    )
    expect(String(new CommandTimeoutError({ message: "too slow", timeoutMs: 50, query: "SELECT 1" }))).toBe(
      "CommandTimeoutError (50 ms): too slow"
    )
    expect(String(new PostgresConnectionError({ message: "connection refused", reason: "refused" }))).toBe(
      "PostgresConnectionError (refused): connection refused"
    )
    const data = new DataError({ message: "expected int4", position: 2, expected: "int4", given: "string" })
    expect(String(data)).toBe("DataError: expected int4")
    expect(data).toMatchObject({ position: 2, expected: "int4", given: "string" })
    expect("row" in data).toBe(false)
  })
})

describe("redaction", () => {
  it("redactDsn masks passwords in URL and keyword DSNs", () => {
    expect(redactDsn("postgres://alice:s3cret@db.example.com:5432/app")).toBe(
      "postgres://alice:***@db.example.com:5432/app"
    )
    expect(redactDsn("postgresql://alice:p%40ss@w0rd@host/db")).toBe("postgresql://alice:***@host/db")
    expect(redactDsn("postgres://alice@host/db")).toBe("postgres://alice@host/db")
    expect(redactDsn("postgres://host/db?user=a&password=s3cret&sslmode=require")).toBe(
      "postgres://host/db?user=a&password=***&sslmode=require"
    )
    expect(redactDsn("host=localhost user=bob password=s3cret dbname=test")).toBe(
      "host=localhost user=bob password=*** dbname=test"
    )
    expect(redactDsn("host=h password = 'my s3cret \\' pw' port=5432")).toBe("host=h password = *** port=5432")
    expect(redactDsn("PASSWORD=s3cret sslpassword=k3y")).toBe("PASSWORD=*** sslpassword=***")
    expect(redactDsn("failed for bob:s3cret@localhost")).toBe("failed for bob:***@localhost")
    expect(redactDsn(`{"user":"bob","password":"s3cret"}`)).toBe(`{"user":"bob","password":"***"}`)
    expect(redactDsn("{ password: 's3cret' }")).toBe("{ password: \"***\" }")
    expect(redactDsn("nothing to hide at 10:30, user@example.com")).toBe("nothing to hide at 10:30, user@example.com")
    expect(redactDsn("")).toBe("")
  })

  it("a DSN with a password never shows in message, toString, JSON or inspect", () => {
    const dsn = "postgres://alice:s3cretPW@db.example.com:5432/app"
    const urlError = Object.assign(new TypeError(`Invalid URL: ${dsn}`), { code: "ERR_INVALID_URL", input: dsn })
    const nested = new Error(`connect failed for ${dsn}`, { cause: urlError })
    const causes: ReadonlyArray<unknown> = [
      dsn,
      urlError,
      nested,
      { dsn, options: { password: "s3cretPW", host: "h" } },
      [dsn],
      new URL(dsn),
      new AggregateError([urlError], `all attempts failed for ${dsn}`)
    ]
    for (const cause of causes) {
      const err = new PostgresConnectionError({
        message: `could not connect to ${dsn} (password=s3cretPW)`,
        host: "db.example.com",
        port: 5432,
        reason: "other",
        cause
      })
      const texts = [
        err.message,
        err.toString(),
        String(err),
        JSON.stringify(err),
        Util.inspect(err, { depth: 10 }),
        Util.inspect(err.cause, { depth: 10, showHidden: true }),
        String(err.cause),
        err.stack ?? "",
        (err.cause as { stack?: string } | undefined)?.stack ?? ""
      ]
      for (const text of texts) expect(text).not.toContain("s3cretPW")
      expect(err.message).toContain("postgres://alice:***@db.example.com:5432/app")
    }
    // the redacted copy keeps the error's class and code
    const copy = redactCause(urlError) as TypeError & { code: string; input: string }
    expect(copy).toBeInstanceOf(TypeError)
    expect(copy.code).toBe("ERR_INVALID_URL")
    expect(copy.input).toBe("postgres://alice:***@db.example.com:5432/app")
    const nestedCopy = redactCause(nested) as Error
    expect(nestedCopy.cause).toBeInstanceOf(TypeError)
    // the original is not touched
    expect(urlError.input).toBe(dsn)
  })

  it("other client errors redact their messages too", () => {
    const dsn = "postgres://u:hunter2@h/db"
    const errs = [
      new ProtocolError({ message: `bad ${dsn}`, cause: new Error(dsn) }),
      new InterfaceError({ message: `bad option for ${dsn}` }),
      new ConnectionDoesNotExistError({ message: dsn }),
      new PoolClosedError({ message: dsn })
    ]
    for (const e of errs) {
      expect(JSON.stringify(e)).not.toContain("hunter2")
      expect(e.toString()).not.toContain("hunter2")
      expect(Util.inspect(e, { depth: 10 })).not.toContain("hunter2")
    }
  })

  it("connectionErrorReason classifies Node errors", () => {
    const e = (code: string) => Object.assign(new Error(code), { code })
    expect(Errors.connectionErrorReason(e("ECONNREFUSED"))).toBe("refused")
    expect(Errors.connectionErrorReason(e("ECONNRESET"))).toBe("reset")
    expect(Errors.connectionErrorReason(e("ETIMEDOUT"))).toBe("timeout")
    expect(Errors.connectionErrorReason(e("ENOTFOUND"))).toBe("dns")
    expect(Errors.connectionErrorReason(e("ERR_TLS_CERT_ALTNAME_INVALID"))).toBe("tls")
    expect(Errors.connectionErrorReason(e("DEPTH_ZERO_SELF_SIGNED_CERT"))).toBe("tls")
    expect(Errors.connectionErrorReason(new AggregateError([e("ECONNREFUSED")]))).toBe("refused")
    expect(Errors.connectionErrorReason("nope")).toBe("other")
  })
})

// ---------------------------------------------------------------------------
// Effect integration (checked by tsc and at run time)
// ---------------------------------------------------------------------------

/** `true` when `T` is `any`. */
type IsAny<T> = 0 extends 1 & T ? true : false
/** Fails to type-check when `T` is `any`. */
const notAny = <T>(value: IsAny<T> extends true ? never : T): T => value

type Handled =
  | "UniqueViolationError"
  | "ForeignKeyViolationError"
  | "NotNullViolationError"
  | "CheckViolationError"
  | "ExclusionViolationError"
  | "SerializationError"
  | "DeadlockDetectedError"
  | "QueryCanceledError"
  | "PostgresSyntaxError"
  | "InterfaceError"

const recover = (self: Effect.Effect<number, PostgresError | InterfaceError>) =>
  self.pipe(
    Effect.catchTags({
      UniqueViolationError: (e) => Effect.succeed(notAny(e).constraint?.length ?? 1),
      ForeignKeyViolationError: (e) => Effect.succeed(notAny(e).table?.length ?? 2),
      NotNullViolationError: (e) => Effect.succeed(notAny(e).column?.length ?? 3),
      CheckViolationError: (e) => Effect.succeed(notAny(e).sqlstate.length),
      ExclusionViolationError: (e) => Effect.succeed(notAny(e).detail?.length ?? 5),
      SerializationError: (e) => Effect.succeed(notAny(e)._tag === "SerializationError" ? 6 : -1),
      DeadlockDetectedError: (e) => Effect.succeed(notAny(e).code === "40P01" ? 7 : -1),
      QueryCanceledError: (e) => Effect.succeed(notAny(e).message.length),
      PostgresSyntaxError: (e) => Effect.succeed(notAny(e).position ?? 9),
      InterfaceError: (e) => Effect.succeed(notAny(e).message === "misuse" ? 10 : -1)
    })
  )

// The remaining error type is exactly the union minus the ten handled tags.
type Remaining = Effect.Error<ReturnType<typeof recover>>
type Expected = Exclude<PostgresError | InterfaceError, { readonly _tag: Handled }>
const remainingIsExpected: [Remaining] extends [Expected] ? ([Expected] extends [Remaining] ? true : false) : false =
  true
const _successIsNumber: Effect.Success<ReturnType<typeof recover>> extends number ? true : false = true
// a handled error is gone, an unhandled one stays
const _noUnique: Extract<Remaining, { _tag: "UniqueViolationError" }> extends never ? true : false = true
const _keepsDivision: Extract<Remaining, { _tag: "DivisionByZeroError" }> extends never ? false : true = true

describe("Effect integration", () => {
  it("catchTags handles ten tags; compile-time checks hold", () => {
    expect(remainingIsExpected && _successIsNumber && _noUnique && _keepsDivision).toBe(true)
  })

  it.effect("catchTags recovers at run time and passes other errors on", () =>
    Effect.gen(function*() {
      const fail = (e: PostgresError | InterfaceError) => recover(Effect.fail(e))
      expect(yield* fail(fromServerFields(uniqueFields))).toBe("users_pkey".length)
      expect(yield* fail(fromServerFields(fields("40P01")))).toBe(7)
      expect(yield* fail(fromServerFields(fields("42601", { position: 4 })))).toBe(4)
      expect(yield* fail(new InterfaceError({ message: "misuse" }))).toBe(10)
      const exit = yield* Effect.exit(fail(fromServerFields(fields("22012"))))
      expect(Exit.isFailure(exit)).toBe(true)
      const err = yield* Effect.flip(fail(fromServerFields(fields("22012"))))
      expect(err._tag).toBe("DivisionByZeroError")
    }))

  it.effect("server errors are yieldable and catchTag narrows", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        return yield* fromServerFields(uniqueFields)
      })
      const constraint = yield* program.pipe(
        Effect.catchTag("UniqueViolationError", (e) => Effect.succeed(e.constraint)),
        Effect.catchTag(
          ["SerializationError", "DeadlockDetectedError"],
          (e) => Effect.succeed(e.sqlstate)
        )
      )
      expect(constraint).toBe("users_pkey")
      const clientErr = yield* Effect.flip(Effect.fail(new AcquireTimeoutError({ message: "t", timeoutMs: 1 })))
      expect(clientErr.timeoutMs).toBe(1)
    }))
})

describe("gen-sqlstate", () => {
  const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
  const generated = Fs.readFileSync(Path.join(root, "src/errors/sqlstate.ts"), "utf8")
  const version = /from PostgreSQL ([^']+)'s errcodes\.txt/.exec(generated)?.[1]
  const errcodes = version === undefined ? undefined : `/usr/share/postgresql/${version}/errcodes.txt`
  const available = errcodes !== undefined && Fs.existsSync(errcodes)

  it.skipIf(!available)("the committed src/errors/sqlstate.ts is up to date", () => {
    execFileSync(
      process.execPath,
      [Path.join(root, "node_modules/tsx/dist/cli.mjs"), "scripts/gen-sqlstate.ts", errcodes!, "--check"],
      { cwd: root, stdio: "pipe" }
    )
  }, 60_000)
})
