/**
 * Introspected types: enums, domains, composites, arrays of them, user
 * ranges and multiranges, citext and hstore, in a database of their own
 * (`effect_pg_types`, created if missing) so extensions and types do not
 * touch the shared `test` database.
 */
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EncodeError, type IntrospectedType } from "../../src/types/Codec.js"
import { Range } from "../../src/types/Range.js"
import { TypeRegistry } from "../../src/types/Registry.js"
import { asParam, connectionConfig, openClient, selectDecoded } from "./helpers.js"

const DB = "effect_pg_types"
const SCHEMA = `t${process.pid}`
let client: pg.Client

beforeAll(async () => {
  const admin = await openClient()
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [DB])
  if (exists.rowCount === 0) {
    try {
      await admin.query(`CREATE DATABASE ${DB}`)
    } catch (e) {
      if ((e as { code?: string }).code !== "42P04") throw e // created concurrently
    }
  }
  await admin.end()
  client = new pg.Client({ ...connectionConfig(), database: DB })
  await client.connect()
  await client.query("SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'")
  for (const ext of ["hstore", "citext"]) {
    try {
      await client.query(`CREATE EXTENSION IF NOT EXISTS ${ext}`)
    } catch (e) {
      if ((e as { code?: string }).code !== "23505") throw e // created concurrently
    }
  }
  await client.query(`
    DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE;
    CREATE SCHEMA ${SCHEMA};
    SET search_path = ${SCHEMA}, public;
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'très "content"');
    CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
    CREATE DOMAIN money2 AS numeric(10,2);
    CREATE DOMAIN tags AS text[];
    CREATE TYPE inner_t AS (a int4, b text);
    CREATE TYPE outer_t AS (i inner_t, arr inner_t[], n money2, ts timestamptz, moods mood[], p posint, gone int4, "__proto__" text);
    ALTER TYPE outer_t DROP ATTRIBUTE gone;
    CREATE TYPE with_money AS (m money, x int4, t text, ts timestamptz);
    CREATE TYPE floatrange AS RANGE (subtype = float8, multirange_type_name = floatmultirange);
    CREATE TYPE moodrange AS RANGE (subtype = mood);
  `)
})

afterAll(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
  await client.end()
})

/** Introspects what `registry` lacks for `oids`, as the engine does. */
const introspect = async (registry: TypeRegistry, oids: ReadonlyArray<number>): Promise<ReadonlyArray<IntrospectedType>> => {
  const wanted = oids.filter((o) => registry.needsIntrospection(o))
  if (wanted.length === 0) return []
  const r = await client.query<IntrospectedType>(TypeRegistry.INTROSPECT_SQL, [wanted])
  registry.addIntrospected(r.rows, wanted)
  return r.rows
}

/** `SELECT expr` decoded after introspecting its type. */
const fetchValue = async (registry: TypeRegistry, expr: string, values: ReadonlyArray<unknown> = []) => {
  const oid = (await client.query({ text: `SELECT ${expr}`, values: values as Array<unknown>, rowMode: "array" })).fields[0]!.dataTypeID
  await introspect(registry, [oid])
  return selectDecoded(client, registry, expr, values)
}

const oidOf = async (type: string): Promise<number> =>
  (await client.query<{ oid: number }>("SELECT $1::regtype::oid::int4 AS oid", [type])).rows[0]!.oid

const roundTrip = async (registry: TypeRegistry, type: string, value: unknown) => {
  const oid = await oidOf(type)
  await introspect(registry, [oid])
  const param = asParam(registry.codecFor(oid).encode(value))
  return selectDecoded(client, registry, `$1::${type}`, [param])
}

