/**
 * The table of built-in codecs: every PostgreSQL built-in type the registry
 * knows without introspection (base types, ranges, multiranges, `record`)
 * and their array types.
 *
 * @since 0.1.0
 */
import type { TypeCodec } from "./internal/kit.js"
import { arrayCodec } from "./array.js"
import { recordCodec } from "./composite.js"
import { date, timestamp, type TimestampMode } from "./datetime.js"
import { box, circle, line, lseg, path, point, polygon } from "./geometric.js"
import { bit, money, pgLsn, plainText, tid } from "./misc.js"
import { cidr, inet, macaddr, macaddr8 } from "./network.js"
import { bool, float4, float8, int2, int4, int8, numeric, uint4, xid8, type Int8Mode, type NumericMode } from "./numbers.js"
import { multirangeCodec, rangeCodec } from "./ranges.js"
import { bytea, char, defaultJson, json, jsonb, jsonpath, textLike, uuid, type JsonOptions } from "./text.js"
import { interval, time, timetz } from "./time.js"

export { encodeFallback, FALLBACK, fallbackCodec } from "./fallback.js"

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

/** Built-in base types. */
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
  E(27, "tid", 1010, tid),
  E(28, "xid", 1011, uint4),
  E(29, "cid", 1012, uint4),
  E(114, "json", 199, (o, n, opts) => json(o, n, opts.json)),
  E(142, "xml", 143, textLike),
  E(194, "pg_node_tree", 0, textLike),
  E(600, "point", 1017, point),
  E(601, "lseg", 1018, lseg),
  E(602, "path", 1019, path),
  E(603, "box", 1020, box),
  E(604, "polygon", 1027, polygon),
  E(628, "line", 629, line),
  E(650, "cidr", 651, cidr),
  E(700, "float4", 1021, float4),
  E(701, "float8", 1022, float8),
  E(705, "unknown", 0, textLike),
  E(718, "circle", 719, circle),
  E(774, "macaddr8", 775, macaddr8),
  E(790, "money", 791, money),
  E(829, "macaddr", 1040, macaddr),
  E(869, "inet", 1041, inet),
  E(1033, "aclitem", 1034, plainText),
  E(1042, "bpchar", 1014, textLike),
  E(1043, "varchar", 1015, textLike),
  E(1082, "date", 1182, (o, n, opts) => date(o, n, opts.timestamps)),
  E(1083, "time", 1183, time),
  E(1114, "timestamp", 1115, (o, n, opts) => timestamp(o, n, opts.timestamps)),
  E(1184, "timestamptz", 1185, (o, n, opts) => timestamp(o, n, opts.timestamps)),
  E(1186, "interval", 1187, interval),
  E(1266, "timetz", 1270, timetz),
  E(1560, "bit", 1561, bit),
  E(1562, "varbit", 1563, bit),
  E(1700, "numeric", 1231, (o, n, opts) => numeric(o, n, opts.numeric)),
  E(1790, "refcursor", 2201, textLike),
  E(2202, "regprocedure", 2207, uint4),
  E(2203, "regoper", 2208, uint4),
  E(2204, "regoperator", 2209, uint4),
  E(2205, "regclass", 2210, uint4),
  E(2206, "regtype", 2211, uint4),
  E(2950, "uuid", 2951, uuid),
  E(2970, "txid_snapshot", 2949, plainText),
  E(3220, "pg_lsn", 3221, pgLsn),
  E(3614, "tsvector", 3643, plainText),
  E(3615, "tsquery", 3645, plainText),
  E(3734, "regconfig", 3735, uint4),
  E(3769, "regdictionary", 3770, uint4),
  E(3802, "jsonb", 3807, (o, n, opts) => jsonb(o, n, opts.json)),
  E(4072, "jsonpath", 4073, jsonpath),
  E(4089, "regnamespace", 4090, uint4),
  E(4096, "regrole", 4097, uint4),
  E(4191, "regcollation", 4192, uint4),
  E(5038, "pg_snapshot", 5039, plainText),
  E(5069, "xid8", 271, xid8)
]

