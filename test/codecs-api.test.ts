import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Connection from "../src/Connection.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

/** Creates a type in public for the test, dropped at the end. */
const withType = (conn: Connection.Connection, prefix: string, definition: string) =>
  Effect.gen(function* () {
    const name = uniqueName(prefix)
    yield* conn.execute(`CREATE TYPE ${name} AS ${definition}`)
    yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP TYPE IF EXISTS ${name} CASCADE`)))
    return name
  })

describe("type codecs per connection", () => {
  it.live("setTypeCodec (text) on a user type; cached statements pick it up; resetTypeCodec restores", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const mood = yield* withType(conn, "mood", "ENUM ('happy', 'sad')")
      const sql = `SELECT 'happy'::${mood} AS m, ARRAY['sad', 'happy']::${mood}[] AS ms, $1::${mood}::text AS echoed`
      // cached with the default codec first
      expect((yield* conn.fetchrow(sql, ["sad"]))?.get("m")).toBe("happy")
      yield* conn.setTypeCodec<{ readonly mood: string }>(mood, {
        encoder: (v) => v.mood,
        decoder: (text) => ({ mood: text.toUpperCase() })
      })
      const row = yield* conn.fetchrow(sql, [{ mood: "sad" }])
      expect(row?.get("m")).toEqual({ mood: "HAPPY" })
      expect(row?.get("ms")).toEqual([{ mood: "SAD" }, { mood: "HAPPY" }])
      expect(row?.get("echoed")).toBe("sad")
      yield* conn.resetTypeCodec(mood)
      expect((yield* conn.fetchrow(sql, ["sad"]))?.get("m")).toBe("happy")
    }))

  it.live("a decoder that throws is a DataError naming row and column; the connection stays usable", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* conn.setTypeCodec<number>("numeric", {
        schema: "pg_catalog",
        format: "text",
        encoder: (n) => String(n),
        decoder: (text) => {
          if (text === "13") throw new Error("unlucky")
          return Number(text)
        }
      })
      const err = yield* Effect.flip(conn.fetch("SELECT 1 AS id, x::numeric AS amount FROM generate_series(11, 14) x"))
      expect(err._tag).toBe("DataError")
      expect(err.message).toContain('row 2, column "amount"')
      expect(err.message).toContain("unlucky")
      expect(err._tag === "DataError" && err.column).toBe("amount")
      expect(yield* conn.fetchval("SELECT 2")).toBe(2)
    }))

  it.live("setTypeCodec on a built-in type (schema pg_catalog), text and binary formats", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      expect(yield* conn.fetchval("SELECT 1.5::numeric")).toBe("1.5")
      yield* conn.setTypeCodec<number>("numeric", {
        schema: "pg_catalog",
        format: "text",
        encoder: (n) => String(n),
        decoder: Number
      })
      expect(yield* conn.fetchval("SELECT 1.5::numeric")).toBe(1.5)
      expect(yield* conn.fetchval("SELECT ARRAY[1.5, 2]::numeric[]")).toEqual([1.5, 2])
      expect(yield* conn.fetchval("SELECT $1::numeric * 2", [0.25])).toBe(0.5)
      // binary: the decoder gets the raw bytes
      yield* conn.setTypeCodec<string>("int4", {
        schema: "pg_catalog",
        format: "binary",
        encoder: (s) => {
          const b = Buffer.alloc(4)
          b.writeInt32BE(Number(s.slice(1)))
          return b
        },
        decoder: (bytes) => `#${bytes.readInt32BE(0)}`
      })
      expect(yield* conn.fetchval("SELECT $1::int4 + 1", ["#41"])).toBe("#42")
      yield* conn.resetTypeCodec("int4", { schema: "pg_catalog" })
      expect(yield* conn.fetchval("SELECT 41::int4 + 1")).toBe(42)
      // other connections are not affected
      const other = yield* connect()
      expect(yield* other.fetchval("SELECT 1.5::numeric")).toBe("1.5")
    }))

  it.live("an unknown type name is a typed error naming it; arrays and domains are refused", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const err = yield* Effect.flip(conn.setTypeCodec("no_such_type_xyz", { encoder: String, decoder: String }))
      expect(err._tag).toBe("InterfaceError")
      expect(err.message).toContain("public.no_such_type_xyz")
      const wrongSchema = yield* Effect.flip(conn.setTypeCodec("int4", { encoder: String, decoder: String }))
      expect(wrongSchema.message).toContain("public.int4")
      const array = yield* Effect.flip(conn.setTypeCodec("_int4", { schema: "pg_catalog", encoder: String, decoder: String }))
      expect(array.message).toContain("array type")
      const dom = uniqueName("dom")
      yield* conn.execute(`CREATE DOMAIN ${dom} AS int4`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP DOMAIN IF EXISTS ${dom}`)))
      const domain = yield* Effect.flip(conn.setTypeCodec(dom, { encoder: String, decoder: String }))
      expect(domain.message).toContain("domain type")
      const reset = yield* Effect.flip(conn.resetTypeCodec("no_such_type_xyz"))
      expect(reset._tag).toBe("InterfaceError")
      const builtin = yield* Effect.flip(conn.setBuiltinTypeCodec("int2", { schema: "pg_catalog", codecName: "no_such_codec" }))
      expect(builtin.message).toContain("pg_catalog.no_such_codec")
    }))

  it.live("setBuiltinTypeCodec exchanges a type as a built-in one", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      expect(yield* conn.fetchval("SELECT 5::int2")).toBe(5)
      // int2 and text share their text form, not their binary one
      yield* conn.setBuiltinTypeCodec("int2", { schema: "pg_catalog", codecName: "text", format: "text" })
      expect(yield* conn.fetchval("SELECT 5::int2")).toBe("5")
      expect(yield* conn.fetchval("SELECT $1::int2 + 1::int2", ["6"])).toBe("7")
      // oid travels like int4 in binary (both are 4-byte integers)
      yield* conn.setBuiltinTypeCodec("oid", { schema: "pg_catalog", codecName: "int4" })
      expect(yield* conn.fetchval("SELECT 123::oid")).toBe(123)
    }))

  it.live("reloadSchemaState forgets introspected types and cached statements; your codecs stay", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const pair = yield* withType(conn, "pair", "(a int4, b text)")
      const mood = yield* withType(conn, "mood2", "ENUM ('up', 'down')")
      yield* conn.setTypeCodec<string>(mood, { encoder: (s) => s.toLowerCase(), decoder: (s) => s.toUpperCase() })
      const sql = `SELECT ROW(1, 'x', 3)::${pair} AS p, 'up'::${mood} AS m`
      yield* conn.execute(`ALTER TYPE ${pair} ADD ATTRIBUTE c int4`)
      // first use after the DDL: introspected now
      expect((yield* conn.fetchrow(sql))?.get("p")).toEqual({ a: 1, b: "x", c: 3 })
      yield* conn.execute(`ALTER TYPE ${pair} DROP ATTRIBUTE c`)
      yield* conn.execute(`ALTER TYPE ${pair} ADD ATTRIBUTE d text`)
      yield* conn.reloadSchemaState()
      const row = yield* conn.fetchrow(`SELECT ROW(1, 'x', 'y')::${pair} AS p, 'up'::${mood} AS m`)
      expect(row?.get("p")).toEqual({ a: 1, b: "x", d: "y" })
      expect(row?.get("m")).toBe("UP")
    }))

  it.live("the driver's own queries use the built-in codecs: an oid codec that returns null breaks no user type (asyncpg test_introspection)", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const pair = yield* withType(conn, "opair", "(a int4, b text)")
      const mood = yield* withType(conn, "omood", "ENUM ('up', 'down')")
      const table = uniqueName("ocopy")
      yield* conn.execute(`CREATE TABLE ${table} (p ${pair})`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP TABLE IF EXISTS ${table}`)))
      // mess up the codec the catalog queries read: introspection must not be affected
      yield* conn.setTypeCodec<null>("oid", { schema: "pg_catalog", encoder: () => null as unknown as string, decoder: () => null })
      expect(yield* conn.fetchval(`SELECT ROW(1, 'x')::${pair}`)).toEqual({ a: 1, b: "x" })
      expect(yield* conn.fetchval(`SELECT 'up'::${mood}`)).toBe("up")
      const ps = yield* conn.prepare(`SELECT $1::${pair}`)
      expect((yield* ps.getParameters()).map((t) => t.name)).toEqual([pair])
      expect(yield* conn.copyRecordsToTable(table, { records: [[{ a: 2, b: "y" }]] })).toBe("COPY 1")
      // a codec set later lands on its type (its lookup read the oid with the built-in codec)
      yield* conn.setTypeCodec<{ readonly raw: string }>("json", { schema: "pg_catalog", encoder: (v) => v.raw, decoder: (raw) => ({ raw }) })
      expect(yield* conn.fetchval(`SELECT '{"a":1}'::json`)).toEqual({ raw: '{"a":1}' })
      expect(yield* conn.fetchval("SELECT 7::oid")).toBe(null)
      // reset finds the oid type and restores its codec and the arrays derived from it
      yield* conn.resetTypeCodec("oid", { schema: "pg_catalog" })
      expect(yield* conn.fetchval("SELECT 7::oid")).toBe(7)
      expect(yield* conn.fetchval("SELECT $1::oid[]", [[7, 8]])).toEqual([7, 8])
      yield* conn.resetTypeCodec("json", { schema: "pg_catalog" })
      expect(yield* conn.fetchval(`SELECT '{"a":1}'::json`)).toEqual({ a: 1 })
    }))

  it.live("a composite parameter with a key that is no attribute is a DataError naming key and type; nothing is written", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const trio = yield* withType(conn, "trio", "(a int4, b text, c int4[])")
      const table = uniqueName("trio_t")
      yield* conn.execute(`CREATE TABLE ${table} (v ${trio})`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP TABLE IF EXISTS ${table}`)))
      const insert = `INSERT INTO ${table} (v) VALUES ($1)`
      for (const bad of [{ bad: "foo" }, { a: 1, b: "x", c: [1], extra: 2 }]) {
        const err = yield* Effect.flip(conn.execute(insert, [bad]))
        expect(err._tag).toBe("DataError")
        expect(err.message).toContain(`"${Object.keys(bad).at(-1)}", which is not a valid element of composite type ${trio}`)
      }
      // inside an array of composites too
      const inArray = yield* Effect.flip(conn.fetchval(`SELECT $1::${trio}[]`, [[{ a: 1 }, { b: "y", nope: true }]]))
      expect(inArray.message).toContain(`"nope", which is not a valid element of composite type ${trio}`)
      expect(yield* conn.fetchval(`SELECT count(*)::int4 FROM ${table}`)).toBe(0)
      // missing attributes are still NULL, and the connection is usable
      yield* conn.execute(insert, [{ a: 1 }])
      expect(yield* conn.fetchval(`SELECT v FROM ${table}`)).toEqual({ a: 1, b: null, c: null })
    }))

  it.live("setTypeCodec, setBuiltinTypeCodec and resetTypeCodec take SQL-standard type names in pg_catalog, in any case", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["smallint", "7::int2"],
        ["int", "7::int4"],
        ["INTEGER", "7::int4"],
        ["bigint", "7::int8"],
        ["decimal", "7::numeric"],
        ["real", "7::float4"],
        ["double  precision", "7::float8"],
        ["timestamp with time zone", "'2020-01-02 03:04:05+00'::timestamptz"],
        ["timestamp with timezone", "'2020-01-02 03:04:05+00'::timestamptz"],
        ["timestamp without time zone", "'2020-01-02 03:04:05'::timestamp"],
        ["time with time zone", "'03:04:05+00'::timetz"],
        ["time without timezone", "'03:04:05'::time"],
        ["character", "'x'::bpchar"],
        ["CHARACTER VARYING", "'x'::varchar"],
        ["bit varying", "B'101'::varbit"]
      ]
      const tagged = (v: unknown) => typeof v === "string" && v.startsWith("<")
      for (const [name, literal] of cases) {
        yield* conn.setTypeCodec<string>(name, { schema: "pg_catalog", encoder: (s) => s, decoder: (s) => `<${s}>` })
        const decoded = yield* conn.fetchval(`SELECT ${literal}`)
        expect(tagged(decoded), `${name}: ${String(decoded)}`).toBe(true)
        yield* conn.resetTypeCodec(name.toUpperCase(), { schema: "pg_catalog" })
        expect(tagged(yield* conn.fetchval(`SELECT ${literal}`)), `${name} after reset`).toBe(false)
      }
      // "char" stays the one-byte type of pg_catalog
      yield* conn.setTypeCodec<string>("char", { schema: "pg_catalog", encoder: (s) => s, decoder: (s) => `<${s}>` })
      expect(yield* conn.fetchval(`SELECT 'a'::"char"`)).toBe("<a>")
      expect(yield* conn.fetchval(`SELECT 'a'::char(1)`)).toBe("a")
      yield* conn.resetTypeCodec("char", { schema: "pg_catalog" })
      // setBuiltinTypeCodec takes them for the built-in codec too
      const digits = yield* withType(conn, "digits", "ENUM ('1', '2')")
      yield* conn.setBuiltinTypeCodec(digits, { codecName: "Integer", format: "text" })
      expect(yield* conn.fetchval(`SELECT '2'::${digits}`)).toBe(2)
    }))

  it.live("bad codec options are an InterfaceError from the Effect, never a throw at the call; the registry is unchanged", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const set = (options: unknown) => conn.setTypeCodec("int4", options as Connection.TypeCodecOptions<number>)
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ schema: "pg_catalog", decoder: Number }, "encoder must be a function, got none"],
        [{ schema: "pg_catalog", encoder: String }, "decoder must be a function, got none"],
        [{ schema: "pg_catalog", encoder: String, decoder: 42 }, "decoder must be a function, got number"],
        [{ schema: "pg_catalog", encoder: String, decoder: Number, format: "tuple" }, 'format must be "text" or "binary", got "tuple"'],
        [{ schema: 5, encoder: String, decoder: Number }, "schema must be a string, got number"],
        [null, "options must be an object, got null"]
      ]
      for (const [options, message] of cases) {
        // building the Effect must not throw
        const effect = set(options)
        const err = yield* Effect.flip(effect)
        expect(err._tag).toBe("InterfaceError")
        expect(err.message).toContain(message)
        // int4 still has its built-in codec, both ways
        expect(yield* conn.fetchval("SELECT $1::int4 + 1", [6])).toBe(7)
      }
      const builtin = yield* Effect.flip(conn.setBuiltinTypeCodec("x", null as unknown as Connection.BuiltinCodecOptions))
      expect(builtin.message).toContain("setBuiltinTypeCodec: options must be an object")
      const noName = yield* Effect.flip(conn.setBuiltinTypeCodec("x", {} as Connection.BuiltinCodecOptions))
      expect(noName.message).toContain("codecName must be the name of a built-in type")
      const reset = yield* Effect.flip(conn.resetTypeCodec(null as unknown as string))
      expect(reset.message).toContain("resetTypeCodec: the type name must be a non-empty string, got null")
    }))
})