describe("introspection", () => {
  it("the query returns the IntrospectedType shape, recursively", async () => {
    const registry = new TypeRegistry()
    const oid = await oidOf("outer_t[]")
    expect(registry.needsIntrospection(oid)).toBe(true)
    expect(registry.needsIntrospection(23)).toBe(false)
    expect(registry.needsIntrospection(0)).toBe(false)
    const rows = await introspect(registry, [oid])
    const byName = new Map(rows.map((r) => [r.name, r]))
    expect([...byName.keys()].sort()).toEqual(
      ["_outer_t", "outer_t", "inner_t", "_inner_t", "money2", "numeric", "timestamptz", "_mood", "mood", "posint", "int4", "text"].sort()
    )
    const outer = byName.get("outer_t")!
    expect(outer).toMatchObject({ kind: "c", schema: SCHEMA, elemOid: 0, baseOid: 0, rangeSubtypeOid: 0 })
    expect(outer.attrNames).toEqual(["i", "arr", "n", "ts", "moods", "p", "__proto__"])
    expect(outer.attrOids.map(Number)).toEqual([
      await oidOf("inner_t"),
      await oidOf("inner_t[]"),
      await oidOf("money2"),
      1184,
      await oidOf("mood[]"),
      await oidOf("posint"),
      25
    ])
    expect(byName.get("_outer_t")).toMatchObject({ elemOid: Number(outer.oid) })
    expect(byName.get("money2")).toMatchObject({ kind: "d", baseOid: 1700 })
    expect(byName.get("mood")).toMatchObject({ kind: "e" })
    expect(registry.needsIntrospection(oid)).toBe(false)
    // column types: all decodable by the built-in registry as numbers and strings
    const cols = (await client.query({ text: TypeRegistry.INTROSPECT_SQL, values: [[oid]], rowMode: "array" })).fields
    expect(cols.map((f) => f.name)).toEqual(["oid", "name", "schema", "kind", "elemOid", "baseOid", "rangeSubtypeOid", "attrNames", "attrOids"])
    expect(cols.map((f) => f.dataTypeID)).toEqual([26, 25, 25, 25, 26, 26, 26, 1009, 1028])
  })
  it("unknown OIDs are marked so they are not introspected again", async () => {
    const registry = new TypeRegistry()
    expect(registry.needsIntrospection(999999)).toBe(true)
    await introspect(registry, [999999])
    expect(registry.needsIntrospection(999999)).toBe(false)
    expect(registry.get(999999)!.format).toBe(0)
  })
})

