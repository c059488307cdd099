/**
 * Pieces of the `effect/sql` adapter that are not its public face: the
 * PostgreSQL statement compiler, the error mapping (effect-pg tagged errors
 * → `SqlError`) and the row conversion (effect-pg `Record`s → plain objects).
 *
 * @internal
 */
import * as SqlError from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Errors from "../Errors.js"
import type * as Pool from "../Pool.js"
import * as PgRecord from "../Record.js"

/** A row as `effect/sql` expects it: a plain object keyed by column name. */
export type Row = { readonly [column: string]: unknown }

/** The custom segment behind `client.json(value)`: a parameter sent as `jsonb`. */
export interface PgJson extends Statement.Custom<"PgJson", unknown> {}

/** Builds a `PgJson` segment. */
export const PgJson = Statement.custom<PgJson>("PgJson")

const escape = Statement.defaultEscape("\"")

const INT4_MIN = -2147483648
const INT4_MAX = 2147483647

/**
 * The type a parameter gets from its JavaScript value, as `@effect/sql-pg`
 * binds it (an integer as int4, or int8 beyond int4, other numbers float8,
 * bigint int8, boolean bool, Date timestamptz, bytes bytea), written as a
 * cast on the placeholder: the server then types the parameter exactly as a
 * declared parameter type would. Strings, null, arrays and objects get no
 * cast: the server types them from the statement. Without the casts
 * `` sql`SELECT ${1}` `` or an `updateValues` list would type numbers as
 * text, which effect-pg (like asyncpg) refuses to encode from a number.
 */
const castOf = (value: unknown): string => {
  switch (typeof value) {
    case "number":
      if (Number.isInteger(value)) {
        if (value >= INT4_MIN && value <= INT4_MAX) return "::int4"
        if (Number.isSafeInteger(value)) return "::int8"
      }
      return "::float8"
    case "bigint":
      return "::int8"
    case "boolean":
      return "::bool"
    case "object":
      return value instanceof Date ? "::timestamptz" : value instanceof Uint8Array ? "::bytea" : ""
    default:
      return ""
  }
}

/**
 * The PostgreSQL compiler: `$1` placeholders (cast by value type, see
 * `castOf`), identifiers quoted with `"`
 * (after `transform`, unless the segment asks for none), `updateValues` as a
 * `VALUES` list with an alias, and `PgJson` as a `$n::jsonb` parameter.
 */
export const makeCompiler = (transform?: (name: string) => string, transformJson = true): Statement.Compiler => {
  const transformValue = transformJson && transform !== undefined ? Statement.defaultTransforms(transform).value : undefined
  return Statement.makeCompiler<PgJson>({
    dialect: "pg",
    placeholder: (index, value) => `$${index}${castOf(value)}`,
    onIdentifier: transform === undefined
      ? (value) => escape(value)
      : (value, withoutTransform) => escape(withoutTransform ? value : transform(value)),
    onRecordUpdate: (placeholders, alias, columns, values, returning) => {
      const sql = `(values ${placeholders}) AS ${alias}${columns}`
      const params = values.flat()
      return returning === undefined
        ? [sql, params]
        : [`${sql} RETURNING ${returning[0]}`, [...params, ...returning[1]]]
    },
    onCustom: (custom, placeholder, withoutTransform) => {
      // the only custom kind this compiler knows (the type parameter says so)
      const value = withoutTransform || transformValue === undefined ? custom.paramA : transformValue(custom.paramA)
      // the cast makes the server describe the parameter as jsonb, so the
      // json codec serializes the value (a string is not serialized twice)
      return [`${placeholder(undefined)}::jsonb`, [value]]
    }
  })
}

/** Shapes whose rows need the careful path: duplicate column names or a `__proto__` column. */
const awkward = new WeakMap<PgRecord.RecordShape, boolean>()

const isAwkward = (shape: PgRecord.RecordShape): boolean => {
  let flag = awkward.get(shape)
  if (flag === undefined) {
    flag = shape.index.size !== shape.names.length || shape.index.has("__proto__")
    awkward.set(shape, flag)
  }
  return flag
}

