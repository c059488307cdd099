/**
 * Rows your way (issue 17): a per-call `recordClass` (asyncpg's
 * `record_class`) on the pool, connections, prepared statements and cursors,
 * overriding the pool's and the connection's; and Schema-typed rows
 * (`{ schema }`) decoded with effect/Schema, a mismatch failing with a
 * typed RowDecodeError naming the row and the column.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Connection from "../src/Connection.js"
import * as Errors from "../src/Errors.js"
import * as PgPool from "../src/Pool.js"
import * as PgRecord from "../src/Record.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

/** A row class of the pool: plain objects tagged "pool". */
const PoolRow = (shape: PgRecord.RecordShape, values: Array<unknown>) => ({ kind: "pool" as const, names: shape.names, values })

/** A per-call row class: the values as a tuple tagged "call". */
class CallRow {
  readonly kind = "call" as const
  constructor(readonly id: unknown, readonly label: unknown) {}
}
const callRow = (_shape: PgRecord.RecordShape, values: Array<unknown>) => new CallRow(values[0], values[1])

const SQL = "SELECT g AS id, 'n' || g AS label FROM generate_series(1, $1::int4) g"

const User = Schema.Struct({
  id: Schema.BigInt,
  name: Schema.String,
  created: Schema.Date,
  profile: Schema.Struct({ age: Schema.Number, tags: Schema.Array(Schema.String) }),
  balance: Schema.NumberFromString
})

const USERS_SQL = `SELECT id, name, created, profile, balance FROM (VALUES
  (1::int8, 'ada', '2024-01-02T03:04:05Z'::timestamptz, '{"age": 36, "tags": ["math"]}'::jsonb, 12.5::numeric),
  (9007199254740993::int8, 'bob', '2025-06-07T08:09:10Z'::timestamptz, '{"age": 41, "tags": []}'::jsonb, 0.25::numeric)
) AS t(id, name, created, profile, balance) ORDER BY id`