describe("introspected codecs", () => {
  it("enums (and arrays of them)", async () => {
    const registry = new TypeRegistry()
    expect((await fetchValue(registry, "'happy'::mood")).value).toBe("happy")
    expect((await fetchValue(registry, `ARRAY['sad', NULL, 'très "content"']::mood[]`)).value).toEqual(["sad", null, 'très "content"'])
    expect((await roundTrip(registry, "mood", "ok")).value).toBe("ok")
    expect((await roundTrip(registry, "mood[]", ["ok", 'très "content"'])).value).toEqual(["ok", 'très "content"'])
    expect(() => registry.codecFor(registry.get(0) === undefined ? 0 : 0).encode({})).toThrow(EncodeError)
  })
  it("domains use their base type's codec", async () => {
    const registry = new TypeRegistry()
    expect((await fetchValue(registry, "5::posint")).value).toBe(5)
    expect((await fetchValue(registry, "1.5::money2")).value).toBe("1.50")
    expect((await fetchValue(registry, "ARRAY['a','b']::tags")).value).toEqual(["a", "b"])
    expect((await roundTrip(registry, "posint", 7)).value).toBe(7)
    expect((await roundTrip(registry, "posint[]", [7, null])).value).toEqual([7, null])
    expect(() => registry.codecFor(registry.get(0) ? 0 : 0).encode(Symbol("x"))).toThrow(EncodeError)
  })
  it("composites: binary records to objects, nested, with arrays, dropped attributes, domains", async () => {
    const registry = new TypeRegistry()
    const expr = `ROW(ROW(1, 'x')::inner_t, ARRAY[ROW(2, 'y')::inner_t, NULL], 3.5, '2020-01-01 00:00:00+00', ARRAY['ok']::mood[], 4, 'proto')::outer_t`
    const { value } = await fetchValue(registry, expr)
    expect(registry.get(await oidOf("outer_t"))!.format).toBe(1)
    const expected: Record<string, unknown> = {
      i: { a: 1, b: "x" },
      arr: [{ a: 2, b: "y" }, null],
      n: "3.50",
      ts: new Date("2020-01-01T00:00:00Z"),
      moods: ["ok"],
      p: 4
    }
    Object.defineProperty(expected, "__proto__", { value: "proto", enumerable: true, writable: true, configurable: true })
    expect(value).toEqual(expected)
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    // encode from the decoded object, and from a tuple
    expect((await roundTrip(registry, "outer_t", value)).value).toEqual(expected)
    const tuple = [[1, "x"], [[2, "y"], null], "3.5", new Date("2020-01-01T00:00:00Z"), ["ok"], 4, "proto"]
    expect((await roundTrip(registry, "outer_t", tuple)).value).toEqual(expected)
    expect((await roundTrip(registry, "inner_t", { a: 1 })).value).toEqual({ a: 1, b: null })
    expect((await roundTrip(registry, "inner_t[]", [{ a: 1, b: "q\"(,)" }, null])).value).toEqual([{ a: 1, b: "q\"(,)" }, null])
    expect(() => registry.codecFor(registry.get(0) ? 0 : 0).encode([])).toThrow(EncodeError)
    const innerCodec = registry.get(await oidOf("inner_t"))!
    expect(() => innerCodec.encode([1])).toThrow(EncodeError)
    expect(() => innerCodec.encode("x")).toThrow(EncodeError)
    expect(() => innerCodec.encode({ a: "no" })).toThrow(EncodeError)
  })
  it("composites with a text-only attribute use text records", async () => {
    const registry = new TypeRegistry()
    const { value } = await fetchValue(registry, `ROW(1.5::money, 2, 'a "b" (c)', NULL)::with_money`)
    expect(registry.get(await oidOf("with_money"))!.format).toBe(0)
    expect(value).toEqual({ m: "$1.50", x: 2, t: 'a "b" (c)', ts: null })
    const withTs = await fetchValue(registry, `ROW(NULL, NULL, '', '0044-03-15 12:00:00.5+02 BC')::with_money`)
    expect(withTs.value).toEqual({ m: null, x: null, t: "", ts: new Date(Date.UTC(-43, 2, 15, 10, 0, 0, 500)) })
    expect((await roundTrip(registry, "with_money", { m: "2.25", x: 3, t: "", ts: null })).value).toEqual({ m: "$2.25", x: 3, t: "", ts: null })
  })
  it("user ranges and multiranges", async () => {
    const registry = new TypeRegistry()
    expect((await fetchValue(registry, "floatrange(1.5, 2.5, '[]')")).value).toEqual(new Range(1.5, 2.5, true, true))
    expect((await fetchValue(registry, "'{[1,2), [3,4]}'::floatmultirange")).value).toEqual([new Range(1, 2), new Range(3, 4, true, true)])
    expect((await fetchValue(registry, "moodrange('sad', 'happy')")).value).toEqual(new Range("sad", "happy"))
    expect((await roundTrip(registry, "floatrange", new Range(-1, null))).text).toBe("[-1,)")
    expect((await roundTrip(registry, "floatmultirange", [new Range(1, 2)])).text).toBe("{[1,2)}")
    expect((await roundTrip(registry, "floatrange[]", [Range.empty(), null])).value).toEqual([Range.empty(), null])
  })
  it("citext and hstore by name", async () => {
    const registry = new TypeRegistry()
    expect((await fetchValue(registry, "'MiXeD'::citext")).value).toBe("MiXeD")
    expect((await fetchValue(registry, "ARRAY['a'::citext]")).value).toEqual(["a"])
    const h = await fetchValue(registry, `'a=>1, "b c"=>NULL, "__proto__"=>x, ""=>"é"'::hstore`)
    const expected: Record<string, string | null> = { a: "1", "b c": null, "": "é" }
    Object.defineProperty(expected, "__proto__", { value: "x", enumerable: true, writable: true, configurable: true })
    expect(h.value).toEqual(expected)
    expect((await roundTrip(registry, "hstore", { k: "v", n: null })).text).toBe('"k"=>"v", "n"=>NULL')
    expect((await roundTrip(registry, "hstore", new Map([["k", "v"]]))).value).toEqual({ k: "v" })
    const hstoreCodec = registry.get(await oidOf("hstore"))!
    expect(() => hstoreCodec.encode({ k: 1 })).toThrow(EncodeError)
    expect((await fetchValue(registry, `ARRAY['a=>1'::hstore, NULL]`)).value).toEqual([{ a: "1" }, null])
  })
  it("user codecs on an introspected type reach its arrays and composites", async () => {
    const registry = new TypeRegistry()
    await fetchValue(registry, "ROW(1, 'x')::inner_t")
    await fetchValue(registry, "ARRAY[ROW(1, 'x')::inner_t]")
    registry.setTypeCodec<string>(25, "text", { format: "text", encoder: (s) => s.toLowerCase(), decoder: (t) => t.toUpperCase() })
    // inner_t now has a text-only attribute: text records
    expect((await selectDecoded(client, registry, "ROW(1, 'x')::inner_t")).value).toEqual({ a: 1, b: "X" })
    expect((await selectDecoded(client, registry, "ARRAY[ROW(1, 'x')::inner_t]")).value).toEqual([{ a: 1, b: "X" }])
    registry.resetTypeCodec(25)
    expect((await selectDecoded(client, registry, "ROW(1, 'x')::inner_t")).value).toEqual({ a: 1, b: "x" })
  })
  it("clones are independent and share what was introspected before", async () => {
    const registry = new TypeRegistry()
    await fetchValue(registry, "'ok'::mood")
    const copy = registry.clone()
    const moodOid = await oidOf("mood")
    expect(copy.needsIntrospection(moodOid)).toBe(false)
    await fetchValue(copy, "5::posint")
    expect(registry.needsIntrospection(await oidOf("posint"))).toBe(true)
  })
})
