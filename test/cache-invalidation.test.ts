/**
 * asyncpg's tests/test_cache_invalidation.py, translated: the statement
 * cache after ALTER TABLE (silent re-prepare, or one InvalidCachedStatementError
 * inside a transaction), and the type cache after ALTER TYPE or DROP/CREATE TYPE
 * (at most one OutdatedSchemaCacheError, never a value decoded with a stale
 * codec, then correct results without reloadSchemaState), on a connection, a
 * prepared statement and a pool (one connection's discovery is every one's).
 * Also what asyncpg does not test: composite parameters of a changed type.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Connection from "../src/Connection.js"
import { PgPool } from "../src/Pool.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

/** A row as a plain object (composites decode to plain objects already). */
const plain = (row: unknown): unknown =>
  row === null ? null : Object.fromEntries((row as { entries(): Iterable<[string, unknown]> }).entries())

const fetchrow = (conn: Connection.Connection, sql: string, args: ReadonlyArray<unknown> = []) => Effect.map(conn.fetchrow(sql, args), plain)

/** A table (and a composite type, when `type` is given) of the test's own, dropped at the end. */
const schema = (
  conn: Connection.Connection,
  type: string | undefined,
  table: string | undefined
): Effect.Effect<{ readonly typ: string; readonly tab: string }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const typ = uniqueName("typ")
    const tab = uniqueName("tab")
    if (type !== undefined) {
      yield* conn.execute(`CREATE TYPE ${typ} AS ${type}`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP TYPE ${typ} CASCADE`)))
    }
    if (table !== undefined) {
      yield* conn.execute(`CREATE TABLE ${tab} ${table.replaceAll("$typ", typ)}`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP TABLE ${tab}`)))
    }
    return { typ, tab }
  })

/** Runs `body` in a transaction that is rolled back (asyncpg's `raise UserWarning`). */
const rolledBack = <A, E>(conn: Connection.Connection, body: Effect.Effect<A, E>) =>
  Effect.flip(Effect.scoped(Effect.andThen(conn.transaction(), Effect.andThen(body, Effect.fail("rollback" as const)))))

const ERRNUM = /unexpected number of attributes of composite type/
const ERRTYP = /unexpected data type of composite type/

