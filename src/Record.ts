/**
 * A result row: values by position and by column name, like asyncpg's Record.
 *
 * ```ts
 * const row = yield* conn.fetchrow("SELECT 1 AS id, 'a' AS name")
 * row.get(0)       // 1
 * row.get("name")  // "a"
 * row.id           // 1 (columns are also plain properties)
 * ```
 *
 * Every statement gets one `RecordShape`: the column names, a name → index
 * map and a prototype with a getter per column. A row is then one small
 * object holding its values array, so building a row costs one allocation.
 *
 * @since 0.1.0
 */
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import { inspect } from "node:util"

const ValuesKey: unique symbol = Symbol.for("effect-pg/Record/values")
const ShapeKey: unique symbol = Symbol.for("effect-pg/Record/shape")

/** The columns of a result: shared by every row of one statement. */
export interface RecordShape {
  readonly names: ReadonlyArray<string>
  /** index of each column name (a duplicate name means its last column, as asyncpg's and pg's) */
  readonly index: ReadonlyMap<string, number>
}

/** A column value as decoded: `unknown` until a codec says more. */
export type Value = unknown

/**
 * A row. Column values are also readable as properties (`row.id`) unless the
 * name collides with a method below; `get` always works.
 */
export interface Record extends Iterable<Value>, Equal.Equal {
  /** the value at a position, or of a column by name */
  get(key: number | string): Value
  /** the value of a column, or `fallback` when there is no such column */
  getOr<A>(key: number | string, fallback: A): Value | A
  /** column names in order */
  keys(): IterableIterator<string>
  /** values in order */
  values(): IterableIterator<Value>
  /** [name, value] pairs in order */
  entries(): IterableIterator<[string, Value]>
  /** number of columns */
  readonly length: number
  /** a plain object copy `{ name: value }` */
  toJSON(): { [name: string]: Value }
  readonly [ValuesKey]: ReadonlyArray<Value>
  readonly [ShapeKey]: RecordShape
  readonly [column: string]: Value
}

/** What a custom `recordClass` must provide: build a row from a shape and its values. */
export interface RecordFactory<R = Record> {
  (shape: RecordShape, values: Array<Value>): R
}

const RESERVED = new Set(["get", "getOr", "keys", "values", "entries", "length", "toJSON", "toString", "constructor"])

class RecordBase implements Iterable<Value> {
  declare readonly [ShapeKey]: RecordShape
  readonly [ValuesKey]: Array<Value>
  constructor(values: Array<Value>) {
    this[ValuesKey] = values
  }
  get(key: number | string): Value {
    if (typeof key === "number") {
      if (key < 0 || key >= this[ValuesKey].length || !Number.isInteger(key)) {
        throw new RangeError(`record has ${this[ValuesKey].length} columns, there is no column at index ${key}`)
      }
      return this[ValuesKey][key]
    }
    const i = this[ShapeKey].index.get(key)
    if (i === undefined) throw new RangeError(`record has no column named "${key}" (columns: ${this[ShapeKey].names.join(", ")})`)
    return this[ValuesKey][i]
  }
  getOr<A>(key: number | string, fallback: A): Value | A {
    const i = typeof key === "number" ? key : this[ShapeKey].index.get(key)
    return i === undefined || i < 0 || i >= this[ValuesKey].length ? fallback : this[ValuesKey][i]
  }
  keys(): IterableIterator<string> {
    return this[ShapeKey].names[Symbol.iterator]()
  }
  values(): IterableIterator<Value> {
    return this[ValuesKey][Symbol.iterator]()
  }
  *entries(): IterableIterator<[string, Value]> {
    const names = this[ShapeKey].names
    const values = this[ValuesKey]
    for (let i = 0; i < values.length; i++) yield [names[i]!, values[i]]
  }
  [Symbol.iterator](): Iterator<Value> {
    return this[ValuesKey][Symbol.iterator]()
  }
  get length(): number {
    return this[ValuesKey].length
  }
  toJSON(): { [name: string]: Value } {
    const out: { [name: string]: Value } = {}
    const names = this[ShapeKey].names
    const values = this[ValuesKey]
    // columns in order; a duplicate name keeps its last value, as `get(name)`
    for (let i = 0; i < values.length; i++) {
      const name = names[i]!
      if (name === "__proto__") Object.defineProperty(out, name, { value: values[i], enumerable: true, writable: true, configurable: true })
      else out[name] = values[i]
    }
    return out
  }
  toString(): string {
    const names = this[ShapeKey].names
    const parts = this[ValuesKey].map((v, i) => `${names[i]}=${inspect(v, { depth: 2, breakLength: Infinity })}`)
    return `<Record ${parts.join(" ")}>`
  }
  [inspect.custom](): string {
    return this.toString()
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    if (!(that instanceof RecordBase)) return false
    const a = this[ValuesKey]
    const b = that[ValuesKey]
    if (a.length !== b.length) return false
    const na = this[ShapeKey].names
    const nb = that[ShapeKey].names
    for (let i = 0; i < a.length; i++) {
      if (na[i] !== nb[i] || !Equal.equals(a[i], b[i])) return false
    }
    return true
  }
  [Hash.symbol](): number {
    let h = Hash.string("effect-pg/Record")
    for (const v of this[ValuesKey]) h = Hash.combine(h)(Hash.hash(v))
    return h
  }
}

/** Builds the shape (and row prototype) for a list of column names. */
export const makeShape = (names: ReadonlyArray<string>): RecordShape & { readonly make: (values: Array<Value>) => Record } => {
  const index = new Map<string, number>()
  names.forEach((n, i) => {
    index.set(n, i)
  })
  const shape: RecordShape = { names, index }
  class Row extends RecordBase {}
  Object.defineProperty(Row.prototype, ShapeKey, { value: shape, enumerable: false })
  for (const [name, i] of index) {
    if (RESERVED.has(name)) continue
    Object.defineProperty(Row.prototype, name, {
      get(this: RecordBase) {
        return this[ValuesKey][i]
      },
      enumerable: true,
      configurable: false
    })
  }
  return { names, index, make: (values) => new Row(values) as unknown as Record }
}

/** True when `u` is a Record produced by effect-pg. */
export const isRecord = (u: unknown): u is Record => u instanceof RecordBase

/** The values of a record as a plain array (no copy: do not mutate). */
export const toArray = (r: Record): ReadonlyArray<Value> => r[ValuesKey]

/** The shape (column names) of a record. */
export const shapeOf = (r: Record): RecordShape => r[ShapeKey]
