/**
 * Helpers of the unnamed-statement path (statement cache off, `prepare:
 * false`): every execution parses its SQL again as the unnamed statement and
 * describes its portal in the same unit, so nothing depends on a statement
 * the server kept between requests (a pooler may run each unit on another
 * server connection). The rows are decoded by the columns the server reports
 * for that very execution; these functions compare them with the cached
 * description and choose codecs when they differ (DDL since it was
 * described). Also the error that tells a pooler's user to use this path.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import type * as Reader from "../protocol/Reader.js"
import * as PgRecord from "../Record.js"
import type { Codec } from "../types/Codec.js"
import type { TypeRegistry } from "../types/Registry.js"
import { withHint } from "../errors/base.js"
import type { SessionError } from "./request.js"
import type { Statement } from "./statement.js"

/** Codecs and row factory for columns that differ from the description. */
export interface Plan {
  readonly codecs: ReadonlyArray<Codec>
  readonly make: (values: Array<unknown>) => unknown
}

/**
 * Types whose binary and text forms are the same bytes (UTF-8 text): a
 * value sent in either format decodes with the type's codec.
 */
const SAME_BYTES = new Set([19 /* name */, 25 /* text */, 705 /* unknown */, 1042 /* bpchar */, 1043 /* varchar */])

/**
 * Whether a portal's RowDescription body is byte for byte the one an
 * earlier execution of this description found matching (the common case:
 * one buffer comparison, no parsing).
 */
export const sameRowDescription = (st: Statement, buf: Buffer, start: number, end: number): boolean => {
  const known = st.portalRowDescription
  return known !== undefined && known.length === end - start && buf.compare(known, 0, known.length, start, end) === 0
}

/**
 * How to decode a portal whose columns are `fresh`: `"same"` when they are
 * the described ones (names and types), `"introspect"` when a type must be
 * introspected first, a {@link Plan} with the codecs of the new types, or a
 * DataError when a column arrived in a format its new type's codec cannot
 * read (the result formats were chosen for the old types).
 */
export const planFor = (
  registry: TypeRegistry,
  factory: PgRecord.RecordFactory<unknown> | undefined,
  st: Statement,
  fresh: ReadonlyArray<Reader.FieldDescription>
): "same" | "introspect" | Plan | Errors.DataError => {
  const old = st.fields
  if (old.length === fresh.length) {
    let same = true
    for (let i = 0; i < old.length && same; i++) same = old[i]!.typeOid === fresh[i]!.typeOid && old[i]!.name === fresh[i]!.name
    if (same) return "same"
  }
  for (const f of fresh) if (registry.needsIntrospection(f.typeOid)) return "introspect"
  const codecs = new Array<Codec>(fresh.length)
  for (let i = 0; i < fresh.length; i++) {
    const f = fresh[i]!
    const codec = registry.get(f.typeOid) ?? registry.fallback
    if (codec.format !== f.format && !SAME_BYTES.has(f.typeOid)) {
      return undecodable(st, fresh, `column "${f.name}" is now of type ${codec.name} and came in ${f.format === 1 ? "binary" : "text"} format`)
    }
    codecs[i] = codec
  }
  const shape = PgRecord.makeShape(fresh.map((f) => f.name))
  return { codecs, make: factory ? (values) => factory(shape, values) : shape.make }
}

/** The DataError of an execution whose rows cannot be decoded after a schema change. */
export const undecodable = (st: Statement, fresh: ReadonlyArray<Reader.FieldDescription>, why: string): Errors.DataError =>
  new Errors.DataError({
    message: `the result columns of the statement changed since it was described (DDL?): ${why}; the statement ran, but its ${fresh.length} column${fresh.length === 1 ? "" : "s"} could not be decoded. Run it again: it is described afresh (${st.sql.length > 80 ? `${st.sql.slice(0, 77)}...` : st.sql})`
  })

/**
 * A server error of an unnamed execution, before its Bind went through,
 * that a description from before a schema change explains: the SQL no
 * longer fits the described parameter types (42xxx), the result format
 * count no longer fits the columns (08P01), or a feature check (0A000).
 */
export const isOutdatedDescription = (e: Errors.PostgresError): boolean => {
  const c = e.sqlstate
  return c.startsWith("42") || c === "0A000" || c === "08P01"
}

/**
 * The hint on a missing (26000) or duplicate (42P05) prepared statement
 * that the driver named (asyncpg's note on pgbouncer).
 */
export const POOLER_NOTE =
  "behind PgBouncer (pgbouncer pool_mode = transaction or statement) or another pooler that moves a session between server connections, named prepared statements do not work: connect with prepare: false (or statementCacheSize: 0)"

/**
 * `e` with {@link POOLER_NOTE} in its hint when it says that a statement
 * the driver named (`statementName` not "") is missing (26000) or already
 * exists (42P05); any other error as it is.
 */
export const noteDriverStatement = (e: SessionError, statementName: string): SessionError =>
  statementName !== "" && Errors.isPostgresError(e) && (e.sqlstate === "26000" || e.sqlstate === "42P05") && e.hint !== POOLER_NOTE
    ? withHint(e, POOLER_NOTE)
    : e

/**
 * The error of a named statement the server did not have (26000) or
 * already had (42P05), with what to do: behind a pooler in transaction mode
 * use `prepare: false`. `attempts`: how often the call prepared it (it gave
 * up); `undefined`: inside a transaction block, which the error aborted.
 */
export const poolerHint = (e: Errors.PostgresError, attempts: number | undefined): Errors.PostgresError => {
  const what =
    attempts === undefined
      ? "inside a transaction block the statement cannot be prepared again: the transaction is aborted, roll it back"
      : `the call prepared it ${attempts} time${attempts === 1 ? "" : "s"} and the server lost it each time`
  const hint =
    "a pooler in transaction mode (PgBouncer, pool_mode = transaction) runs each transaction on whichever server connection is free, so a named prepared statement may be missing there; connect with `prepare: false` (or statementCacheSize: 0) behind such a pooler"
  return Errors.fromServerFields(
    {
      severity: e.severity,
      severityLocal: e.severityLocal,
      code: e.sqlstate,
      message: `${e.message}: ${what}; ${hint}`,
      detail: e.detail,
      hint: POOLER_NOTE,
      where: e.where,
      file: e.file,
      line: e.line,
      routine: e.routine
    },
    e.query
  )
}