describe("per-call recordClass", () => {
  it.live("on the pool: overrides the pool's recordClass for one call; the next call gets the pool's again", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 2, recordClass: PoolRow })
      const own = yield* pool.fetch(SQL, [2], { recordClass: callRow })
      expect(own).toEqual([new CallRow(1, "n1"), new CallRow(2, "n2")])
      // the result type follows the class
      const first: CallRow = own[0]!
      expect(first.kind).toBe("call")
      const row = yield* pool.fetchrow(SQL, [1], { recordClass: callRow })
      expect(row).toEqual(new CallRow(1, "n1"))
      const many = yield* pool.fetchmany(SQL, [[1], [2]], { recordClass: callRow })
      expect(many.map((rows) => rows.length)).toEqual([1, 2])
      expect(many[1]![1]).toEqual(new CallRow(2, "n2"))
      // the pool's own class comes back
      // (typed by the pool's recordClass: PgPool.make follows it)
      const back: ReadonlyArray<ReturnType<typeof PoolRow>> = yield* pool.fetch(SQL, [1])
      expect(back).toEqual([{ kind: "pool", names: ["id", "label"], values: [1, "n1"] }])
      // fetchval reads the value whatever the row class
      expect(yield* pool.fetchval(SQL, [1], { column: "label" })).toBe("n1")
    }))

  it.live("on a connection: overrides the connection's recordClass, per call, also for prepare and cursors", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN, recordClass: PoolRow })
      // the connection's class types its rows
      const plain = yield* conn.fetch(SQL, [1])
      expect(plain[0]!.kind).toBe("pool")
      expect((yield* conn.fetch(SQL, [2], { recordClass: callRow }))[1]).toEqual(new CallRow(2, "n2"))
      expect((yield* conn.fetchrow(SQL, [1]))!.kind).toBe("pool")
      const stmt = yield* conn.prepare(SQL, { recordClass: callRow })
      expect(yield* stmt.fetch([2])).toEqual([new CallRow(1, "n1"), new CallRow(2, "n2")])
      // a call on the statement may ask for other rows again
      expect((yield* stmt.fetchrow([1], { recordClass: PoolRow }))!.kind).toBe("pool")
      const streamed = yield* Stream.runCollect(conn.cursor(SQL, [3], { prefetch: 2, recordClass: callRow }))
      expect(streamed.map((r) => r.id)).toEqual([1, 2, 3])
      const fromStmt = yield* Stream.runCollect(stmt.cursor([2], { prefetch: 1 }))
      expect(fromStmt.map((r) => r.kind)).toEqual(["call", "call"])
      yield* Effect.scoped(
        Effect.gen(function* () {
          const cur = yield* conn.cursorManual(SQL, [3], { recordClass: callRow })
          expect(yield* cur.fetch(2)).toEqual([new CallRow(1, "n1"), new CallRow(2, "n2")])
          expect(yield* cur.fetchrow()).toEqual(new CallRow(3, "n3"))
        })
      )
      // the connection's class again, and library lookups (type introspection) unaffected by it
      expect((yield* conn.fetchrow(SQL, [1]))!.kind).toBe("pool")
      const enumName = uniqueName("mood")
      yield* conn.execute(`CREATE TYPE ${enumName} AS ENUM ('ok', 'meh')`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP TYPE IF EXISTS ${enumName}`)))
      expect(yield* conn.fetchval(`SELECT 'meh'::${enumName}`)).toBe("meh")
    }))

  it.live("a recordClass that throws fails the call with a DataError naming the row; the connection stays usable", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN })
      const boom = (_: PgRecord.RecordShape, values: Array<unknown>) => {
        if (values[0] === 2) throw new Error("no twos")
        return values
      }
      const err = yield* Effect.flip(conn.fetch(SQL, [3], { recordClass: boom }))
      expect(err._tag).toBe("DataError")
      expect((err as Errors.DataError).row).toBe(1)
      expect(err.message).toContain("no twos")
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("both recordClass and schema, or a recordClass that is no function: InterfaceError before anything runs", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN })
      const both = yield* Effect.flip(conn.fetch(SQL, [1], { recordClass: callRow, schema: User }))
      expect(both._tag).toBe("InterfaceError")
      const bad = yield* Effect.flip(conn.fetch(SQL, [1], { recordClass: 42 as unknown as typeof callRow }))
      expect(bad._tag).toBe("InterfaceError")
      const badConnect = yield* Effect.flip(Connection.connect({ dsn: TEST_DSN, recordClass: "x" as unknown as typeof callRow }))
      expect(badConnect._tag).toBe("InterfaceError")
    }))
})

describe("Schema-typed rows", () => {
  it.live("a schema-typed fetch on the pool returns decoded values: bigints, dates, nested JSON, a transformation", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 2 })
      const users = yield* pool.fetch(USERS_SQL, [], { schema: User })
      // typed: ReadonlyArray<Schema.Schema.Type<typeof User>>
      const ids: Array<bigint> = users.map((u) => u.id)
      expect(ids).toEqual([1n, 9007199254740993n])
      expect(users[0]!.created).toBeInstanceOf(Date)
      expect(users[0]!.created.toISOString()).toBe("2024-01-02T03:04:05.000Z")
      expect(users[0]!.profile).toEqual({ age: 36, tags: ["math"] })
      // numeric arrives as a string; the Schema turns it into a number
      expect(users.map((u) => u.balance)).toEqual([12.5, 0.25])
      const one = yield* pool.fetchrow(USERS_SQL, [], { schema: User })
      expect(one?.name).toBe("ada")
      const many = yield* pool.fetchmany("SELECT $1::int8 AS id", [[1], [2]], { schema: Schema.Struct({ id: Schema.BigInt }) })
      expect(many).toEqual([[{ id: 1n }], [{ id: 2n }]])
      const n: number | null = yield* pool.fetchval("SELECT '42'::text", [], { schema: Schema.NumberFromString })
      expect(n).toBe(42)
      // the pool connection is fine afterwards, and Records come back without a schema
      expect((yield* pool.fetchrow("SELECT 1 AS x"))!.get("x")).toBe(1)
    }))

  it.live("a row that does not match fails with RowDecodeError naming the row and the column", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 1 })
      const Row = Schema.Struct({ id: Schema.Number, label: Schema.String })
      // row 2 has a NULL label
      const sql = "SELECT g AS id, CASE WHEN g = 3 THEN NULL ELSE 'x' END AS label FROM generate_series(1, 4) g"
      const err = yield* Effect.flip(pool.fetch(sql, [], { schema: Row }))
      expect(err._tag).toBe("RowDecodeError")
      const e = err as Errors.RowDecodeError
      expect(e.row).toBe(2)
      expect(e.column).toBe("label")
      expect(e.message).toContain('row 2, column "label"')
      expect(e.issue.length).toBeGreaterThan(0)
      // catchTag-able
      const caught = yield* pool.fetch(sql, [], { schema: Row }).pipe(Effect.catchTag("RowDecodeError", (x) => Effect.succeed(x.row)))
      expect(caught).toBe(2)
      // fetchrow checks the row it returns, not the rows it drops
      expect(yield* pool.fetchrow(sql, [], { schema: Row })).toEqual({ id: 1, label: "x" })
      // a missing column names it too
      const missing = yield* Effect.flip(pool.fetch("SELECT 1 AS id", [], { schema: Row }))
      expect(missing._tag === "RowDecodeError" && missing.column).toBe("label")
      // fetchval: the value's column
      const val = yield* Effect.flip(pool.fetchval("SELECT 'x'::text AS word", [], { column: "word", schema: Schema.Number }))
      expect(val._tag === "RowDecodeError" && [val.row, val.column]).toEqual([0, "word"])
      // the connection is still usable
      expect(yield* pool.fetchval("SELECT 7")).toBe(7)
    }))

  it.live("through a cursor stream: rows decoded batch by batch; a bad row ends the stream with its index in the stream", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN })
      const Row = Schema.Struct({ g: Schema.Number })
      const ok = yield* Stream.runCollect(conn.cursor("SELECT g FROM generate_series(1, 7) g", [], { prefetch: 3, schema: Row }))
      const gs: Array<number> = ok.map((r) => r.g)
      expect(gs).toEqual([1, 2, 3, 4, 5, 6, 7])
      const sql = "SELECT CASE WHEN g = 6 THEN NULL ELSE g END AS g FROM generate_series(1, 7) g"
      const seen: Array<number> = []
      const err = yield* Effect.flip(
        Stream.runForEach(conn.cursor(sql, [], { prefetch: 2, schema: Row }), (r) => Effect.sync(() => seen.push(r.g)))
      )
      expect(err._tag).toBe("RowDecodeError")
      expect(err._tag === "RowDecodeError" && [err.row, err.column]).toEqual([5, "g"])
      // the batches before the bad one were delivered
      expect(seen).toEqual([1, 2, 3, 4])
      expect(conn.isInTransaction()).toBe(false)
      // a prepared statement with a schema streams typed rows too
      const stmt = yield* conn.prepare("SELECT g FROM generate_series(1, $1::int4) g", { schema: Row })
      expect(yield* Stream.runCollect(stmt.cursor([3], { prefetch: 2 }))).toEqual([{ g: 1 }, { g: 2 }, { g: 3 }])
      expect(yield* stmt.fetch([2])).toEqual([{ g: 1 }, { g: 2 }])
    }))

  it.live("duplicate column names keep the last value, as row.get(name) does (asyncpg, pg); a __proto__ column is a plain key", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN })
      const sql = 'SELECT 1 AS a, 2 AS b, 3 AS a, 4 AS "__proto__"'
      const row = yield* conn.fetchrow(sql, [], {
        schema: Schema.Struct({ a: Schema.Number, b: Schema.Number, ["__proto__"]: Schema.Number })
      })
      expect(row?.a).toBe(3)
      expect(Object.getOwnPropertyDescriptor(row, "__proto__")?.value).toBe(4)
      const record = (yield* conn.fetchrow(sql))!
      expect(record.get("a")).toBe(3)
      expect(record.a).toBe(3)
      expect([...record.keys()]).toEqual(["a", "b", "a", "__proto__"])
      // toJSON: the columns in order, the last of a duplicate name, __proto__ as a key
      const json = record.toJSON()
      expect(Object.keys(json)).toEqual(["a", "b", "__proto__"])
      expect(JSON.stringify(json)).toBe('{"a":3,"b":2,"__proto__":4}')
      expect(Object.getPrototypeOf(json)).toBe(Object.prototype)
    }))

  it.live("a result with no columns gives empty Records, as asyncpg's", () =>
    Effect.gen(function* () {
      for (const prepare of [true, false]) {
        const conn = yield* Connection.connect({ dsn: TEST_DSN, prepare })
        const rows = yield* conn.fetch("SELECT FROM generate_series(1, 2)")
        expect(rows.length).toBe(2)
        expect(rows.every(PgRecord.isRecord)).toBe(true)
        expect(rows[0]!.length).toBe(0)
        expect(rows[0]!.toJSON()).toEqual({})
        const one = yield* conn.fetchrow("SELECT")
        expect(one !== undefined && PgRecord.isRecord(one) && one.length).toBe(0)
      }
    }))

  it.live("with prepare: false (the unnamed statement) rows are decoded the same way", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect({ dsn: TEST_DSN, prepare: false })
      const users = yield* conn.fetch(USERS_SQL, [], { schema: User })
      expect(users.map((u) => u.name)).toEqual(["ada", "bob"])
      const err = yield* Effect.flip(conn.fetch("SELECT 'x' AS id", [], { schema: Schema.Struct({ id: Schema.Number }) }))
      expect(err._tag === "RowDecodeError" && [err.row, err.column]).toEqual([0, "id"])
    }))
})

describe("types", () => {
  it("a row type parameter that nothing checks is refused by the compiler", () => {
    const typeOnly = (conn: Connection.Connection, pool: PgPool.PgPoolShape) => {
      // @ts-expect-error: fetch<R> no longer casts rows to a type nobody checked
      conn.fetch<{ n: number }>("SELECT 1 AS n")
      // @ts-expect-error: neither on the pool
      pool.fetchrow<{ n: number }>("SELECT 1 AS n")
      // options typed only as FetchOptions may carry a schema: the rows are unknown, not Records
      const loose = (o: Connection.FetchOptions) => conn.fetch("SELECT 1", [], o)
      const rows: Effect.Effect<ReadonlyArray<unknown>, unknown> = loose({})
      // @ts-expect-error: unknown rows have no get()
      void Effect.map(loose({}), (r) => r[0]!.get(0))
      return rows
    }
    expect(typeof typeOnly).toBe("function")
  })
})
