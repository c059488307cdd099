import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Connection from "../src/Connection.js"
import { TEST_DSN } from "./support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

/** Portals and cursors open on the connection (the unnamed portal running this very query excluded). */
const openCursors = (conn: Connection.Connection) => conn.fetchval("SELECT count(*)::int4 FROM pg_cursors WHERE name <> ''")

describe("cursor (stream)", () => {
  it.live("streams every row, prefetch rows per round trip, in a transaction of its own", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const statuses: Array<string | undefined> = []
      conn.addQueryLogger((q) => statuses.push(q.status))
      let inTransaction = false
      const rows = yield* conn.cursor("SELECT g FROM generate_series(1, $1::int4) g", [120], { prefetch: 50 }).pipe(
        Stream.tap(() => Effect.sync(() => (inTransaction = conn.isInTransaction()))),
        Stream.runCollect
      )
      expect(rows.map((r) => r.get("g"))).toEqual(Array.from({ length: 120 }, (_, i) => i + 1))
      expect(inTransaction).toBe(true)
      expect(conn.isInTransaction()).toBe(false)
      // BEGIN, three Executes (50 + 50 suspended, then the last 20), COMMIT
      expect(statuses).toEqual(["BEGIN", "", "", "SELECT 20", "COMMIT"])
      expect(yield* openCursors(conn)).toBe(0)
    }))

  it.live("an empty result is an empty stream", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      expect(yield* Stream.runCollect(conn.cursor("SELECT 1 WHERE false"))).toEqual([])
      expect(conn.isInTransaction()).toBe(false)
    }))

  it.live("stopped early inside your transaction: the portal is closed, the transaction goes on", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* conn.transaction()
          const first = yield* conn.cursor("SELECT g FROM generate_series(1, 100000) g", [], { prefetch: 10 }).pipe(
            Stream.take(15),
            Stream.runCollect
          )
          expect(first.length).toBe(15)
          expect(conn.isInTransaction()).toBe(true)
          expect(yield* openCursors(conn)).toBe(0)
        })
      )
      expect(conn.isInTransaction()).toBe(false)
      // outside a transaction, stopped early
      const some = yield* conn.cursor("SELECT g FROM generate_series(1, 100000) g").pipe(Stream.take(3), Stream.runCollect)
      expect(some.map((r) => r.get(0))).toEqual([1, 2, 3])
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* openCursors(conn)).toBe(0)
    }))

  it.live("a failing row fails the stream with the server's error and rolls its transaction back", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const err = yield* Effect.flip(
        Stream.runCollect(conn.cursor("SELECT 10 / (60 - g) FROM generate_series(1, 100) g", [], { prefetch: 20 }))
      )
      expect(err._tag).toBe("DivisionByZeroError")
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
      const bad = yield* Effect.flip(Stream.runCollect(conn.cursor("SELECT 1", [], { prefetch: 0 })))
      expect(bad._tag).toBe("InterfaceError")
    }))

  it.live("read to the end: a COMMIT of its transaction that fails is the stream's typed error", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* conn.execute("CREATE TEMP TABLE deferred_u (id int, CONSTRAINT deferred_uk UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)")
      // the consumer's inserts run in the cursor's transaction; the duplicate is only found at COMMIT
      const err = yield* Effect.flip(
        conn.cursor("SELECT generate_series(1, 4)", [], { prefetch: 2 }).pipe(
          Stream.runForEach(() => conn.execute("INSERT INTO deferred_u VALUES (1)"))
        )
      )
      expect(err._tag).toBe("UniqueViolationError")
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* conn.fetchval("SELECT count(*)::int4 FROM deferred_u")).toBe(0)
    }))

  it.live("an interrupted consumer leaves the connection usable and out of the transaction", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const fiber = yield* Effect.forkChild(
        Stream.runDrain(conn.cursor("SELECT g, pg_sleep(0.01) FROM generate_series(1, 100000) g", [], { prefetch: 5 }))
      )
      yield* Effect.sleep("150 millis")
      yield* Fiber.interrupt(fiber)
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* conn.fetchval("SELECT 42")).toBe(42)
      expect(yield* openCursors(conn)).toBe(0)
    }))

  it.live("a prefetch beyond 2^31 - 1 is an InterfaceError before anything is sent; the connection stays usable", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const sent: Array<string> = []
      conn.addQueryLogger((q) => sent.push(q.sql))
      for (const prefetch of [2 ** 31, 2 ** 32, 1e20, 1.5, Number.NaN]) {
        const err = yield* Effect.flip(Stream.runCollect(conn.cursor("SELECT generate_series(1, 3)", [], { prefetch })))
        expect(err._tag).toBe("InterfaceError")
        expect(err.message).toContain("cursor prefetch")
      }
      expect(sent).toEqual([])
      expect(conn.isInTransaction()).toBe(false)
      // a prepared statement's cursor, inside a transaction of yours: the transaction goes on
      yield* conn.transaction(
        Effect.gen(function* () {
          const st = yield* conn.prepare("SELECT generate_series(1, 3)")
          const err = yield* Effect.flip(Stream.runCollect(st.cursor([], { prefetch: 2 ** 31 })))
          expect(err._tag).toBe("InterfaceError")
          expect((yield* Stream.runCollect(st.cursor([], { prefetch: 2 ** 31 - 1 }))).length).toBe(3)
        })
      )
      expect((yield* Stream.runCollect(conn.cursor("SELECT generate_series(1, 3)", [], { prefetch: 2 ** 31 - 1 }))).length).toBe(3)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("1,000,000 rows stream with RSS growth under 100 MB", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      // with --expose-gc (vitest.config.ts): sample RSS after a collection, so the check
      // sees what the stream keeps alive rather than garbage not yet collected
      const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
      gc()
      const before = process.memoryUsage().rss
      let peak = before
      let count = 0
      let sum = 0
      yield* conn.cursor("SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 1000000) g", [], { prefetch: 200 }).pipe(
        Stream.runForEach((row) =>
          Effect.sync(() => {
            count++
            sum += (row.get(1) as string).length
            if (count % 100000 === 0) {
              gc()
              peak = Math.max(peak, process.memoryUsage().rss)
            }
          })
        )
      )
      expect(count).toBe(1_000_000)
      expect(sum).toBe(100_000_000)
      expect(peak - before).toBeLessThan(100 * 1024 * 1024)
    }), 60_000)
})

