import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Connection from "../src/Connection.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

describe("PreparedStatement", () => {
  it.live("fetch, fetchrow, fetchval, getQuery, getStatusMsg", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const sql = "SELECT g AS n, g * 2 AS twice FROM generate_series(1, $1::int4) g"
      const stmt = yield* conn.prepare(sql)
      expect(stmt.getQuery()).toBe(sql)
      expect(stmt.getStatusMsg()).toBe("")
      const rows = yield* stmt.fetch([3])
      expect(rows.map((r) => r.get("twice"))).toEqual([2, 4, 6])
      expect(stmt.getStatusMsg()).toBe("SELECT 3")
      expect((yield* stmt.fetchrow([2]))?.get("n")).toBe(1)
      expect(yield* stmt.fetchrow([0])).toBe(null)
      expect(yield* stmt.fetchval([5], "twice")).toBe(2)
      expect(yield* stmt.fetchval([5])).toBe(1)
      expect(yield* stmt.fetchval([0])).toBe(null)
      // the statement lives on the server under its own name
      const prepared = yield* conn.fetchval("SELECT count(*)::int4 FROM pg_prepared_statements WHERE name = $1", [stmt.getName()])
      expect(prepared).toBe(1)
    }))

  it.live("executemany and fetchmany run pipelined, all or nothing", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_ps_many")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int4 PRIMARY KEY, v text)`)
      const insert = yield* conn.prepare(`INSERT INTO ${table} VALUES ($1, $2)`)
      yield* insert.executemany([
        [1, "a"],
        [2, "b"]
      ])
      expect(insert.getStatusMsg()).toBe("INSERT 0 1")
      const err = yield* Effect.flip(insert.executemany([[3, "c"], [1, "dup"]]))
      expect(err._tag).toBe("UniqueViolationError")
      expect(yield* conn.fetchval(`SELECT count(*)::int4 FROM ${table}`)).toBe(2)
      const select = yield* conn.prepare(`SELECT v FROM ${table} WHERE id <= $1 ORDER BY id`)
      const many = yield* select.fetchmany([[1], [2]])
      expect(many.map((rows) => rows.map((r) => r.get("v")))).toEqual([["a"], ["a", "b"]])
      const bad = yield* Effect.flip(select.fetchmany([[1], ["not a number"]]))
      expect(bad._tag).toBe("DataError")
      expect(bad.message).toContain("argument set 1")
    }))

  it.live("getParameters and getAttributes name the types", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const stmt = yield* conn.prepare("SELECT $1::int4 AS a, $2::text[] AS b, now() AS c, '(1,2)'::point AS d")
      const params = yield* stmt.getParameters()
      expect(params.map((p) => [p.name, p.kind, p.schema])).toEqual([
        ["int4", "scalar", "pg_catalog"],
        ["_text", "array", "pg_catalog"]
      ])
      expect(params[0]!.oid).toBe(23)
      const attrs = yield* stmt.getAttributes()
      expect(attrs.map((a) => [a.name, a.type.name, a.type.kind])).toEqual([
        ["a", "int4", "scalar"],
        ["b", "_text", "array"],
        ["c", "timestamptz", "scalar"],
        ["d", "point", "scalar"]
      ])
    }))

  it.live("a syntax error fails at prepare time, with its position", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      // "FORM" parses as a column alias: the error is at "nowhere", character 15
      const err = yield* Effect.flip(conn.prepare("SELECT 1 FORM nowhere"))
      expect(err._tag).toBe("PostgresSyntaxError")
      expect((err as { position?: number }).position).toBe(15)
      expect(err.message).toContain("nowhere")
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("explain returns the JSON plan; analyze keeps none of the statement's effects", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_explain")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int4)`)
      const select = yield* conn.prepare(`SELECT * FROM ${table} WHERE id = $1`)
      const plan = (yield* select.explain([1])) as ReadonlyArray<{ Plan: { "Node Type": string } }>
      expect(plan[0]!.Plan["Node Type"]).toBe("Seq Scan")
      const insert = yield* conn.prepare(`INSERT INTO ${table} VALUES ($1)`)
      const analyzed = (yield* insert.explain([7], { analyze: true })) as ReadonlyArray<{ "Execution Time": number }>
      expect(typeof analyzed[0]!["Execution Time"]).toBe("number")
      expect(yield* conn.fetchval(`SELECT count(*)::int4 FROM ${table}`)).toBe(0)
      expect(conn.isInTransaction()).toBe(false)
      // inside a transaction: a savepoint, rolled back; the outer work stays
      yield* conn.transaction(
        Effect.gen(function* () {
          yield* conn.execute(`INSERT INTO ${table} VALUES (1)`)
          yield* insert.explain([2], { analyze: true })
          expect(conn.isInTransaction()).toBe(true)
        })
      )
      expect(yield* conn.fetch(`SELECT id FROM ${table}`).pipe(Effect.map((rs) => rs.map((r) => r.get(0))))).toEqual([1])
    }))

  it.live("cursor streams the statement's rows", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const stmt = yield* conn.prepare("SELECT g FROM generate_series(1, $1::int4) g")
      const rows = yield* Stream.runCollect(stmt.cursor([25], { prefetch: 7 }))
      expect(rows.map((r) => r.get(0))).toEqual(Array.from({ length: 25 }, (_, i) => i + 1))
      expect(conn.isInTransaction()).toBe(false)
      // the statement is still usable afterwards
      expect(yield* stmt.fetchval([3])).toBe(1)
    }))

  it.live("used after its connection closed: ConnectionDoesNotExistError; after close(): InterfaceError", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connectUnscoped({ dsn: TEST_DSN })
      const stmt = yield* conn.prepare("SELECT $1::int4 + 1")
      expect(yield* stmt.fetchval([1])).toBe(2)
      const other = yield* conn.prepare("SELECT 2")
      const name = other.getName()
      yield* other.close()
      expect(yield* conn.fetchval("SELECT count(*)::int4 FROM pg_prepared_statements WHERE name = $1", [name])).toBe(0)
      const closedErr = yield* Effect.flip(other.fetch())
      expect(closedErr._tag).toBe("InterfaceError")
      yield* conn.close()
      const err = yield* Effect.flip(stmt.fetch([1]))
      expect(err._tag).toBe("ConnectionDoesNotExistError")
      const err2 = yield* Effect.flip(Stream.runCollect(stmt.cursor([1])))
      expect(err2._tag).toBe("ConnectionDoesNotExistError")
    }))

  it.live("used through a released lease: InterfaceError", () =>
    Effect.gen(function* () {
      const base = (yield* connect()) as Connection.ConnectionImpl
      const lease: Connection.Lease = { released: false }
      const view = new Connection.ConnectionImpl(base.session, 0, lease)
      const stmt = yield* view.prepare("SELECT 1")
      expect(yield* stmt.fetchval()).toBe(1)
      lease.released = true
      const err = yield* Effect.flip(stmt.fetchval())
      expect(err._tag).toBe("InterfaceError")
      expect(err.message).toContain("released")
    }))

  it.live("wrong argument count is an InterfaceError; interruption cancels and the statement stays usable", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const stmt = yield* conn.prepare("SELECT pg_sleep($1::float8), 5")
      const err = yield* Effect.flip(stmt.fetch([]))
      expect(err._tag).toBe("InterfaceError")
      const timedOut = yield* Effect.flip(stmt.fetch([10], { timeout: 100 }))
      expect(timedOut._tag).toBe("CommandTimeoutError")
      expect(yield* stmt.fetchval([0], 1)).toBe(5)
    }))
})
