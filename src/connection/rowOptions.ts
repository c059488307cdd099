/**
 * How the rows of one call are built: asyncpg's per-call `record_class`
 * (`recordClass`), or an `effect/Schema` that decodes each row (`schema`),
 * over the connection's own `recordClass`. The types say what a call
 * returns ({@link RowOf}); the mappers turn the Records a session decoded
 * into those rows, once per result, outside the message loop.
 *
 * The session itself always builds plain Records (cheap: one object over
 * the values array); a connection's `recordClass` is applied here, at the
 * API, so the library's own queries (type introspection, COPY's column
 * lookup) never see a user's row class.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Errors from "../Errors.js"
import * as PgRecord from "../Record.js"
import type { QueryOptions } from "./query.js"
import * as SchemaRows from "./schemaRows.js"

/** A schema rows can be decoded with (no services needed to decode). */
export type RowSchema = SchemaRows.RowSchema

/** How the rows of one call are built. */
export interface RowOptions {
  /**
   * builds each row from its shape and values (asyncpg's `record_class`),
   * for this call instead of the connection's `recordClass`
   */
  readonly recordClass?: PgRecord.RecordFactory<unknown> | undefined
  /**
   * decodes each row, as `{ column: value }`, with this Schema; a row that
   * does not match fails the call with `RowDecodeError`
   */
  readonly schema?: RowSchema | undefined
}

/** Options of `fetch`, `fetchrow`, `fetchmany`: a timeout and how rows are built. */
export interface FetchOptions extends QueryOptions, RowOptions {}

/** Options of `fetchval`: a timeout, the column (default 0) and a Schema for the value. */
export interface FetchvalOptions extends QueryOptions {
  /** the column whose value is returned: a position or a name (default 0) */
  readonly column?: number | string | undefined
  /** decodes the value with this Schema; a value that does not match fails with `RowDecodeError` */
  readonly schema?: RowSchema | undefined
}

/**
 * The row type of a call with options `O` on a connection whose rows are
 * `Default`: the Schema's type, else the recordClass's row, else `Default`.
 * Options whose `schema`/`recordClass` the compiler cannot see (a variable
 * typed `FetchOptions`) give `unknown`: a type a user sees was checked.
 */
export type RowOf<O, Default> = O extends { readonly schema: infer S extends RowSchema } ? S["Type"]
  : O extends { readonly recordClass: PgRecord.RecordFactory<infer R> } ? R
  : "schema" extends keyof O ? unknown
  : "recordClass" extends keyof O ? unknown
  : Default

/** The value type of `fetchval` with options `O`: the Schema's type, else `unknown`. */
export type ValueOf<O> = O extends { readonly schema: infer S extends RowSchema } ? S["Type"] : unknown

/** What building a caller's rows can fail with. */
export type RowError = Errors.RowDecodeError | Errors.DataError

/** Turns the Records of one result into the caller's rows; `firstRow` numbers them in errors. */
export type RowMapper = (rows: ReadonlyArray<unknown>, firstRow: number) => Array<unknown> | RowError

const thrown = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const factoryMappers = new WeakMap<object, RowMapper>()

/** Builds each row with a recordClass (from the Record's shape and values); kept per factory. */
export const factoryMapper = (factory: PgRecord.RecordFactory<unknown>): RowMapper => {
  let mapper = factoryMappers.get(factory)
  if (mapper !== undefined) return mapper
  mapper = (rows, firstRow) => {
    const n = rows.length
    const out = new Array<unknown>(n)
    let i = 0
    try {
      for (; i < n; i++) {
        const record = rows[i] as PgRecord.Record
        out[i] = factory(PgRecord.shapeOf(record), PgRecord.toArray(record) as Array<unknown>)
      }
    } catch (e) {
      return new Errors.DataError({
        message: `the recordClass threw on row ${firstRow + i}: ${thrown(e)}; the query ran, no rows were returned`,
        row: firstRow + i
      })
    }
    return out
  }
  factoryMappers.set(factory, mapper)
  return mapper
}

/** Decodes each row with `schema`; a defect inside the Schema becomes a DataError. */
const schemaMapper = (schema: RowSchema): RowMapper => {
  const decode = SchemaRows.rowMapper(schema)
  return (rows, firstRow) => {
    try {
      return decode(rows, firstRow)
    } catch (e) {
      return new Errors.DataError({ message: `the row schema threw while decoding (a defect in a transformation?): ${thrown(e)}` })
    }
  }
}

const schemaMappers = new WeakMap<object, RowMapper>()

/**
 * A recordClass that keeps the rows as Records, whatever the connection's
 * own recordClass: the library's own lookups (`{ recordClass: keepRecords }`)
 * read rows with `row.get`. Never called: {@link mapperFor} sees it and maps
 * nothing.
 */
export const keepRecords: PgRecord.RecordFactory<PgRecord.Record> = (shape, values) => PgRecord.makeShape(shape.names).make(values)

/** The options of a library lookup: rows stay Records. */
export const AS_RECORDS = { recordClass: keepRecords } as const

const misuse = (message: string): Errors.InterfaceError => new Errors.InterfaceError({ message })

/**
 * The mapper of a call: its `schema`, else its `recordClass`, else
 * `fallback` (the connection's recordClass; `undefined` when rows stay
 * Records). Both at once, or a value of the wrong kind, is an
 * InterfaceError.
 */
export const mapperFor = (options: RowOptions | undefined, fallback: RowMapper | undefined): RowMapper | undefined | Errors.InterfaceError => {
  if (options === undefined) return fallback
  const { recordClass, schema } = options
  if (schema !== undefined) {
    if (recordClass !== undefined) return misuse("give a query either recordClass or schema, not both")
    if (!Schema.isSchema(schema)) return misuse(`the schema option must be an effect/Schema, got ${typeof schema}`)
    let mapper = schemaMappers.get(schema)
    if (mapper === undefined) schemaMappers.set(schema, (mapper = schemaMapper(schema)))
    return mapper
  }
  if (recordClass !== undefined) {
    if (recordClass === keepRecords) return undefined
    return typeof recordClass === "function"
      ? factoryMapper(recordClass)
      : misuse(`recordClass must be a function (shape, values) => row, got ${typeof recordClass}`)
  }
  return fallback
}

/** Decodes a `fetchval` value with `schema`; a defect inside the Schema becomes a DataError. */
export const valueFor = (schema: RowSchema, value: unknown, column: number | string): Result.Result<unknown, RowError | Errors.InterfaceError> => {
  if (!Schema.isSchema(schema)) return Result.fail(misuse(`the schema option must be an effect/Schema, got ${typeof schema}`))
  try {
    return SchemaRows.decodeValue(schema, value, String(column))
  } catch (e) {
    return Result.fail(new Errors.DataError({ message: `the value schema threw while decoding (a defect in a transformation?): ${thrown(e)}` }))
  }
}

const defaults = new WeakMap<object, PgRecord.RecordFactory<unknown>>()

/** Remembers a connection's `recordClass` for every view of its session (pool leases). */
export const setDefaultRecordClass = (session: object, factory: PgRecord.RecordFactory<unknown> | undefined): void => {
  if (factory !== undefined) defaults.set(session, factory)
}

/** The mapper of a session's own `recordClass`, or `undefined` when its rows are Records. */
export const defaultMapper = (session: object): RowMapper | undefined => {
  const factory = defaults.get(session)
  return factory === undefined ? undefined : factoryMapper(factory)
}
