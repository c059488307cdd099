/**
 * Hostile inputs, part 1: argument types, sizes and values.
 */
import * as Effect from "effect/Effect"
import { expect } from "@effect/vitest"
import { fails, value, type HostileRow } from "./hostile.js"

const placeholders = (n: number) => Array.from({ length: n }, (_, i) => `$${i + 1}::int4`).join(",")
/** Casts a deliberately wrong argument list past the type checker. */
const args = (v: unknown): ReadonlyArray<unknown> => v as ReadonlyArray<unknown>

const revoked = () => {
  const r = Proxy.revocable({}, {})
  r.revoke()
  return r.proxy
}
const throwingGet = () => new Proxy({}, { get() { throw new Error("get trap") } })
const throwingCtor = () => Object.defineProperty({}, "constructor", { get() { throw new Error("ctor getter") } })
const cyclic = () => {
  const o: Record<string, unknown> = {}
  o.self = o
  return o
}
const sparse = (): Array<number> => {
  const a = new Array<number>(3)
  a[0] = 1
  a[2] = 3
  return a
}
const nested = (depth: number): unknown => (depth === 0 ? 1 : [nested(depth - 1)])

export const VALUE_ROWS: ReadonlyArray<HostileRow> = [
  // ---- counts
  { name: "32,768 parameters", proves: "parameter counts are read unsigned", run: (c) => c.fetchval(`SELECT array_length(ARRAY[${placeholders(32768)}],1)`, Array(32768).fill(7)), expect: value(32768) },
  { name: "65,536 arguments", proves: "refused before Bind: the protocol's limit is 65,535", run: (c) => c.fetchval("SELECT $1::int4", Array(65536).fill(1)), expect: fails("InterfaceError") },
  { name: "2 arguments for 1 parameter", run: (c) => c.fetchval("SELECT $1::int4", [1, 2]), expect: fails("InterfaceError") },
  { name: "arguments as a string, not an array", run: (c) => c.fetchval("SELECT $1::text", args("x")), expect: fails("InterfaceError") },
  { name: "sparse argument list (hole = NULL)", run: (c) => c.fetchrow("SELECT $1::int4 IS NULL AS a, $2::int4 AS b", args([, 2])).pipe(Effect.map((r) => [r!.get(0), r!.get(1)])), expect: value([true, 2]) },
  { name: "argument list is a throwing Proxy (not an array)", run: (c) => c.fetchval("SELECT $1::int4", args(throwingGet())), expect: fails("InterfaceError") },
  { name: "argument list is an array Proxy whose get throws", run: (c) => c.fetchval("SELECT $1::int4", args(new Proxy([1], { get() { throw new Error("list") } }))), expect: fails("DataError") },
  // ---- integers
  { name: "symbol for int4", run: (c) => c.fetchval("SELECT $1::int4", [Symbol("s")]), expect: fails("DataError") },
  { name: "function for text", run: (c) => c.fetchval("SELECT $1::text", [() => 1]), expect: fails("DataError") },
  { name: "2**53 for int4", run: (c) => c.fetchval("SELECT $1::int4", [2 ** 53]), expect: fails("DataError") },
  { name: "NaN for int4", run: (c) => c.fetchval("SELECT $1::int4", [NaN]), expect: fails("DataError") },
  { name: "1.5 for int4", run: (c) => c.fetchval("SELECT $1::int4", [1.5]), expect: fails("DataError") },
  { name: "40000 for int2", run: (c) => c.fetchval("SELECT $1::int2", [40000]), expect: fails("DataError") },
  { name: "2n**63n for int8", run: (c) => c.fetchval("SELECT $1::int8", [2n ** 63n]), expect: fails("DataError") },
  { name: "Infinity for int8", run: (c) => c.fetchval("SELECT $1::int8", [Infinity]), expect: fails("DataError") },
  { name: "'12abc' for int4", run: (c) => c.fetchval("SELECT $1::int4", ["12abc"]), expect: fails("DataError") },
  { name: "-(2n**63n) for int8 (the minimum)", run: (c) => c.fetchval("SELECT $1::int8", [-(2n ** 63n)]), expect: value(-(2n ** 63n)) },
  // ---- floats
  { name: "float4 1e308 insert", proves: "no silent ±Infinity", writes: true, run: (c, t) => c.execute(`INSERT INTO ${t} (f4) VALUES ($1)`, [1e308]), expect: fails("DataError") },
  { name: "float4 -3.5e38", run: (c) => c.fetchval("SELECT $1::float4", [-3.5e38]), expect: fails("DataError") },
  { name: "float4 1e-50 (nonzero to 0)", proves: "no silent 0", run: (c) => c.fetchval("SELECT $1::float4", [1e-50]), expect: fails("DataError") },
  { name: "float8 '1e309' insert", writes: true, run: (c, t) => c.execute(`INSERT INTO ${t} (f8) VALUES ($1)`, ["1e309"]), expect: fails("DataError") },
  { name: "float8 2n**1100n", run: (c) => c.fetchval("SELECT $1::float8", [2n ** 1100n]), expect: fails("DataError") },
  { name: "float8 '1e-400'", run: (c) => c.fetchval("SELECT $1::float8", ["1e-400"]), expect: fails("DataError") },
  { name: "float4 -Infinity (explicit: allowed)", run: (c) => c.fetchval("SELECT $1::float4", [-Infinity]), expect: value(-Infinity) },
  { name: "float8 'NaN' string", run: (c) => c.fetchval("SELECT $1::float8", ["NaN"]), expect: { check: (v) => expect(v).toBeNaN() } },
  { name: "float4 0.1 decodes as float32", run: (c) => c.fetchval("SELECT $1::float4", [0.1]), expect: value(Math.fround(0.1)) },
  // ---- numeric
  { name: "numeric 'NaN'", run: (c) => c.fetchval("SELECT $1::numeric", ["NaN"]), expect: value("NaN") },
  { name: "numeric '12abc'", run: (c) => c.fetchval("SELECT $1::numeric", ["12abc"]), expect: fails("DataError") },
  { name: "numeric object", run: (c) => c.fetchval("SELECT $1::numeric", [{}]), expect: fails("DataError") },
  { name: "numeric '1e200000' (beyond numeric's range)", run: (c) => c.fetchval("SELECT $1::numeric", ["1e200000"]), expect: fails("NumericValueOutOfRangeError") },
  // ---- dates
  { name: "invalid Date for timestamptz", run: (c) => c.fetchval("SELECT $1::timestamptz", [new Date(NaN)]), expect: fails("DataError") },
  { name: "invalid Date for date", run: (c) => c.fetchval("SELECT $1::date", [new Date("nope")]), expect: fails("DataError") },
  { name: "largest JS Date round-trips", run: (c) => c.fetchval("SELECT $1::timestamptz", [new Date(8.64e15)]), expect: value(new Date(8.64e15)) },
  { name: "smallest JS Date (271821 BC) is out of timestamp range", run: (c) => c.fetchval("SELECT $1::timestamptz", [new Date(-8.64e15)]), expect: fails("DatetimeFieldOverflowError") },
  // ---- strings and bytes
  { name: "lone surrogate in text", proves: "no silent U+FFFD", run: (c) => c.fetchval("SELECT $1::text", ["a\uD800"]), expect: fails("DataError") },
  { name: "lone surrogate in an untyped parameter", run: (c) => c.fetchval("SELECT $1", ["\uDFFF"]), expect: fails("DataError") },
  { name: "lone surrogate inside text[]", writes: true, run: (c, t) => c.execute(`INSERT INTO ${t} (s) SELECT unnest($1::text[])`, [["ok", "\uD800"]]), expect: fails("DataError") },
  { name: "NUL inside a text argument", run: (c) => c.fetchval("SELECT $1::text", ["a\u0000b"]), expect: fails("CharacterNotInRepertoireError") },
  { name: "32 MB string", run: (c) => c.fetchval("SELECT length($1::text)", ["x".repeat(32 * 1024 * 1024)]), expect: value(32 * 1024 * 1024) },
  { name: "16 MB bytea", run: (c) => c.fetchval("SELECT length($1::bytea)", [Buffer.alloc(16 * 1024 * 1024, 7)]), expect: value(16 * 1024 * 1024) },
  { name: "number for bytea", run: (c) => c.fetchval("SELECT $1::bytea", [42]), expect: fails("DataError") },
  // ---- arrays
  { name: "ragged nested array for int4[]", run: (c) => c.fetchval("SELECT $1::int4[]", [[[1, 2], [3]]]), expect: fails("DataError") },
  { name: "7-dimensional array (max is 6)", run: (c) => c.fetchval("SELECT $1::int4[]", [nested(7)]), expect: fails("ProgramLimitExceededError") },
  { name: "sparse array for int4[] (holes are NULL)", run: (c) => c.fetchval("SELECT $1::int4[]", [sparse()]), expect: value([1, null, 3]) },
  { name: "string for int4[]", run: (c) => c.fetchval("SELECT $1::int4[]", ["{1,2}"]), expect: fails("DataError") },
  // ---- json
  { name: "cyclic object for jsonb", run: (c) => c.fetchval("SELECT $1::jsonb", [cyclic()]), expect: fails("DataError") },
  { name: "bigint inside jsonb", run: (c) => c.fetchval("SELECT $1::jsonb", [{ n: 1n }]), expect: fails("DataError") },
  { name: "lone surrogate in a jsonb string", run: (c) => c.fetchval("SELECT $1::jsonb", [{ s: "\uD800" }]), expect: fails("InvalidTextRepresentationError") },
  { name: "'null'::jsonb is null (documented)", run: (c) => c.fetchval("SELECT 'null'::jsonb"), expect: value(null) },
  { name: "undefined jsonb field is dropped", run: (c) => c.fetchval("SELECT $1::jsonb", [{ a: undefined, b: 1 }]), expect: value({ b: 1 }) },
  // ---- uuid, bool
  { name: "uuid with hyphens after every 4 digits", run: (c) => c.fetchval("SELECT $1::uuid", ["a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11"]), expect: value("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11") },
  { name: "uuid in braces without hyphens", run: (c) => c.fetchval("SELECT $1::uuid", ["{a0eebc999c0b4ef8bb6d6bb9bd380a11}"]), expect: value("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11") },
  { name: "malformed uuid", run: (c) => c.fetchval("SELECT $1::uuid", ["a0eebc99-9c0b"]), expect: fails("DataError") },
  { name: "'yes' for bool", run: (c) => c.fetchval("SELECT $1::bool", ["yes"]), expect: fails("DataError") },
  // ---- values whose inspection throws
  { name: "throwing Proxy for int4", proves: "a DataError, not a defect", run: (c) => c.fetchval("SELECT $1::int4", [throwingGet()]), expect: fails("DataError") },
  { name: "revoked Proxy for jsonb", run: (c) => c.fetchval("SELECT $1::jsonb", [revoked()]), expect: fails("DataError") },
  { name: "revoked Proxy for point", run: (c) => c.fetchval("SELECT $1::point", [revoked()]), expect: fails("DataError") },
  { name: "throwing constructor getter, untyped parameter", run: (c) => c.fetchval("SELECT $1", [throwingCtor()]), expect: fails("DataError") },
  { name: "throwing Proxy inside int4[]", run: (c) => c.fetchval("SELECT $1::int4[]", [[1, throwingGet()]]), expect: fails("DataError") },
  // ---- executemany
  { name: "executemany: one bad set among good ones", proves: "all or nothing", writes: true, run: (c, t) => c.executemany(`INSERT INTO ${t} (id) VALUES ($1)`, [[1], [2], ["x"], [4]]), expect: fails("DataError") },
  { name: "executemany: a set of the wrong length", writes: true, run: (c, t) => c.executemany(`INSERT INTO ${t} (id) VALUES ($1)`, [[1], [2, 3]]), expect: fails("InterfaceError") },
  { name: "executemany: 2,500 sets with the last bad", writes: true, run: (c, t) => c.executemany(`INSERT INTO ${t} (id) VALUES ($1)`, [...Array.from({ length: 2499 }, (_, i) => [i]), [1.5]]), expect: fails("DataError") },
  { name: "executemany: an iterable that throws", writes: true, run: (c, t) => c.executemany(`INSERT INTO ${t} (id) VALUES ($1)`, { *[Symbol.iterator]() { yield [1]; throw new Error("iterator broke") } }), expect: fails("DataError") },
  { name: "executemany: a set that is a revoked Proxy", writes: true, run: (c, t) => c.executemany(`INSERT INTO ${t} (id) VALUES ($1)`, [[1], args(revoked())]), expect: fails("DataError") },
  { name: "executemany: no sets", run: (c, t) => c.executemany(`INSERT INTO ${t} (id) VALUES ($1)`, []), expect: value(undefined) }
]
