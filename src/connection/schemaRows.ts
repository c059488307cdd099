/**
 * Schema-typed rows: each row of a result decoded with an `effect/Schema`
 * (`fetch(sql, args, { schema })`). The decoder of a schema is built once
 * and kept with it; each row's values go straight into a plain object keyed
 * by column name (the Schema's input), so a row costs that object and what
 * the Schema itself does. A row that does not match is a
 * {@link Errors.RowDecodeError} naming its index, its column and the
 * Schema's issue.
 *
 * Internal: not exported by the package.
 */
import * as Result from "effect/Result"
import type * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaParser from "effect/SchemaParser"
import * as Errors from "../Errors.js"
import * as PgRecord from "../Record.js"

/** A schema rows can be decoded with: no services needed to decode. */
export type RowSchema = Schema.ConstraintDecoder<unknown>

/** Decodes one input (a row object or a value) with a schema. */
type Decode = (input: unknown) => Result.Result<unknown, SchemaIssue.Issue>

/** Turns the rows of one result into the caller's rows, or says which one did not fit. */
export type RowMapper = (rows: ReadonlyArray<unknown>, firstRow: number) => Array<unknown> | Errors.RowDecodeError

const decoders = new WeakMap<object, Decode>()

/** The decoder of `schema`, built on first use and kept with the schema. */
const decoderOf = (schema: RowSchema): Decode => {
  let decode = decoders.get(schema)
  if (decode === undefined) {
    // the first issue is enough to report; stop there
    decode = SchemaParser.decodeUnknownResult(schema, { errors: "first" }) as Decode
    decoders.set(schema, decode)
  }
  return decode
}

let formatter: SchemaIssue.Formatter<string> | undefined

/** The Schema's account of an issue, as text. */
const formatIssue = (issue: SchemaIssue.Issue): string => (formatter ??= SchemaIssue.makeFormatterDefault())(issue)

/** The first key an issue points at (the column), if any. */
const pointedKey = (issue: SchemaIssue.Issue): string | undefined => {
  let at: SchemaIssue.Issue | undefined = issue
  for (let depth = 0; at !== undefined && depth < 16; depth++) {
    if (at._tag === "Pointer") return at.path.length > 0 ? String(at.path[0]) : undefined
    at = at._tag === "Composite" ? at.issues[0] : undefined
  }
  return undefined
}

/** The RowDecodeError of row `row` (column `column` when the caller knows it). */
export const rowDecodeError = (issue: SchemaIssue.Issue, row: number, column?: string): Errors.RowDecodeError => {
  const text = formatIssue(issue)
  const col = column ?? pointedKey(issue)
  return new Errors.RowDecodeError({
    message: `row ${row}${col === undefined ? "" : `, column "${col}"`} does not match the schema: ${text}; fix the schema or the query (a cast or a column alias)`,
    row,
    column: col,
    issue: text
  })
}

/** A column name that cannot be a plain assignment target (it would set the prototype). */
const awkward = (names: ReadonlyArray<string>): boolean => names.includes("__proto__")

/**
 * The Schema's input for a row: `{ column: value }` in column order; a
 * duplicate column name keeps its last value, as `row.get(name)` does.
 */
const inputOf = (names: ReadonlyArray<string>, values: ReadonlyArray<unknown>, careful: boolean): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  if (!careful) {
    for (let i = 0; i < values.length; i++) out[names[i]!] = values[i]
    return out
  }
  for (let i = 0; i < values.length; i++) {
    Object.defineProperty(out, names[i]!, { value: values[i], enumerable: true, writable: true, configurable: true })
  }
  return out
}

const mappers = new WeakMap<object, RowMapper>()

/** Decodes each row (an effect-pg Record) with `schema`; built once per schema. */
export const rowMapper = (schema: RowSchema): RowMapper => {
  let mapper = mappers.get(schema)
  if (mapper !== undefined) return mapper
  const decode = decoderOf(schema)
  mapper = (rows, firstRow) => {
    const n = rows.length
    const out = new Array<unknown>(n)
    let shape: PgRecord.RecordShape | undefined
    let careful = false
    for (let i = 0; i < n; i++) {
      const record = rows[i] as PgRecord.Record
      const s = PgRecord.shapeOf(record)
      if (s !== shape) {
        shape = s
        careful = awkward(s.names)
      }
      const r = decode(inputOf(s.names, PgRecord.toArray(record), careful))
      if (Result.isFailure(r)) return rowDecodeError(r.failure, firstRow + i)
      out[i] = r.success
    }
    return out
  }
  mappers.set(schema, mapper)
  return mapper
}

/** Decodes one value (what `fetchval` returns) with `schema`; `column` names it in the error. */
export const decodeValue = (schema: RowSchema, value: unknown, column: string): Result.Result<unknown, Errors.RowDecodeError> => {
  const r = decoderOf(schema)(value)
  return Result.isFailure(r) ? Result.fail(rowDecodeError(r.failure, 0, column)) : Result.succeed(r.success)
}
