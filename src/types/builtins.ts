/**
 * The table of built-in codecs: every PostgreSQL base type the registry
 * knows without introspection, their array types, and the fallback codec.
 *
 * @since 0.1.0
 */
import { fail, utf8 } from "./internal/binary.js"
import { identity, make, rename, type TypeCodec } from "./internal/kit.js"
import { arrayCodec } from "./array.js"
import { date, timestamp, type TimestampMode } from "./datetime.js"
import { bool, float4, float8, int2, int4, int8, numeric, uint4, xid8, type Int8Mode, type NumericMode } from "./numbers.js"
import { bytea, char, defaultJson, json, jsonb, jsonpath, textLike, uuid, type JsonOptions } from "./text.js"

/** Options that change how built-in types are decoded. */
export interface BuiltinOptions {
  readonly numeric: NumericMode
  readonly int8: Int8Mode
  readonly timestamps: TimestampMode
  readonly json: JsonOptions
}

/** OIDs below this are system OIDs (`FirstNormalObjectId`); the registry keeps them in an array. */
export const LOW_OID_LIMIT = 16384

type Factory = (oid: number, name: string, options: BuiltinOptions) => TypeCodec

/** [oid, name, array oid (0: none), factory] */
type Entry = readonly [number, string, number, Factory]

const E = (oid: number, name: string, arrayOid: number, factory: Factory): Entry => [oid, name, arrayOid, factory]

/** Built-in scalar types, in dependency order (containers after their parts). */
export const SCALARS: ReadonlyArray<Entry> = [
  E(16, "bool", 1000, bool),
  E(17, "bytea", 1001, bytea),
  E(18, "char", 1002, char),
  E(19, "name", 1003, textLike),
  E(20, "int8", 1016, (o, n, opts) => int8(o, n, opts.int8)),
  E(21, "int2", 1005, int2),
  E(23, "int4", 1007, int4),
  E(24, "regproc", 1008, uint4),
  E(25, "text", 1009, textLike),
  E(26, "oid", 1028, uint4),
  E(28, "xid", 1011, uint4),
  E(29, "cid", 1012, uint4),
  E(114, "json", 199, (o, n, opts) => json(o, n, opts.json)),
  E(142, "xml", 143, textLike),
  E(194, "pg_node_tree", 0, textLike),
  E(700, "float4", 1021, float4),
  E(701, "float8", 1022, float8),
  E(705, "unknown", 0, textLike),
  E(1042, "bpchar", 1014, textLike),
  E(1043, "varchar", 1015, textLike),
  E(1082, "date", 1182, (o, n, opts) => date(o, n, opts.timestamps)),
  E(1114, "timestamp", 1115, (o, n, opts) => timestamp(o, n, opts.timestamps)),
  E(1184, "timestamptz", 1185, (o, n, opts) => timestamp(o, n, opts.timestamps)),
  E(1700, "numeric", 1231, (o, n, opts) => numeric(o, n, opts.numeric)),
  E(1790, "refcursor", 2201, textLike),
  E(2202, "regprocedure", 2207, uint4),
  E(2203, "regoper", 2208, uint4),
  E(2204, "regoperator", 2209, uint4),
  E(2205, "regclass", 2210, uint4),
  E(2206, "regtype", 2211, uint4),
  E(2950, "uuid", 2951, uuid),
  E(3734, "regconfig", 3735, uint4),
  E(3769, "regdictionary", 3770, uint4),
  E(3802, "jsonb", 3807, (o, n, opts) => jsonb(o, n, opts.json)),
  E(4072, "jsonpath", 4073, jsonpath),
  E(4089, "regnamespace", 4090, uint4),
  E(4096, "regrole", 4097, uint4),
  E(4191, "regcollation", 4192, uint4),
  E(5069, "xid8", 271, xid8)
]

/** Array type OID → element type OID, for every built-in array type. */
export const ARRAY_ELEMENT: ReadonlyMap<number, number> = new Map(
  SCALARS.filter((e) => e[2] !== 0).map((e) => [e[2], e[0]] as const)
)

/** Element type OID → array type OID, for every built-in type with an array type. */
export const ARRAY_OF: ReadonlyMap<number, number> = new Map(SCALARS.filter((e) => e[2] !== 0).map((e) => [e[0], e[2]] as const))

/** Builds the OID-indexed table of built-in codecs for some options. */
export const makeBuiltinTable = (options: BuiltinOptions): Array<TypeCodec | undefined> => {
  const table = new Array<TypeCodec | undefined>(LOW_OID_LIMIT)
  for (const [oid, name, arrayOid, factory] of SCALARS) {
    const codec = factory(oid, name, options)
    table[oid] = codec
    if (arrayOid !== 0) table[arrayOid] = arrayCodec(arrayOid, "_" + name, codec)
  }
  return table
}

const tableCache = new Map<string, Array<TypeCodec | undefined>>()

/**
 * The shared built-in table for some options (cached when `json` is the
 * default; a custom `json` builds a fresh table).
 */
export const builtinTable = (options: BuiltinOptions): ReadonlyArray<TypeCodec | undefined> => {
  if (options.json !== defaultJson) return makeBuiltinTable(options)
  const key = `${options.numeric}|${options.int8}|${options.timestamps}`
  let table = tableCache.get(key)
  if (table === undefined) {
    table = makeBuiltinTable(options)
    tableCache.set(key, table)
  }
  return table
}

// ---------------------------------------------------------------------------
// fallback
// ---------------------------------------------------------------------------

const FALLBACK_EXPECTED = "a string, number, bigint, boolean or Date (the parameter's type has no codec)"

/**
 * The text form of a value of an unknown type: strings as is, numbers and
 * bigints in decimal, booleans as `true`/`false`, Dates in ISO 8601;
 * anything else is an `EncodeError`.
 */
export const encodeFallback = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return value
    case "number":
    case "bigint":
      return String(value)
    case "boolean":
      return value ? "true" : "false"
    default:
      if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString()
      return fail(FALLBACK_EXPECTED, value)
  }
}

/** A text codec that keeps values as strings, for types without a codec (OID 0 for parameters). */
export const fallbackCodec = (oid: number, name: string): TypeCodec =>
  make(oid, name, 0, utf8, encodeFallback, { parseText: identity, formatText: encodeFallback })

/** The fallback codec for OID 0. */
export const FALLBACK: TypeCodec = fallbackCodec(0, "unknown")

export { rename }