/** Built-in ranges and multiranges: [oid, name, array oid, subtype oid, kind]. */
export const RANGES: ReadonlyArray<readonly [number, string, number, number, "r" | "m"]> = [
  [3904, "int4range", 3905, 23, "r"],
  [3906, "numrange", 3907, 1700, "r"],
  [3908, "tsrange", 3909, 1114, "r"],
  [3910, "tstzrange", 3911, 1184, "r"],
  [3912, "daterange", 3913, 1082, "r"],
  [3926, "int8range", 3927, 20, "r"],
  [4451, "int4multirange", 6150, 23, "m"],
  [4532, "nummultirange", 6151, 1700, "m"],
  [4533, "tsmultirange", 6152, 1114, "m"],
  [4534, "tstzmultirange", 6153, 1184, "m"],
  [4535, "datemultirange", 6155, 1082, "m"],
  [4536, "int8multirange", 6157, 20, "m"]
]

/** Array type OID → element type OID, for every built-in array type. */
export const ARRAY_ELEMENT: ReadonlyMap<number, number> = new Map([
  ...SCALARS.filter((e) => e[2] !== 0).map((e) => [e[2], e[0]] as const),
  ...RANGES.map((r) => [r[2], r[0]] as const),
  [2287, 2249]
])

/** Element type OID → array type OID, for every built-in type with an array type. */
export const ARRAY_OF: ReadonlyMap<number, number> = new Map([...ARRAY_ELEMENT].map(([a, e]) => [e, a] as const))

/** Subtype OID → the built-in range and multirange types over it. */
export const RANGES_OF: ReadonlyMap<number, ReadonlyArray<(typeof RANGES)[number]>> = RANGES.reduce(
  (m, r) => m.set(r[3], [...(m.get(r[3]) ?? []), r]),
  new Map<number, ReadonlyArray<(typeof RANGES)[number]>>()
)

/**
 * Adds the built-in containers (ranges, multiranges, `record`, int2vector,
 * oidvector) and every array type to `table`, from the element codecs already
 * in it.
 */
export const addContainers = (
  table: Array<TypeCodec | undefined>,
  lookup: (oid: number) => TypeCodec | undefined,
  keep: (oid: number) => boolean = () => false
): void => {
  const put = (codec: TypeCodec): void => {
    if (!keep(codec.oid)) table[codec.oid] = codec
  }
  for (const [oid, name, , subtype, kind] of RANGES) {
    const sub = table[subtype]!
    put(kind === "r" ? rangeCodec(oid, name, sub) : multirangeCodec(oid, name, sub))
  }
  put(recordCodec(2249, "record", lookup))
  put(arrayCodec(22, "int2vector", table[21]!, 0))
  put(arrayCodec(30, "oidvector", table[26]!, 0))
  for (const [arrayOid, elemOid] of ARRAY_ELEMENT) {
    const elem = table[elemOid]!
    put(arrayCodec(arrayOid, "_" + BUILTIN_NAMES.get(elemOid)!, elem))
  }
}

const BUILTIN_NAMES: ReadonlyMap<number, string> = new Map([
  ...SCALARS.map((e) => [e[0], e[1]] as const),
  ...RANGES.map((r) => [r[0], r[1]] as const),
  [2249, "record"]
])

/** Builds the OID-indexed table of built-in codecs for some options. */
export const makeBuiltinTable = (options: BuiltinOptions): Array<TypeCodec | undefined> => {
  const table = new Array<TypeCodec | undefined>(LOW_OID_LIMIT)
  for (const [oid, name, , factory] of SCALARS) table[oid] = factory(oid, name, options)
  addContainers(table, (oid) => (oid < LOW_OID_LIMIT ? table[oid] : undefined))
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
