import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Exit from "effect/Exit"
import * as Connection from "../src/Connection.js"
import type * as Transaction from "../src/Transaction.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

/** A connection and a fresh TEMP table `(id int4 primary key)` on it. */
const withTable = Effect.gen(function* () {
  const conn = yield* connect()
  const table = uniqueName("t_tx")
  yield* conn.execute(`CREATE TEMP TABLE ${table} (id int4 PRIMARY KEY)`)
  const ids = Effect.map(conn.fetch(`SELECT id FROM ${table} ORDER BY id`), (rows) => rows.map((r) => r.get(0)))
  const insert = (id: number) => conn.execute(`INSERT INTO ${table} VALUES ($1)`, [id])
  return { conn, table, ids, insert }
})

describe("transaction", () => {
  it.live("the combinator commits on success and rolls back on failure", () =>
    Effect.gen(function* () {
      const { conn, ids, insert } = yield* withTable
      const out = yield* conn.transaction(
        Effect.gen(function* () {
          yield* insert(1)
          yield* insert(2)
          expect(conn.isInTransaction()).toBe(true)
          return "done"
        })
      )
      expect(out).toBe("done")
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* ids).toEqual([1, 2])
      const err = yield* Effect.flip(
        Connection.withTransaction(conn, Effect.andThen(insert(3), Effect.fail("boom" as const)))
      )
      expect(err).toBe("boom")
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* ids).toEqual([1, 2])
      // a server error inside: rolled back, the error is the result
      const dup = yield* Effect.flip(conn.transaction(Effect.andThen(insert(4), insert(1))))
      expect(dup._tag).toBe("UniqueViolationError")
      expect(yield* ids).toEqual([1, 2])
    }))

  it.live("a transaction interrupted half way leaves no row behind", () =>
    Effect.gen(function* () {
      const { conn, ids, insert } = yield* withTable
      const fiber = yield* Effect.forkChild(
        conn.transaction(
          Effect.gen(function* () {
            yield* insert(10)
            yield* conn.execute("SELECT pg_sleep(10)", [])
            yield* insert(11)
          })
        )
      )
      yield* Effect.sleep("150 millis")
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      expect(Date.now() - started).toBeLessThan(2000)
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* ids).toEqual([])
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("a nested transaction is a savepoint: rolled back, the outer work stays", () =>
    Effect.gen(function* () {
      const { conn, ids, insert } = yield* withTable
      yield* conn.transaction(
        Effect.gen(function* () {
          yield* insert(1)
          const inner = yield* Effect.flip(conn.transaction(Effect.andThen(insert(2), insert(1))))
          expect(inner._tag).toBe("UniqueViolationError")
          // the outer transaction is still usable
          yield* insert(3)
          yield* conn.transaction(insert(4))
          yield* Effect.ignore(conn.transaction(Effect.andThen(insert(5), Effect.fail("no"))))
        })
      )
      expect(yield* ids).toEqual([1, 3, 4])
    }))

  it.live("scoped: commit when the scope closes with success, rollback on failure; commit() ends it early", () =>
    Effect.gen(function* () {
      const { conn, ids, insert } = yield* withTable
      yield* Effect.scoped(
        Effect.gen(function* () {
          const tx = yield* conn.transaction()
          expect(tx.nested).toBe(false)
          expect(tx.state).toBe("started")
          yield* insert(1)
        })
      )
      expect(yield* ids).toEqual([1])
      yield* Effect.ignore(
        Effect.scoped(
          Effect.gen(function* () {
            yield* conn.transaction()
            yield* insert(2)
            return yield* Effect.fail("boom")
          })
        )
      )
      expect(yield* ids).toEqual([1])
      yield* Effect.scoped(
        Effect.gen(function* () {
          const tx = yield* conn.transaction()
          yield* insert(3)
          yield* tx.commit()
          expect(tx.state).toBe("committed")
          expect(conn.isInTransaction()).toBe(false)
          const again = yield* Effect.flip(tx.rollback())
          expect(again._tag).toBe("InterfaceError")
          // nested scoped savepoints, rolled back by hand
          const outer = yield* conn.transaction()
          yield* insert(4)
          const sp = yield* conn.transaction()
          expect(sp.nested).toBe(true)
          expect(sp.savepoint).toMatch(/^__epg_sp_/)
          yield* insert(5)
          yield* sp.rollback()
          expect(outer.state).toBe("started")
        })
      )
      expect(yield* ids).toEqual([1, 3, 4])
    }))

  it.live("scoped: tx.commit() gives a failing COMMIT as a typed error and the scope then has nothing to do; the implicit COMMIT at scope close is a defect", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_deferred")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int4, CONSTRAINT ${table}_uk UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)`)
      const duplicate = conn.execute(`INSERT INTO ${table} VALUES (1), (1)`)
      // the duplicate is only found at COMMIT
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            const tx = yield* conn.transaction()
            yield* duplicate
            const err = yield* Effect.flip(tx.commit())
            expect(tx.state).toBe("failed")
            return err._tag
          })
        )
      )
      expect(exit).toEqual(Exit.succeed("UniqueViolationError"))
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* conn.fetchval(`SELECT count(*)::int4 FROM ${table}`)).toBe(0)
      // left to the scope: a defect (a finalizer has no error channel), the typed error as its value
      const implicit = yield* Effect.exit(Effect.scoped(Effect.andThen(conn.transaction(), duplicate)))
      expect(Exit.isFailure(implicit) && Cause.hasDies(implicit.cause)).toBe(true)
      expect(conn.isInTransaction()).toBe(false)
      // the combinator form: the typed error
      const combinator = yield* Effect.flip(conn.transaction(duplicate))
      expect(combinator._tag).toBe("UniqueViolationError")
    }))

  it.live("scoped: tx.commit() on a connection that died inside is a typed error, and the scope closes without a defect", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const admin = yield* connect()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            const tx = yield* conn.transaction()
            yield* admin.fetchval("SELECT pg_terminate_backend($1::int4)", [conn.getServerPid()])
            yield* Effect.sleep("100 millis")
            return yield* Effect.flip(tx.commit())
          })
        )
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      if (Exit.isSuccess(exit)) expect(["ConnectionDoesNotExistError", "PostgresConnectionError", "AdminShutdownError"]).toContain(exit.value._tag)
    }))

  it.live("isolation, readonly and deferrable", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const level = yield* conn.transaction(conn.fetchval("SHOW transaction_isolation"), { isolation: "serializable" })
      expect(level).toBe("serializable")
      const rr = yield* conn.transaction(conn.fetchval("SHOW transaction_isolation"), { isolation: "repeatable_read" })
      expect(rr).toBe("repeatable read")
      expect(yield* conn.transaction(conn.fetchval("SHOW transaction_read_only"), { readonly: true })).toBe("on")
      const ro = yield* Effect.flip(conn.transaction(conn.execute("CREATE TABLE never_created (id int4)"), { readonly: true }))
      expect(ro._tag).toBe("ReadOnlySQLTransactionError")
      const deferrable = yield* conn.transaction(conn.fetchval("SHOW transaction_deferrable"), {
        isolation: "serializable",
        readonly: true,
        deferrable: true
      })
      expect(deferrable).toBe("on")
      // a savepoint cannot change them
      const nested = yield* Effect.flip(
        conn.transaction(conn.transaction(Effect.void, { isolation: "serializable" }), { isolation: "read_committed" })
      )
      expect(nested._tag).toBe("InterfaceError")
      const same = yield* conn.transaction(conn.transaction(Effect.succeed(1), { isolation: "serializable" }), {
        isolation: "serializable"
      })
      expect(same).toBe(1)
      expect(conn.isInTransaction()).toBe(false)
    }))

  it.live("a nested isolation level is compared with the level the outer transaction actually has (asyncpg's test_nested_isolation_level)", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const sent: Array<string> = []
      conn.addQueryLogger((q) => sent.push(q.sql))
      const levels: ReadonlyArray<Transaction.IsolationLevel> = ["read_committed", "read_uncommitted", "repeatable_read", "serializable"]
      for (const outer of levels) {
        for (const implicit of [false, true]) {
          // implicit: the outer transaction names no level and gets the session's
          if (implicit) yield* conn.execute(`SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ${outer.replace("_", " ")}`)
          for (const inner of [undefined, ...levels]) {
            const exit = yield* Effect.exit(
              conn.transaction(conn.transaction(Effect.succeed("inner ran"), { isolation: inner }), {
                isolation: implicit ? undefined : outer
              })
            )
            if (inner === undefined || inner === outer) expect(exit).toEqual(Exit.succeed("inner ran"))
            else {
              expect(Exit.isFailure(exit)).toBe(true)
              const err = yield* Effect.flip(exit)
              expect(err._tag).toBe("InterfaceError")
              expect(err.message).toContain(`${inner} requested, the outer one is ${outer}`)
            }
            expect(conn.isInTransaction()).toBe(false)
          }
          yield* conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL read committed")
        }
      }
      // the level is asked for only when the inner transaction names one and the outer named none
      sent.length = 0
      yield* conn.transaction(conn.transaction(Effect.void))
      yield* conn.transaction(conn.transaction(Effect.void, { isolation: "serializable" }), { isolation: "serializable" })
      expect(sent.filter((q) => q.startsWith("SHOW"))).toEqual([])
      yield* conn.transaction(conn.transaction(Effect.void, { isolation: "read_committed" }))
      expect(sent.filter((q) => q.startsWith("SHOW"))).toEqual(["SHOW transaction_isolation"])
    }))

  it.live("a failure caught inside never commits: COMMIT fails with InFailedSQLTransactionError", () =>
    Effect.gen(function* () {
      const { conn, ids, insert } = yield* withTable
      const err = yield* Effect.flip(
        conn.transaction(
          Effect.gen(function* () {
            yield* insert(1)
            yield* Effect.ignore(insert(1))
          })
        )
      )
      expect(err._tag).toBe("InFailedSQLTransactionError")
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* ids).toEqual([])
      // same in a savepoint: it is rolled back to, the outer transaction goes on
      yield* conn.transaction(
        Effect.gen(function* () {
          yield* insert(2)
          const inner = yield* Effect.flip(
            conn.transaction(
              Effect.gen(function* () {
                yield* insert(3)
                yield* Effect.ignore(insert(2))
              })
            )
          )
          expect(inner._tag).toBe("InFailedSQLTransactionError")
          yield* insert(4)
        })
      )
      expect(yield* ids).toEqual([2, 4])
    }))

  it.live("interrupting during COMMIT waits for it: the connection is never left in an unknown state", () =>
    Effect.gen(function* () {
      const { conn, table, ids, insert } = yield* withTable
      const fn = uniqueName("slow_commit")
      yield* conn.execute(
        `CREATE FUNCTION pg_temp.${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.4); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON ${table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.${fn}()`
      )
      const fiber = yield* Effect.forkChild(conn.transaction(insert(1)))
      yield* Effect.sleep("150 millis") // the body is done, COMMIT runs the slow trigger
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      expect(Date.now() - started).toBeGreaterThan(100)
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* ids).toEqual([1])
      // by hand: tx.commit() is uninterruptible too
      const fiber2 = yield* Effect.forkChild(
        Effect.scoped(
          Effect.gen(function* () {
            const tx = yield* conn.transaction()
            yield* insert(2)
            yield* tx.commit()
          })
        )
      )
      yield* Effect.sleep("150 millis")
      yield* Fiber.interrupt(fiber2)
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* ids).toEqual([1, 2])
    }))

  it.live("isInTransaction follows ReadyForQuery; a transaction begun by hand gets savepoints", () =>
    Effect.gen(function* () {
      const { conn, ids, insert } = yield* withTable
      expect(conn.isInTransaction()).toBe(false)
      yield* conn.execute("BEGIN")
      expect(conn.isInTransaction()).toBe(true)
      yield* insert(1)
      yield* Effect.ignore(conn.transaction(Effect.andThen(insert(2), Effect.fail("x"))))
      expect(conn.isInTransaction()).toBe(true)
      const withOptions = yield* Effect.flip(conn.transaction(Effect.void, { readonly: true }))
      expect(withOptions._tag).toBe("InterfaceError")
      yield* Effect.ignore(conn.execute("SELECT 1/0", []))
      expect(conn.isInTransaction()).toBe(true) // failed, still in the block
      yield* conn.execute("ROLLBACK")
      expect(conn.isInTransaction()).toBe(false)
      expect(yield* ids).toEqual([])
    }))
})
