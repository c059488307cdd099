/**
 * The unnamed-statement path (`statementCacheSize: 0`, `prepare: false`):
 * nothing prepared stays on the server, and every execution is Parse, Bind,
 * Describe, Execute under one Sync, so a pooler may run each on any server
 * connection. A wiretap between client and server shows what is sent.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Connection from "../src/Connection.js"
import { TEST_DSN, uniqueName } from "./support/db.js"
import { type TappedMessage, wiretap } from "./support/wiretap.js"

const target = (() => {
  const u = new URL(TEST_DSN)
  return { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), database: u.pathname.slice(1) }
})()

/** A connection through a wiretap (sslmode=disable, so the tap can read it). */
const tapped = (opts: Connection.ConnectOptions) =>
  Effect.gen(function* () {
    const tap = yield* wiretap(target)
    const conn = yield* Connection.connect({
      host: "127.0.0.1",
      port: tap.port,
      user: target.user,
      database: target.database,
      sslmode: "disable",
      ...opts
    })
    return { conn, log: () => tap.connections[0]! }
  })

/** Messages from index `from` on, as "P:name" / "B:stmt" / "D:P:" / "E" / "S". */
const show = (log: ReadonlyArray<TappedMessage>, from = 0): Array<string> =>
  log.slice(from).map((m) => (m.name === undefined ? m.type : `${m.type}:${m.name}`))

const TYPES_SQL = "SELECT $1::int4 AS i, $2::text AS t, $3::timestamptz AS ts, NULL::int4 AS n, $4::int4[] AS arr"
const TS = new Date("2024-05-06T07:08:09.123Z")

