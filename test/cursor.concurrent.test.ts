import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Connection from "../src/Connection.js"
import type * as PgRecord from "../src/Record.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

/** Portals and cursors open on the connection (the unnamed portal running this very query excluded). */
const openCursors = (conn: Connection.Connection) => conn.fetchval("SELECT count(*)::int4 FROM pg_cursors WHERE name <> ''")

/** The transaction statements (BEGIN, COMMIT, ROLLBACK, ...) the connection ran, and the server's warnings. */
const watch = (conn: Connection.Connection) => {
  const statements: Array<string> = []
  const warnings: Array<string> = []
  conn.addQueryLogger((q) => {
    if (/^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)/.test(q.sql)) statements.push(q.sql)
  })
  conn.addLogListener((notice) => warnings.push(notice.message))
  return { statements, warnings }
}

/** The connection is out of any transaction, has no cursor left, and a transaction of the caller's is a real one. */
const expectClean = (conn: Connection.Connection) =>
  Effect.gen(function* () {
    expect(conn.isInTransaction()).toBe(false)
    expect(yield* openCursors(conn)).toBe(0)
    const table = uniqueName("cc")
    const rolledBack = yield* Effect.flip(
      conn.transaction(Effect.andThen(conn.execute(`CREATE TEMP TABLE ${table} (a int)`), Effect.fail("undo" as const)))
    )
    expect(rolledBack).toBe("undo")
    const gone = yield* Effect.flip(conn.execute(`SELECT * FROM ${table}`))
    expect(gone._tag).toBe("UndefinedTableError")
    const cursor = yield* Effect.scoped(Effect.flatMap(conn.cursorManual("SELECT generate_series(1, 5)"), (c) => c.fetch(5)))
    expect(cursor.length).toBe(5)
  })

const values = (rows: ReadonlyArray<PgRecord.Record>) => rows.map((r) => r.get(0))

describe("cursors open at once outside a transaction", () => {
  it.live("two merged streams of different lengths share one transaction: one BEGIN, one COMMIT", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { statements, warnings } = watch(conn)
      const rows = yield* Stream.runCollect(
        Stream.merge(
          conn.cursor("SELECT generate_series(1, 2)", [], { prefetch: 1 }),
          conn.cursor("SELECT g, pg_sleep(0.005) FROM generate_series(101, 120) g", [], { prefetch: 2 })
        )
      )
      expect(values(rows).sort((a, b) => Number(a) - Number(b))).toEqual([1, 2, ...Array.from({ length: 20 }, (_, i) => 101 + i)])
      expect(statements).toEqual(["BEGIN", "COMMIT"])
      expect(warnings).toEqual([])
      yield* expectClean(conn)
    }))

  it.live("a stream read while a cursorManual is open joins its transaction; the scope's end commits", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { statements } = watch(conn)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const cursor = yield* conn.cursorManual("SELECT generate_series(1, 100)")
          const streamed = yield* Stream.runCollect(conn.cursor("SELECT generate_series(1, 3)", [], { prefetch: 1 }))
          expect(streamed.length).toBe(3)
          expect(conn.isInTransaction()).toBe(true)
          expect((yield* cursor.fetch(3)).length).toBe(3)
        })
      )
      expect(statements).toEqual(["BEGIN", "COMMIT"])
      yield* expectClean(conn)
    }))

  it.live("one stream stopped early (Stream.take): the other reads on, the last one out commits", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { statements } = watch(conn)
      const rows = yield* Stream.runCollect(
        Stream.merge(
          conn.cursor("SELECT generate_series(1, 100000)", [], { prefetch: 3 }).pipe(Stream.take(4)),
          conn.cursor("SELECT g, pg_sleep(0.005) FROM generate_series(101, 110) g", [], { prefetch: 2 })
        )
      )
      expect(values(rows).filter((v) => Number(v) < 100)).toEqual([1, 2, 3, 4])
      expect(values(rows).filter((v) => Number(v) > 100).length).toBe(10)
      expect(statements).toEqual(["BEGIN", "COMMIT"])
      yield* expectClean(conn)
    }))

  it.live("one stream's fiber interrupted half way: the other reads to the end", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const slow = yield* Effect.forkChild(
        Stream.runCollect(conn.cursor("SELECT g, pg_sleep(0.01) FROM generate_series(1, 100000) g", [], { prefetch: 2 }))
      )
      const other = yield* Effect.forkChild(
        Stream.runCollect(conn.cursor("SELECT g, pg_sleep(0.01) FROM generate_series(1, 30) g", [], { prefetch: 3 }))
      )
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(slow)
      const rows = yield* Fiber.join(other)
      expect(values(rows)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
      yield* expectClean(conn)
    }))

  it.live("a server error in one: it fails with the server's error, the other with a typed error, the transaction is rolled back", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { statements } = watch(conn)
      const [failing, other] = yield* Effect.all(
        [
          Stream.runCollect(conn.cursor("SELECT 10 / (5 - g) FROM generate_series(1, 10) g", [], { prefetch: 1 })),
          Stream.runCollect(conn.cursor("SELECT g, pg_sleep(0.01) FROM generate_series(1, 50) g", [], { prefetch: 2 }))
        ],
        { concurrency: 2, mode: "result" }
      )
      expect(failing._tag === "Failure" && failing.failure._tag).toBe("DivisionByZeroError")
      // the server's error if its next batch was sent before the rollback, else the client's
      expect(other._tag).toBe("Failure")
      if (other._tag === "Failure") expect(["InFailedSQLTransactionError", "InterfaceError"]).toContain(other.failure._tag)
      expect(statements).toEqual(["BEGIN", "ROLLBACK"])
      yield* expectClean(conn)
    }))

  it.live("a failure of the consumer of one (not the server's): the other fails with an InterfaceError, rolled back", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { statements } = watch(conn)
      const [failing, other] = yield* Effect.all(
        [
          Stream.runCollect(
            conn.cursor("SELECT g FROM generate_series(1, 10) g", [], { prefetch: 1 }).pipe(
              Stream.mapEffect((r) => (r.get(0) === 3 ? Effect.fail("consumer gave up" as const) : Effect.succeed(r)))
            )
          ),
          Stream.runCollect(conn.cursor("SELECT g, pg_sleep(0.01) FROM generate_series(1, 50) g", [], { prefetch: 2 }))
        ],
        { concurrency: 2, mode: "result" }
      )
      expect(failing._tag === "Failure" && failing.failure).toBe("consumer gave up")
      expect(other._tag === "Failure" && other.failure._tag).toBe("InterfaceError")
      expect(statements).toEqual(["BEGIN", "ROLLBACK"])
      yield* expectClean(conn)
    }))

  it.live("the whole merged stream interrupted: rolled back once, the connection clean", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const { statements } = watch(conn)
      const fiber = yield* Effect.forkChild(
        Stream.runDrain(
          Stream.merge(
            conn.cursor("SELECT g, pg_sleep(0.01) FROM generate_series(1, 100000) g", [], { prefetch: 2 }),
            conn.cursor("SELECT g, pg_sleep(0.01) FROM generate_series(1, 100000) g", [], { prefetch: 3 })
          )
        )
      )
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(fiber)
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(statements).toEqual(["BEGIN", "ROLLBACK"])
      yield* expectClean(conn)
    }))
})