describe("cache invalidation (asyncpg test_cache_invalidation)", () => {
  it.live("test_prepare_cache_invalidation_silent: ALTER TABLE changes a result type, the statement is prepared again", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { tab } = yield* schema(conn, undefined, "(a int, b int)")
      yield* conn.execute(`INSERT INTO ${tab} VALUES (1, 2)`)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: 2 })
      yield* conn.execute(`ALTER TABLE ${tab} ALTER COLUMN b SET DATA TYPE text`)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: "2" })
    }))

  it.live("test_prepare_cache_invalidation_in_transaction: InvalidCachedStatementError once, fine after the transaction", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { tab } = yield* schema(conn, undefined, "(a int, b int)")
      yield* conn.execute(`INSERT INTO ${tab} VALUES (1, 2)`)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: 2 })
      yield* conn.execute(`ALTER TABLE ${tab} ALTER COLUMN b SET DATA TYPE text`)
      const err = yield* Effect.flip(Effect.scoped(Effect.andThen(conn.transaction(), fetchrow(conn, `SELECT * FROM ${tab}`))))
      expect(err._tag).toBe("InvalidCachedStatementError")
      expect(err.message).toMatch(/cached plan must not change result type/)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: "2" })
    }))

  it.live("test_prepare_cache_invalidation_in_pool: one connection's re-prepare drops the plan on every connection", () =>
    Effect.gen(function* () {
      const admin = yield* connect()
      const { tab } = yield* schema(admin, undefined, "(a int, b int)")
      yield* admin.execute(`INSERT INTO ${tab} VALUES (1, 2)`)
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 2, maxSize: 2 })
      const con1 = yield* pool.acquire()
      const con2 = yield* pool.acquire()
      expect(yield* fetchrow(con1, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: 2 })
      expect(yield* fetchrow(con2, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: 2 })
      yield* admin.execute(`ALTER TABLE ${tab} ALTER COLUMN b SET DATA TYPE text`)
      expect(yield* fetchrow(con1, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: "2" })
      // con1 dropped the plan of the whole pool: con2 prepares afresh, even inside a transaction
      const inTx = yield* Effect.scoped(Effect.andThen(con2.transaction(), fetchrow(con2, `SELECT * FROM ${tab}`)))
      expect(inTx).toEqual({ a: 1, b: "2" })
    }))

  it.live("test_type_cache_invalidation_in_transaction: ALTER TYPE ADD ATTRIBUTE, one OutdatedSchemaCacheError, then the new shape", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { tab, typ } = yield* schema(conn, "(x int, y int)", "(a int, b $typ)")
      yield* conn.execute(`INSERT INTO ${tab} VALUES (1, (2, 3))`)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3 } })
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* conn.transaction()
          yield* conn.execute(`ALTER TYPE ${typ} ADD ATTRIBUTE c text`)
          const err = yield* Effect.flip(fetchrow(conn, `SELECT * FROM ${tab}`))
          expect(err._tag).toBe("OutdatedSchemaCacheError")
          expect(err.message).toMatch(ERRNUM)
          expect(err._tag === "OutdatedSchemaCacheError" && err.dataTypeName).toBe(typ)
          expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3, c: null } })
        })
      )
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3, c: null } })
    }))

  it.live("test_type_cache_invalidation_in_cancelled_transaction: the rollback restores the old shape, found once", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { tab, typ } = yield* schema(conn, "(x int, y int)", "(a int, b $typ)")
      yield* conn.execute(`INSERT INTO ${tab} VALUES (1, (2, 3))`)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3 } })
      yield* rolledBack(
        conn,
        Effect.gen(function* () {
          yield* conn.execute(`ALTER TYPE ${typ} ADD ATTRIBUTE c text`)
          expect((yield* Effect.flip(fetchrow(conn, `SELECT * FROM ${tab}`))).message).toMatch(ERRNUM)
          expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3, c: null } })
        })
      )
      const err = yield* Effect.flip(fetchrow(conn, `SELECT * FROM ${tab}`))
      expect(err._tag).toBe("OutdatedSchemaCacheError")
      expect(err.message).toMatch(ERRNUM)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3 } })
    }))

  it.live("test_prepared_type_cache_invalidation: a prepared statement fails once and rebuilds its codecs (asyncpg closes it)", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { tab, typ } = yield* schema(conn, "(x int, y int)", "(a int, b $typ)")
      yield* conn.execute(`INSERT INTO ${tab} VALUES (1, (2, 3))`)
      const prep = yield* conn.prepare(`SELECT * FROM ${tab}`)
      expect(plain(yield* prep.fetchrow())).toEqual({ a: 1, b: { x: 2, y: 3 } })
      yield* rolledBack(
        conn,
        Effect.gen(function* () {
          yield* conn.execute(`ALTER TYPE ${typ} ADD ATTRIBUTE c text`)
          const err = yield* Effect.flip(prep.fetchrow())
          expect(err._tag).toBe("OutdatedSchemaCacheError")
          expect(err.message).toMatch(ERRNUM)
          expect(plain(yield* prep.fetchrow())).toEqual({ a: 1, b: { x: 2, y: 3, c: null } })
          const prep2 = yield* conn.prepare(`SELECT * FROM ${tab}`)
          expect(plain(yield* prep2.fetchrow())).toEqual({ a: 1, b: { x: 2, y: 3, c: null } })
        })
      )
      expect((yield* Effect.flip(prep.fetchrow())).message).toMatch(ERRNUM)
      expect(plain(yield* prep.fetchrow())).toEqual({ a: 1, b: { x: 2, y: 3 } })
      const prep3 = yield* conn.prepare(`SELECT * FROM ${tab}`)
      expect(plain(yield* prep3.fetchrow())).toEqual({ a: 1, b: { x: 2, y: 3 } })
    }))

  it.live("test_type_cache_invalidation_on_drop_type_attr: never the old codec on the new shape", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { tab, typ } = yield* schema(conn, "(x int, y int, c text)", "(a int, b $typ)")
      yield* conn.execute(`INSERT INTO ${tab} VALUES (1, (2, 3, $1))`, ["x"])
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3, c: "x" } })
      yield* conn.execute(`ALTER TYPE ${typ} DROP ATTRIBUTE x`)
      const err = yield* Effect.flip(fetchrow(conn, `SELECT * FROM ${tab}`))
      expect(err._tag).toBe("OutdatedSchemaCacheError")
      expect(err.message).toMatch(ERRNUM)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { y: 3, c: "x" } })
    }))

  it.live("test_type_cache_invalidation_on_change_attr: an attribute of another type is found by its OID", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { tab, typ } = yield* schema(conn, "(x int, y int)", "(a int, b $typ)")
      yield* conn.execute(`INSERT INTO ${tab} VALUES (1, (2, 3))`)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3 } })
      yield* conn.execute(`ALTER TYPE ${typ} DROP ATTRIBUTE y`)
      yield* conn.execute(`ALTER TYPE ${typ} ADD ATTRIBUTE y bigint`)
      const err = yield* Effect.flip(fetchrow(conn, `SELECT * FROM ${tab}`))
      expect(err._tag).toBe("OutdatedSchemaCacheError")
      expect(err.message).toMatch(ERRTYP)
      expect(yield* fetchrow(conn, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: null } })
    }))

  it.live("test_type_cache_invalidation_in_pool: one connection's error drops the types of every connection, not another pool's", () =>
    Effect.gen(function* () {
      const admin = yield* connect()
      const { tab, typ } = yield* schema(admin, "(x int, y int)", "(a int, b $typ)")
      yield* admin.execute(`INSERT INTO ${tab} VALUES (1, (2, 3))`)
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 2, maxSize: 2 })
      const other = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 1 })
      const con1 = yield* pool.acquire()
      const con2 = yield* pool.acquire()
      const chk = yield* other.acquire()
      for (const c of [con1, con2, chk]) expect(yield* fetchrow(c, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3 } })
      yield* admin.execute(`ALTER TYPE ${typ} ADD ATTRIBUTE c text`)
      expect((yield* Effect.flip(fetchrow(con1, `SELECT * FROM ${tab}`))).message).toMatch(ERRNUM)
      // con1 invalidated the caches of its pool: con2 introspects afresh, inside a transaction too
      const inTx = yield* Effect.scoped(Effect.andThen(con2.transaction(), fetchrow(con2, `SELECT * FROM ${tab}`)))
      expect(inTx).toEqual({ a: 1, b: { x: 2, y: 3, c: null } })
      expect(yield* fetchrow(con1, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3, c: null } })
      // another pool keeps its own cache: it finds the change itself, once
      const err = yield* Effect.flip(fetchrow(chk, `SELECT * FROM ${tab}`))
      expect(err._tag).toBe("OutdatedSchemaCacheError")
      expect(yield* fetchrow(chk, `SELECT * FROM ${tab}`)).toEqual({ a: 1, b: { x: 2, y: 3, c: null } })
    }))

  for (const [label, opts] of [["cached statements", {}], ["statementCacheSize: 0", { statementCacheSize: 0 }]] as const) {
    it.live(`a composite parameter of a type that gained an attribute works at once, in and out of a transaction (${label})`, () =>
      Effect.gen(function* () {
        const conn = yield* connect(opts)
        const { typ } = yield* schema(conn, "(x int, y int)", undefined)
        const sql = `SELECT $1::${typ} AS v`
        expect(yield* fetchrow(conn, sql, [{ x: 1, y: 2 }])).toEqual({ v: { x: 1, y: 2 } })
        yield* conn.execute(`ALTER TYPE ${typ} ADD ATTRIBUTE c text`)
        // the old codec would send 2 attributes (the server refuses: 42804) or refuse "c" itself
        expect(yield* fetchrow(conn, sql, [{ x: 1, y: 2 }])).toEqual({ v: { x: 1, y: 2, c: null } })
        expect(yield* fetchrow(conn, sql, [[1, 2, "z"]])).toEqual({ v: { x: 1, y: 2, c: "z" } })
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* conn.transaction()
            yield* conn.execute(`ALTER TYPE ${typ} ALTER ATTRIBUTE y TYPE text`)
            expect(yield* fetchrow(conn, sql, [{ x: 1, y: "q" }])).toEqual({ v: { x: 1, y: "q", c: null } })
          })
        )
        expect(yield* fetchrow(conn, sql, [{ x: 1, y: "q", c: "z" }])).toEqual({ v: { x: 1, y: "q", c: "z" } })
      }))
  }

  it.live("a composite type dropped and created again (new OID, same name): parameters and results work at once", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { typ } = yield* schema(conn, "(x int, y int)", undefined)
      const param = `SELECT $1::${typ} AS v`
      const result = `SELECT ROW('a', 'b', 3)::${typ} AS v`
      expect(yield* fetchrow(conn, param, [{ x: 1, y: 2 }])).toEqual({ v: { x: 1, y: 2 } })
      yield* conn.execute(`DROP TYPE ${typ}`)
      yield* conn.execute(`CREATE TYPE ${typ} AS (x int, y int)`)
      // the cached statement names the old OID: the server fails "cache lookup failed for type" (XX000)
      expect(yield* fetchrow(conn, param, [{ x: 1, y: 2 }])).toEqual({ v: { x: 1, y: 2 } })
      yield* conn.execute(`DROP TYPE ${typ}`)
      yield* conn.execute(`CREATE TYPE ${typ} AS (x text, y text, z int)`)
      expect(yield* fetchrow(conn, param, [{ x: "a", y: "b", z: 3 }])).toEqual({ v: { x: "a", y: "b", z: 3 } })
      expect(yield* fetchrow(conn, result)).toEqual({ v: { x: "a", y: "b", z: 3 } })
    }))

  for (const [label, opts, tag] of [
    // the server's own plan holds the row constant: it fails (22P07) until the statement is prepared again
    ["cached statements", {}, "DatumVersionMismatchError"],
    ["statementCacheSize: 0", { statementCacheSize: 0 }, "OutdatedSchemaCacheError"]
  ] as const) {
    it.live(`ALTER ATTRIBUTE TYPE on a composite result: one typed error, then the new type; a user bug stays a DataError (${label})`, () =>
      Effect.gen(function* () {
        const conn = yield* connect(opts)
        const { typ } = yield* schema(conn, "(x int, y int)", undefined)
        const sql = `SELECT ROW(1, '7')::${typ} AS v`
        expect(yield* fetchrow(conn, sql)).toEqual({ v: { x: 1, y: 7 } })
        yield* conn.execute(`ALTER TYPE ${typ} ALTER ATTRIBUTE y TYPE text`)
        const err = yield* Effect.flip(fetchrow(conn, sql))
        expect(err._tag).toBe(tag)
        if (err._tag === "OutdatedSchemaCacheError") expect(err.message).toMatch(ERRTYP)
        expect(yield* fetchrow(conn, sql)).toEqual({ v: { x: 1, y: "7" } })
        expect(yield* fetchrow(conn, sql)).toEqual({ v: { x: 1, y: "7" } })
        // a key that is no attribute of the current type is the caller's mistake: DataError, every time
        for (let i = 0; i < 2; i++) {
          const bad = yield* Effect.flip(fetchrow(conn, `SELECT $1::${typ} AS v`, [{ x: 1, nope: 2 }]))
          expect(bad._tag).toBe("DataError")
        }
      }))
  }
})