const toRow = (record: PgRecord.Record): Row => {
  const shape = PgRecord.shapeOf(record)
  const names = shape.names
  const values = PgRecord.toArray(record)
  const out: { [column: string]: unknown } = {}
  if (!isAwkward(shape)) {
    for (let i = 0; i < values.length; i++) out[names[i]!] = values[i]
    return out
  }
  for (let i = 0; i < values.length; i++) {
    const name = names[i]!
    // the first of duplicate names wins, as `row.get(name)` does
    if (shape.index.get(name) !== i) continue
    Object.defineProperty(out, name, { value: values[i], enumerable: true, writable: true, configurable: true })
  }
  return out
}

/**
 * Rows of effect-pg as plain objects `{ column: value }`, keys in column
 * order (duplicate column names keep the first value, as `row.get(name)`
 * does); rows of a custom `recordClass` that are not Records are passed
 * through.
 */
export const toRows = (records: ReadonlyArray<unknown>): Array<Row> => {
  const out = new Array<Row>(records.length)
  for (let i = 0; i < records.length; i++) {
    const r = records[i]
    out[i] = PgRecord.isRecord(r) ? toRow(r) : (r as Row)
  }
  return out
}

/** Rows of effect-pg as arrays of values in column order. */
export const toValues = (records: ReadonlyArray<unknown>): Array<ReadonlyArray<unknown>> => {
  const out = new Array<ReadonlyArray<unknown>>(records.length)
  for (let i = 0; i < records.length; i++) {
    const r = records[i]
    out[i] = PgRecord.isRecord(r) ? PgRecord.toArray(r) : Object.values(r as Row)
  }
  return out
}

/** What the adapter turns into a `SqlError`: any error of a pool or a connection. */
export type PgError = Pool.PoolQueryError

const describe = (error: PgError): string => {
  const text = error.toString()
  return text.length > 0 ? text : `${error._tag}: ${error.message}`
}

/**
 * Wraps an effect-pg error in a `SqlError` whose `reason` is classified the
 * way `@effect/sql-pg` classifies SQLSTATEs (08 connection, 28
 * authentication, 42501 authorization, 42 syntax, 23505 unique, 23
 * constraint, 40P01 deadlock, 40001 serialization, 55P03 lock timeout, 57014
 * statement timeout) and client errors by kind. The effect-pg error is the
 * reason's `cause` (`sqlError.reason.cause`), so its SQLSTATE class, detail,
 * constraint and query stay reachable.
 */
export const toSqlError = (error: PgError, operation: string): SqlError.SqlError => {
  const props = { cause: error, message: describe(error), operation }
  return new SqlError.SqlError({ reason: classify(error, props) })
}

type ReasonProps = { readonly cause: PgError; readonly message: string; readonly operation: string }

const classify = (error: PgError, props: ReasonProps): SqlError.SqlErrorReason => {
  if (Errors.isPostgresError(error)) {
    const code = error.sqlstate
    // 57P01-57P03: the server shut the session down or is not accepting
    // sessions (a terminated backend, a restart): the connection is gone
    if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03") {
      return new SqlError.ConnectionError(props)
    }
    if (code.startsWith("28")) return new SqlError.AuthenticationError(props)
    if (code === "42501") return new SqlError.AuthorizationError(props)
    if (code.startsWith("42")) return new SqlError.SqlSyntaxError(props)
    if (code === "23505") {
      const constraint = error.constraint?.trim()
      return new SqlError.UniqueViolation({ ...props, constraint: constraint ? constraint : "unknown" })
    }
    if (code.startsWith("23")) return new SqlError.ConstraintError(props)
    if (code === "40P01") return new SqlError.DeadlockError(props)
    if (code === "40001") return new SqlError.SerializationError(props)
    if (code === "55P03") return new SqlError.LockTimeoutError(props)
    if (code === "57014") return new SqlError.StatementTimeoutError(props)
    return new SqlError.UnknownError(props)
  }
  switch (error._tag) {
    case "CommandTimeoutError":
      return new SqlError.StatementTimeoutError(props)
    case "PostgresConnectionError":
    case "ConnectionDoesNotExistError":
    case "AcquireTimeoutError":
    case "PoolClosedError":
    case "PoolExhaustedError":
    case "PoolHookError":
      return new SqlError.ConnectionError(props)
    default:
      return new SqlError.UnknownError(props)
  }
}

/** A `SqlError` made by the adapter itself (no effect-pg error behind it). */
export const clientError = (message: string, operation: string): SqlError.SqlError =>
  new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause: new Error(message), message, operation }) })
