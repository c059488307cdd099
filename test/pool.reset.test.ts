/**
 * The pool's reset travels in front of the next borrower's first request
 * (an explicit BEGIN ... COMMIT with no Sync of its own) when the session
 * reaches PostgreSQL itself. These tests try to break that: a next request
 * that cannot carry it (a script, COPY), nobody coming next, a reset whose
 * statements a function dropped behind the client's back, and a pooler in
 * the middle (the pid check must keep the reset on its own Sync there).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Connection from "../src/Connection.js"
import * as Core from "../src/connection/Core.js"
import * as Reset from "../src/connection/reset.js"
import { TEST_DSN } from "./support/db.js"
import { makePool, tagOf, until } from "./support/pool.js"
import { type TappedMessage, wiretap } from "./support/wiretap.js"

const TARGET = { host: "127.0.0.1", port: Number(new URL(TEST_DSN).port || 5432) }

/** A pool of one through a wire tap (a plain TCP relay: the backend pid is still the real one). */
const tappedPoolOfOne = Effect.gen(function* () {
  const tap = yield* wiretap(TARGET)
  const url = new URL(TEST_DSN)
  url.hostname = "127.0.0.1"
  url.port = String(tap.port)
  url.searchParams.set("sslmode", "disable")
  const { pool } = yield* makePool({ dsn: url.toString(), minSize: 1, maxSize: 1 })
  return { pool, tap }
})

/** Leaves state behind in a lease: a setting, a role, an advisory lock, a LISTEN and a holdable cursor. */
const dirty = (c: Connection.Connection) =>
  Effect.andThen(
    c.execute("SET statement_timeout = 4321"),
    c.execute("SELECT set_config('app.who', 'previous', false), pg_advisory_lock(4242); LISTEN reset_test; DECLARE held CURSOR WITH HOLD FOR SELECT 1")
  )

/** What the next borrower must find: nothing of the above. */
const clean = (c: Connection.Connection) =>
  Effect.all({
    timeout: c.fetchval("SHOW statement_timeout"),
    who: c.fetchval("SELECT current_setting('app.who', true)"),
    locks: c.fetchval("SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"),
    listening: c.fetchval("SELECT count(*)::int FROM pg_listening_channels()"),
    // (the query's own unnamed portal is listed too)
    cursors: c.fetchval("SELECT count(*)::int FROM pg_cursors WHERE name = 'held'"),
    tx: Effect.sync(() => c.isInTransaction())
  })

/** The messages of the first batch after `from` (up to its first Sync): reset Binds and the rest. */
const firstBatch = (log: ReadonlyArray<TappedMessage>, from: number) => {
  const after = log.slice(from)
  const batch = after.slice(0, after.findIndex((m) => m.type === "S"))
  const isReset = (m: TappedMessage) => m.type === "B" && /reset\d$/.test(m.name ?? "")
  return {
    resetBinds: batch.filter(isReset).length,
    others: batch.filter((m) => (m.type === "B" && !isReset(m)) || m.type === "P" || m.type === "Q").length
  }
}

const CLEAN = { timeout: "0", who: "", locks: 0, listening: 0, cursors: 0, tx: false }