describe("cursorManual (scrollable)", () => {
  it.live("fetch, fetchrow, forward, backward; closed with its scope", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const cursor = yield* conn.cursorManual("SELECT g, g::text AS t FROM generate_series(1, $1::int4) g", [20])
          expect(conn.isInTransaction()).toBe(true)
          expect((yield* cursor.fetch(3)).map((r) => r.get("g"))).toEqual([1, 2, 3])
          expect((yield* cursor.fetchrow())?.get("t")).toBe("4")
          expect(yield* cursor.forward(5)).toBe(5)
          expect((yield* cursor.fetchrow())?.get("g")).toBe(10)
          expect(yield* cursor.backward(3)).toBe(3)
          expect((yield* cursor.fetch(2)).map((r) => r.get("g"))).toEqual([8, 9])
          expect(yield* cursor.forward(100)).toBe(11)
          expect(yield* cursor.fetchrow()).toBe(null)
          expect(yield* cursor.fetch(5)).toEqual([])
          expect(yield* openCursors(conn)).toBe(1)
          const bad = yield* Effect.flip(cursor.fetch(0))
          expect(bad._tag).toBe("InterfaceError")
        })
      )
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* openCursors(conn)).toBe(0)
    }))

  it.live("fetch, forward and backward beyond 2^31 - 1 are InterfaceErrors; the cursor and its transaction go on", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const cursor = yield* conn.cursorManual("SELECT g FROM generate_series(1, 10) g")
          const errors = [
            yield* Effect.flip(cursor.fetch(2 ** 40)),
            yield* Effect.flip(cursor.forward(1e21)),
            yield* Effect.flip(cursor.backward(2 ** 31)),
            yield* Effect.flip(cursor.fetch(2.5))
          ]
          expect(errors.map((e) => e._tag)).toEqual(["InterfaceError", "InterfaceError", "InterfaceError", "InterfaceError"])
          // nothing reached the server: the cursor's transaction is not aborted
          expect((yield* cursor.fetch(2)).map((r) => r.get("g"))).toEqual([1, 2])
          expect(yield* cursor.forward(2 ** 31 - 1)).toBe(8)
          expect(yield* cursor.backward(2 ** 31 - 1)).toBe(10)
        })
      )
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("inside your transaction the cursor is closed with its scope and the transaction stays", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* conn.transaction(
        Effect.gen(function* () {
          const cursor = yield* Effect.scoped(
            Effect.gen(function* () {
              const c = yield* conn.cursorManual("SELECT 1 AS one")
              expect(yield* openCursors(conn)).toBe(1)
              return c
            })
          )
          expect(yield* openCursors(conn)).toBe(0)
          expect(conn.isInTransaction()).toBe(true)
          const err = yield* Effect.flip(cursor.fetchrow())
          expect(err._tag).toBe("InterfaceError")
        })
      )
    }))
})
