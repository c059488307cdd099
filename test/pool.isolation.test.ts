/**
 * Isolation between leases: nothing one borrower does reaches the next one,
 * whether it changed state with plain SQL, inside a function or a DO block,
 * or on the client (listeners, log listeners, managed transactions). Every
 * case here leaked on the pool of 4a1acd7, which decided from the SQL text
 * whether a released connection needed a reset.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import * as Connection from "../src/Connection.js"
import { TEST_DSN, uniqueName } from "./support/db.js"
import { hold, makePool, range, until } from "./support/pool.js"

/** A function that changes session state without any SQL keyword the client could see. */
const withFunctions = Effect.gen(function* () {
  const schema = uniqueName("iso")
  const conn = yield* Connection.connect(TEST_DSN)
  yield* conn.execute(`
    CREATE SCHEMA ${schema};
    CREATE FUNCTION ${schema}.remember(v text) RETURNS text LANGUAGE sql AS $$ SELECT set_config('app.tenant', v, false) $$;
    CREATE FUNCTION ${schema}.grab(k bigint) RETURNS void LANGUAGE sql AS $$ SELECT pg_advisory_lock(k) $$;
  `)
  yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP SCHEMA ${schema} CASCADE`)))
  return schema
})

/** The same backend twice in a row: a pool of one. */
const poolOfOne = () => Effect.map(makePool({ minSize: 1, maxSize: 1 }), ({ pool }) => pool)

describe("PgPool isolation: server state never outlives a lease", () => {
  it.live("a setting changed inside a function is gone for the next borrower", () =>
    Effect.gen(function* () {
      const schema = yield* withFunctions
      const pool = yield* poolOfOne()
      const pid = yield* pool.withConnection((c) => Effect.andThen(c.fetchval(`SELECT ${schema}.remember($1)`, ["tenant-a"]), c.fetchval("SELECT pg_backend_pid()")))
      const seen = yield* pool.withConnection((c) =>
        Effect.all([c.fetchval("SELECT pg_backend_pid()"), c.fetchval("SELECT current_setting('app.tenant', true)")])
      )
      expect(seen[0]).toBe(pid)
      expect(seen[1] ?? "").toBe("")
    }))

  it.live("SET inside a DO block is reset for the next borrower", () =>
    Effect.gen(function* () {
      const pool = yield* poolOfOne()
      yield* Effect.scoped(Effect.flatMap(pool.acquire(), (c) => c.execute("DO $$ BEGIN EXECUTE 'SET statement_timeout = 4321'; END $$")))
      expect(yield* Effect.scoped(Effect.flatMap(pool.acquire(), (c) => c.fetchval("SHOW statement_timeout")))).toBe("0")
    }))

  it.live("a session advisory lock taken inside a function is released with the lease", () =>
    Effect.gen(function* () {
      const schema = yield* withFunctions
      const pool = yield* poolOfOne()
      const key = Math.floor(Math.random() * 1e9)
      yield* pool.withConnection((c) => c.fetchval(`SELECT ${schema}.grab($1)`, [key]))
      // another session can take the lock at once: the pooled backend let it go
      const other = yield* Connection.connect(TEST_DSN)
      expect(yield* other.fetchval("SELECT pg_try_advisory_lock($1)", [key])).toBe(true)
      yield* other.execute(`SELECT pg_advisory_unlock(${key})`)
    }))

  it.live("an open transaction and a role change do not survive release", () =>
    Effect.gen(function* () {
      const pool = yield* poolOfOne()
      yield* pool.withConnection((c) => Effect.andThen(c.execute("BEGIN"), c.execute("CREATE TEMP TABLE iso_tx (x int) ON COMMIT DROP")))
      const state = yield* pool.withConnection((c) =>
        Effect.all([Effect.sync(() => c.isInTransaction()), c.fetchval("SELECT to_regclass('pg_temp.iso_tx') IS NULL")])
      )
      expect(state).toEqual([false, true])
    }))

  it.live("a temporary table never outlives its lease: one named like a real table cannot hide it from the next borrower", () =>
    Effect.gen(function* () {
      const obs = yield* Connection.connect(TEST_DSN)
      const name = uniqueName("iso_shadow")
      const seq = uniqueName("iso_seq")
      yield* obs.execute(`CREATE TABLE ${name} (owner text); INSERT INTO ${name} VALUES ('everyone'); CREATE SEQUENCE ${seq}`)
      yield* Effect.addFinalizer(() => Effect.ignore(obs.execute(`DROP TABLE IF EXISTS ${name}; DROP SEQUENCE IF EXISTS ${seq}`)))
      for (const prepare of [true, false]) {
        // prepare: false resets by a simple-protocol script
        const { pool } = yield* makePool({ minSize: 1, maxSize: 1, prepare })
        // a plain lease and one that made its temporary table inside a function
        yield* pool.withConnection((c) =>
          Effect.andThen(
            c.execute(`CREATE TEMP TABLE ${name} (owner text); INSERT INTO ${name} VALUES ('first borrower only')`),
            c.fetchval(`SELECT nextval('${seq}')`)
          )
        )
        const seen = yield* pool.withConnection((c) =>
          Effect.all([c.fetchval(`SELECT string_agg(owner, ',') FROM ${name}`), Effect.flip(c.fetchval(`SELECT currval('${seq}')`))])
        )
        expect(seen[0]).toBe("everyone")
        // currval is the caller's own: never set in this lease
        expect(seen[1]._tag).toBe("ObjectNotInPrerequisiteStateError")
        yield* pool.withConnection((c) => c.execute(`DO $$ BEGIN EXECUTE 'CREATE TEMP TABLE ${name} AS SELECT ''from a DO block''::text AS owner'; END $$`))
        expect(yield* pool.withConnection((c) => c.fetchval(`SELECT owner FROM ${name}`))).toBe("everyone")
      }
    }))

  it.live("a borrower that drops the reset's prepared statements (DEALLOCATE ALL) still leaves nothing behind; later resets use the script", () =>
    Effect.gen(function* () {
      const pool = yield* poolOfOne()
      // the first release prepares the reset statements on the server
      const pid = yield* pool.withConnection((c) => c.fetchval("SELECT pg_backend_pid()"))
      for (const timeout of [4321, 5432]) {
        yield* pool.withConnection((c) => c.execute(`DEALLOCATE ALL; SET statement_timeout = ${timeout}`))
        const seen = yield* pool.withConnection((c) => Effect.all([c.fetchval("SELECT pg_backend_pid()"), c.fetchval("SHOW statement_timeout")]))
        expect(seen).toEqual([pid, "0"])
      }
    }))

  it.live("a function that sets state through a pool-level query does not reach an exclusive borrower", () =>
    Effect.gen(function* () {
      const schema = yield* withFunctions
      const pool = yield* poolOfOne()
      // pool-level: may share a lane (documented), but the lane is reset before anyone acquires it
      yield* pool.fetchval(`SELECT ${schema}.remember($1)`, ["tenant-b"])
      const seen = yield* pool.withConnection((c) => c.fetchval("SELECT current_setting('app.tenant', true)"))
      expect(seen ?? "").toBe("")
    }))
})

describe("PgPool isolation: client state never outlives a lease", () => {
  it.live("a listener added by one borrower never fires for the next borrower's notifications", () =>
    Effect.gen(function* () {
      const pool = yield* poolOfOne()
      const channel = uniqueName("ch")
      const first: Array<string> = []
      const pid1 = yield* pool.withConnection((c) =>
        Effect.andThen(c.addListener(channel, (n) => first.push(n.payload)), c.fetchval("SELECT pg_backend_pid()"))
      )
      const second: Array<string> = []
      const pid2 = yield* pool.withConnection((c) =>
        Effect.gen(function* () {
          // the next borrower's addListener must really LISTEN again (UNLISTEN * ran on release)
          yield* c.addListener(channel, (n) => second.push(n.payload))
          yield* c.execute(`NOTIFY ${channel}, 'for-second'`)
          yield* until(Effect.sync(() => second.length), (n) => n > 0, 2000)
          return c.getServerPid()
        })
      )
      expect(pid2).toBe(pid1)
      expect(second).toEqual(["for-second"])
      expect(first).toEqual([])
    }))

  it.live("log listeners and query loggers of a lease are dropped on release", () =>
    Effect.gen(function* () {
      const pool = yield* poolOfOne()
      const notices: Array<string> = []
      const logged: Array<string> = []
      yield* pool.withConnection((c) =>
        Effect.sync(() => {
          c.addLogListener((n) => notices.push(n.message))
          c.addQueryLogger((q) => logged.push(q.sql))
        })
      )
      yield* pool.withConnection((c: Connection.Connection) => Effect.andThen(c.execute("DO $$ BEGIN RAISE NOTICE 'second lease'; END $$"), c.fetchval("SELECT 1")))
      expect(notices).toEqual([])
      expect(logged).toEqual([])
    }))

  it.live("a handle kept after release cannot close, terminate or listen on the next borrower's connection", () =>
    Effect.gen(function* () {
      const pool = yield* poolOfOne()
      const stale = yield* hold(pool)
      yield* pool.release(stale)
      const next = yield* hold(pool)
      expect(next.getServerPid()).toBe(stale.getServerPid())
      // synchronous listener adders throw the released-connection InterfaceError
      const seen: Array<string> = []
      expect(() => stale.addLogListener((n) => seen.push(n.message))).toThrow(/released back to the pool/)
      expect(() => stale.addQueryLogger((q) => seen.push(q.sql))).toThrow(/released back to the pool/)
      expect(() => stale.addTerminationListener(() => seen.push("terminated"))).toThrow(/released back to the pool/)
      // close() and terminate() of the stale handle leave the next borrower's session alone
      yield* stale.terminate()
      yield* stale.close()
      yield* next.execute("DO $$ BEGIN RAISE WARNING 'only for next'; END $$")
      expect(yield* next.fetchval("SELECT 41 + 1")).toBe(42)
      expect(next.isClosed()).toBe(false)
      expect(seen).toEqual([])
      yield* pool.release(next)
    }))

  it.live("a managed transaction left open at release is forgotten: the next borrower's transaction() starts a real one", () =>
    Effect.gen(function* () {
      const pool = yield* poolOfOne()
      const scope = yield* Scope.make()
      const conn = yield* hold(pool)
      yield* Scope.provide(conn.transaction(), scope)
      yield* conn.execute("SELECT 1")
      yield* pool.release(conn)
      const next = yield* pool.withConnection((c) => c.transaction(Effect.andThen(c.fetchval("SELECT 1"), c.fetchval("SELECT txid_current_if_assigned() IS NULL"))))
      expect(next).toBe(true)
      yield* Effect.ignore(Scope.close(scope, Exit.void))
    }))

  it.live("200 concurrent exclusive readers never see a setting a borrower left behind in a function", () =>
    Effect.gen(function* () {
      const schema = yield* withFunctions
      const { pool } = yield* makePool({ minSize: 4, maxSize: 4 })
      const seen = yield* Effect.forEach(
        range(200),
        (i) =>
          pool.withConnection((c) =>
            i % 5 === 0
              ? Effect.as(c.fetchval(`SELECT ${schema}.remember($1)`, [`t${i}`]), "")
              : Effect.map(c.fetchval("SELECT current_setting('app.tenant', true)"), (v) => (v as string | null) ?? "")
          ),
        { concurrency: 40 }
      )
      expect(seen.filter((v) => v !== "")).toEqual([])
    }))
})