describe("PgPool reset as a prelude", () => {
  it.live("the reset rides on the next borrower's first request: one Sync for both, and the state is gone", () =>
    Effect.gen(function* () {
      const { pool, tap } = yield* tappedPoolOfOne
      // the first reset prepares the statements and asks for the pid: a Sync of its own
      yield* pool.withConnection((c) => c.fetchval("SELECT 1"))
      yield* pool.withConnection((c) => dirty(c))
      const log = tap.connections[0]!
      const before = log.length
      const seen = yield* pool.withConnection((c) => Effect.map(clean(c), (s) => ({ ...s, who: s.who ?? "" })))
      expect(seen).toEqual(CLEAN)
      // BEGIN, 5 parts, COMMIT, then the next request's messages, all under one Sync
      const batch = firstBatch(log, before)
      expect(batch.resetBinds).toBe(9)
      expect(batch.others).toBeGreaterThan(0)
    }))

  it.live("a script or a COPY as the next borrower's first request: the reset gets its own Sync first", () =>
    Effect.gen(function* () {
      const { pool } = yield* tappedPoolOfOne
      yield* pool.withConnection((c) => c.fetchval("SELECT 1"))
      yield* pool.withConnection((c) => dirty(c))
      // a simple-protocol script first
      const tag = yield* pool.withConnection((c) => c.execute("SELECT 1; SELECT current_setting('app.who', true)"))
      expect(tag).toBe("SELECT 1")
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW statement_timeout"))).toBe("0")
      // COPY first
      yield* pool.withConnection((c) => dirty(c))
      const copied = yield* pool.withConnection((c) =>
        Effect.map(Stream.runCollect(c.copyFromQueryStream("SELECT current_setting('statement_timeout')")), (chunks) => Buffer.concat([...chunks]).toString())
      )
      expect(copied).toBe("0\n")
    }))

  it.live("nobody borrows next: the reset goes out on its own within a few ms, and the lock is free", () =>
    Effect.gen(function* () {
      const { pool } = yield* tappedPoolOfOne
      yield* pool.withConnection((c) => c.fetchval("SELECT 1"))
      const key = 90_000 + Math.floor(Math.random() * 1e6)
      yield* pool.withConnection((c) => c.fetchval("SELECT pg_advisory_lock($1)", [key]))
      yield* Effect.sleep("50 millis")
      const other = yield* Connection.connect(TEST_DSN)
      expect(yield* other.fetchval("SELECT pg_try_advisory_lock($1)", [key])).toBe(true)
    }))

  it.live("a lease that runs nothing while the last reset is still on the wire hands the same connection on (the reset is not its work)", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })
      const pid = yield* pool.withConnection((c) => c.fetchval("SELECT pg_backend_pid()"))
      for (let i = 0; i < 20; i++) {
        yield* pool.withConnection((c) => c.execute("SET statement_timeout = 4321"))
        // borrowed and given back at once, before the reset's answer came
        yield* Effect.scoped(pool.acquire())
      }
      expect(yield* pool.withConnection((c) => Effect.all([c.fetchval("SELECT pg_backend_pid()"), c.fetchval("SHOW statement_timeout")]))).toEqual([pid, "0"])
      expect(pool.stats().closedByReason).toEqual({})
    }))

  it.live("DEALLOCATE ALL, or DEALLOCATE of one reset statement, in a lease: the next borrower's first request already runs reset", () =>
    Effect.gen(function* () {
      const { pool } = yield* tappedPoolOfOne
      yield* pool.withConnection((c) => c.fetchval("SELECT 1"))
      const resetName = yield* pool.withConnection((c) => Effect.sync(() => `${Core.sessionOf(c).namePrefix}reset3`))
      let n = 0
      for (const drop of ["DEALLOCATE ALL", `DEALLOCATE "${resetName}"`, "DISCARD ALL"]) {
        const table = `seen_${n++}`
        yield* pool.withConnection((c) => Effect.andThen(c.execute("SET statement_timeout = 4321"), c.execute(drop)))
        // a simple-protocol script first: it needs no prepared statement, so it would run before a reset that failed
        const seen = yield* pool.withConnection((c) =>
          Effect.andThen(c.execute(`CREATE TEMP TABLE ${table} AS SELECT current_setting('statement_timeout') AS v`), c.fetchval(`SELECT v FROM ${table}`))
        )
        expect([drop, seen]).toEqual([drop, "0"])
        // and the leases after it: the statements are prepared again
        yield* pool.withConnection((c) => c.execute("SET statement_timeout = 1234"))
        expect(yield* pool.withConnection((c) => c.fetchval("SHOW statement_timeout"))).toBe("0")
      }
      expect(pool.stats().closedByReason).toEqual({})
    }))

  it.live("statements dropped inside a function: the carrying request fails with a typed error, no hang, no stale state", () =>
    Effect.gen(function* () {
      const { pool } = yield* tappedPoolOfOne
      yield* pool.withConnection((c) => c.fetchval("SELECT 1"))
      yield* pool.withConnection((c) => c.execute("SET statement_timeout = 4321; DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$"))
      const exit = yield* Effect.exit(Effect.timeout(pool.withConnection((c) => c.fetchval("SHOW statement_timeout")), "5 seconds"))
      // the reset could not run: the connection was discarded, with a typed error that says so
      expect(Exit.isFailure(exit)).toBe(true)
      const reason = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      const err = reason !== undefined && "error" in reason ? (reason.error as { message?: string }) : undefined
      expect(tagOf(err)).toBe("PostgresConnectionError")
      expect(err?.message).toContain("did not run")
      // the pool is healthy and clean afterwards
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW statement_timeout"))).toBe("0")
    }))

  it.live("a relay that is not PostgreSQL (another backend pid): the reset keeps a Sync of its own", () =>
    Effect.gen(function* () {
      // a plain connection whose BackendKeyData we overwrite: as a pooler's made-up key
      const { pool, tap } = yield* tappedPoolOfOne
      yield* pool.withConnection((c) => Effect.sync(() => void ((c as unknown as { session: { processId: number } }).session.processId = 1)))
      // the first reset (with the pid check) runs after this lease
      yield* pool.withConnection((c) => c.fetchval("SELECT 1"))
      yield* pool.withConnection((c) => dirty(c))
      const log = tap.connections[0]!
      const before = log.length
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW statement_timeout"))).toBe("0")
      // the reset's 9 Binds end in their own Sync
      expect(firstBatch(log, before)).toEqual({ resetBinds: 9, others: 0 })
    }))

  it.live("a carrying query interrupted before the reset ahead of it ended is still cancelled on the server", () =>
    Effect.gen(function* () {
      // on a plain connection (a pool would retire the interrupted session, which cancels too)
      const conn = yield* Connection.connect(TEST_DSN)
      const obs = yield* Connection.connect(TEST_DSN)
      const session = Core.sessionOf(conn)
      const pid = yield* conn.fetchval("SELECT pg_backend_pid()")
      // the first reset prepares its statements (a Sync of its own); pg_sleep($1) is prepared too
      Reset.write(session)
      yield* conn.fetchval("SELECT pg_sleep($1)", [0])
      Reset.write(session)
      const fiber = yield* Effect.forkChild(conn.fetchval("SELECT pg_sleep($1)", [30]))
      // the server runs pg_sleep by now, but it sends nothing before the Sync: on the client the
      // reset is still ahead of the query (a cancel sent before the server read the query
      // would be lost, so wait for it to start)
      yield* until(obs.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]), (s) => s === "active", 2000)
      yield* Fiber.interrupt(fiber)
      // the cancel goes out once the reset ended: the backend does not stay busy for 30 s
      const state = yield* until(obs.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]), (s) => s !== "active", 3000)
      expect(state).toBe("idle")
      expect(yield* conn.fetchval("SELECT 41 + 1")).toBe(42)
    }))
})