describe("statementCacheSize: 0 (the unnamed statement)", () => {
  it.live("keeps no named statement, decodes every type, one Sync per query", () =>
    Effect.gen(function* () {
      const { conn, log } = yield* tapped({ statementCacheSize: 0 })
      const check = (row: { get(k: string): unknown } | null) => {
        expect(row?.get("i")).toBe(7)
        expect(row?.get("t")).toBe("seven")
        expect(row?.get("ts")).toEqual(TS)
        expect(row?.get("n")).toBe(null)
        expect(row?.get("arr")).toEqual([1, null, 3])
      }
      check(yield* conn.fetchrow(TYPES_SQL, [7, "seven", TS, [1, null, 3]]))
      const before = log().length
      check(yield* conn.fetchrow(TYPES_SQL, [7, "seven", TS, [1, null, 3]]))
      // the second run: the description is known, one unit of five messages
      expect(show(log(), before)).toEqual(["P:", "B:", "D:P:", "E", "S"])
      // a query looking at the server's prepared statements while it runs sees none, not even itself
      expect(yield* conn.fetch("SELECT name FROM pg_prepared_statements WHERE $1::int4 = 1", [1])).toEqual([])
      // never a named statement, and never a Bind in a unit without its Parse
      const all = log()
      expect(all.filter((m) => m.type === "P" && m.name !== "")).toEqual([])
      let parsed = false
      for (const m of all) {
        if (m.type === "P") parsed = true
        if (m.type === "B") expect(parsed).toBe(true)
        if (m.type === "S") parsed = false
      }
    }))

  it.live("prepare: false does the same with the default cache size; a transaction works too", () =>
    Effect.gen(function* () {
      const { conn, log } = yield* tapped({ prepare: false })
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* conn.transaction()
          expect(yield* conn.fetchval("SELECT $1::int4 + 1", [41])).toBe(42)
          expect(yield* conn.fetchval("SELECT $1::int4 + 1", [1])).toBe(2)
        })
      )
      expect(yield* conn.fetchval("SELECT count(*)::int4 FROM pg_prepared_statements")).toBe(0)
      expect(log().filter((m) => m.type === "P" && m.name !== "")).toEqual([])
    }))

  it.live("executemany and fetchmany: one Parse, a Bind/Execute per set, one Sync; all or nothing", () =>
    Effect.gen(function* () {
      const { conn, log } = yield* tapped({ statementCacheSize: 0 })
      const table = uniqueName("t_unnamed_many")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int4 PRIMARY KEY, v text, at timestamptz)`)
      const insert = `INSERT INTO ${table} VALUES ($1, $2, $3)`
      yield* conn.executemany(insert, [[1, "a", TS], [2, null, TS]])
      const before = log().length
      yield* conn.executemany(insert, [[3, "c", null], [4, "d", TS], [5, "e", TS]])
      expect(show(log(), before)).toEqual(["P:", "B:", "D:P:", "E", "B:", "E", "B:", "E", "S"])
      const err = yield* Effect.flip(conn.executemany(insert, [[6, "f", TS], [1, "dup", TS]]))
      expect(err._tag).toBe("UniqueViolationError")
      expect(yield* conn.fetchval(`SELECT count(*)::int4 FROM ${table}`)).toBe(5)
      const many = yield* conn.fetchmany(`SELECT v, at FROM ${table} WHERE id <= $1 ORDER BY id`, [[1], [3]])
      expect(many.map((rows) => rows.map((r) => [r.get("v"), r.get("at")]))).toEqual([
        [["a", TS]],
        [["a", TS], [null, TS], ["c", null]]
      ])
      const bad = yield* Effect.flip(conn.fetchmany(`SELECT v FROM ${table} WHERE id = $1`, [[1], ["x"]]))
      expect(bad._tag).toBe("DataError")
      expect(bad.message).toContain("argument set 1")
      expect(log().filter((m) => m.type === "P" && m.name !== "")).toEqual([])
    }))

  it.live("a column whose type changed (DDL) decodes by the type of this execution", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN, statementCacheSize: 0 })
      const table = uniqueName("t_unnamed_ddl")
      const mood = uniqueName("mood")
      yield* conn.execute(`CREATE TABLE ${table} (a int4); INSERT INTO ${table} VALUES (1)`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP TABLE IF EXISTS ${table}; DROP TYPE IF EXISTS ${mood}`)))
      const select = `SELECT a FROM ${table} WHERE $1::int4 = 1`
      expect(yield* conn.fetchval(select, [1])).toBe(1)
      // int4 -> int8: binary both ways, decoded as int8 (bigint), not as an int4
      yield* conn.execute(`ALTER TABLE ${table} ALTER a TYPE int8`)
      expect(yield* conn.fetchval(select, [1])).toBe(1n)
      expect(yield* conn.fetchval(select, [1])).toBe(1n)
      // -> text: a string
      yield* conn.execute(`ALTER TABLE ${table} ALTER a TYPE text`)
      expect(yield* conn.fetchval(select, [1])).toBe("1")
      // -> an enum created just now: introspected, then decoded
      yield* conn.execute(`CREATE TYPE ${mood} AS ENUM ('1', 'happy'); ALTER TABLE ${table} ALTER a TYPE ${mood} USING a::${mood}`)
      expect(yield* conn.fetchval(select, [1])).toBe("1")
      // a column added: the new shape
      yield* conn.execute(`ALTER TABLE ${table} ALTER a TYPE text; ALTER TABLE ${table} ADD b int4 DEFAULT 5`)
      const wide = `SELECT * FROM ${table} WHERE $1::int4 = 1`
      expect((yield* conn.fetchrow(wide, [1]))?.get("a")).toBe("1")
      yield* conn.execute(`ALTER TABLE ${table} ADD c int2 DEFAULT 6`)
      const row = yield* conn.fetchrow(wide, [1])
      expect([row?.get("a"), row?.get("b"), row?.get("c")]).toEqual(["1", 5, 6])
      // int4 -> numeric: requested in binary for the int4 codec; numeric's codec reads text:
      // an honest DataError, and the next run is described afresh
      yield* conn.execute(`ALTER TABLE ${table} DROP b, DROP c, ALTER a TYPE int4 USING a::int4`)
      const one = `SELECT a FROM ${table} WHERE $1::int4 = 2`
      expect(yield* conn.fetchval(one, [2])).toBe(1)
      yield* conn.execute(`ALTER TABLE ${table} ALTER a TYPE numeric`)
      const err = yield* Effect.flip(conn.fetchval(one, [2]))
      expect(err._tag).toBe("DataError")
      expect(err.message).toContain("changed since it was described")
      expect(yield* conn.fetchval(one, [2])).toBe("1")
    }))

  it.live("a parameter whose type changed (DDL) is described again and the call runs once more", () =>
    Effect.gen(function* () {
      const { conn, log } = yield* tapped({ statementCacheSize: 0 })
      const table = uniqueName("t_unnamed_param")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (a text)`)
      const insert = `INSERT INTO ${table} VALUES ($1)`
      yield* conn.execute(insert, ["x"])
      yield* conn.execute(`ALTER TABLE ${table} ALTER a TYPE jsonb USING to_jsonb(a)`)
      // Parse with the old parameter type (text) fails before anything runs: described again, run again
      const before = log().length
      yield* conn.execute(insert, ["y"])
      expect(show(log(), before)).toEqual(["P:", "B:", "D:P:", "E", "S", "P:", "D:S:", "S", "P:", "B:", "D:P:", "E", "S"])
      expect(yield* conn.fetch(`SELECT a::text FROM ${table} ORDER BY 1`)).toHaveLength(2)
      // inside a transaction the failed Parse aborted it: no second run, the error is reported
      const err = yield* Effect.flip(
        Effect.scoped(
          Effect.gen(function* () {
            yield* conn.transaction()
            yield* conn.execute(`ALTER TABLE ${table} ALTER a TYPE int4 USING 0`)
            yield* conn.execute(insert, ["z"])
          })
        )
      )
      expect(err._tag).toBe("DatatypeMismatchError")
    }))

  it.live("pipelined on one connection: different SQL interleaved, errors and timeouts in between", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN, prepare: false })
      const results = yield* Effect.forEach(
        Array.from({ length: 400 }, (_, i) => i),
        (i) =>
          i % 3 === 0
            ? Effect.map(conn.fetchrow("SELECT $1::int4 AS a, 'A' AS who", [i]), (r) => r?.get("a") === i && r.length === 2)
            : i % 3 === 1
              ? Effect.map(conn.fetchrow("SELECT $1::text AS b, 'B' AS who, 2 AS two", [String(i)]), (r) => r?.get("b") === String(i) && r.length === 3)
              : Effect.map(Effect.flip(conn.fetchval("SELECT 1 / $1::int4", [0])), (e) => e._tag === "DivisionByZeroError"),
        { concurrency: "unbounded" }
      )
      expect(results.every((ok) => ok)).toBe(true)
      const timeout = yield* Effect.flip(conn.fetchval("SELECT pg_sleep($1::float8)", [5], { timeout: "100 millis" }))
      expect(timeout._tag).toBe("CommandTimeoutError")
      expect(yield* conn.fetchval("SELECT 1 / $1::int4", [1])).toBe(1)
      expect(yield* conn.fetchval("SELECT count(*)::int4 FROM pg_prepared_statements")).toBe(0)
    }))

  it.live("the default mode: SQL too long to cache runs unnamed too, described each time", () =>
    Effect.gen(function* () {
      const { conn, log } = yield* tapped({ maxCacheableStatementSize: 20 })
      const long = "SELECT $1::int4 * 2 AS doubled"
      expect(yield* conn.fetchval(long, [4])).toBe(8)
      const before = log().length
      expect(yield* conn.fetchval(long, [5])).toBe(10)
      expect(show(log(), before)).toEqual(["P:", "D:S:", "S", "P:", "B:", "D:P:", "E", "S"])
      // short SQL is still a cached named statement
      expect(yield* conn.fetchval("SELECT $1::int4", [1])).toBe(1)
      expect(log().filter((m) => m.type === "P" && m.name !== "")).toHaveLength(1)
    }))

  it.live("cursors and prepared statements still work (named, inside a transaction)", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN, prepare: false })
      const rows = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* conn.transaction()
          const stmt = yield* conn.prepare("SELECT $1::int4 * 2 AS n")
          expect(yield* stmt.fetchval([21])).toBe(42)
          return yield* Stream.runCollect(conn.cursor("SELECT g FROM generate_series(1, $1::int4) g", [5], { prefetch: 2 }))
        })
      )
      expect(Array.from(rows, (r) => r.get("g"))).toEqual([1, 2, 3, 4, 5])
    }))
})

describe("names the server keeps", () => {
  it.live("statement, portal and cursor names carry a random part (no collision across processes)", () =>
    Effect.gen(function* () {
      const a = yield* Connection.connect(TEST_DSN)
      const b = yield* Connection.connect(TEST_DSN)
      const na = (yield* a.prepare("SELECT 1")).getName()
      const nb = (yield* b.prepare("SELECT 1")).getName()
      expect(na).toMatch(/^__epg_[0-9a-z]+_[0-9a-z]+$/)
      expect(na.slice(0, na.lastIndexOf("_"))).not.toBe(nb.slice(0, nb.lastIndexOf("_")))
      const cursors = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* a.transaction()
          yield* a.cursorManual("SELECT 1")
          return yield* a.fetch("SELECT name FROM pg_cursors WHERE name <> ''")
        })
      )
      expect(cursors.map((r) => r.get("name"))).toEqual([expect.stringMatching(/^__epg_cursor_[0-9a-z]+_[0-9a-z]+$/)])
    }))
})
