import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import * as Connection from "../src/Connection.js"
import { PgPool } from "../src/Pool.js"
import type * as Errors from "../src/Errors.js"
import { TEST_DSN, uniqueName } from "./support/db.js"
import { sessionOf } from "../src/connection/Core.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

const channels = (conn: Connection.Connection) =>
  Effect.map(conn.fetch("SELECT pg_listening_channels() AS c ORDER BY 1"), (rows) => rows.map((r) => r.get("c")))

/** Waits (up to 2 s) until `check` holds. */
const eventually = (check: () => boolean) =>
  Effect.gen(function* () {
    const until = Date.now() + 2000
    while (!check() && Date.now() < until) yield* Effect.sleep("2 millis")
    expect(check()).toBe(true)
  })

describe("LISTEN/NOTIFY", () => {
  it.live("a notification sent from a second connection arrives at once, without a query of the listener's (under 500 ms)", () =>
    Effect.gen(function* () {
      const listener = yield* connect()
      const sender = yield* connect()
      const channel = `Chan "${uniqueName("x")}" é`
      const got: Array<Connection.Notification & { at: number }> = []
      const callback = (n: Connection.Notification) => {
        got.push({ ...n, at: Date.now() })
      }
      yield* listener.addListener(channel, callback)
      expect(yield* channels(listener)).toEqual([channel])
      const sentAt = Date.now()
      yield* sender.execute("SELECT pg_notify($1, $2)", [channel, "payload 1"])
      yield* eventually(() => got.length === 1)
      // the listener runs no query meanwhile: a notification read only with the next query would never come;
      // the bound leaves room for a loaded 2-core box (1.3 s seen once with four test files at once)
      expect(got[0]!.at - sentAt).toBeLessThan(500)
      expect(got[0]!.channel).toBe(channel)
      expect(got[0]!.payload).toBe("payload 1")
      expect(got[0]!.processId).toBe(sender.getServerPid())
      // a second callback on the same channel, then both removed: UNLISTEN
      const second: Array<string> = []
      const callback2 = (n: Connection.Notification) => {
        second.push(n.payload)
      }
      yield* listener.addListener(channel, callback2)
      yield* sender.execute("SELECT pg_notify($1, 'two')", [channel])
      yield* eventually(() => second.length === 1 && got.length === 2)
      yield* listener.removeListener(channel, callback)
      expect(yield* channels(listener)).toEqual([channel])
      yield* listener.removeListener(channel, callback2)
      expect(yield* channels(listener)).toEqual([])
    }))

  it.live("listen(channel) is a stream: LISTEN when it starts, UNLISTEN when it ends", () =>
    Effect.gen(function* () {
      const listener = yield* connect()
      const sender = yield* connect()
      const channel = uniqueName("stream")
      const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(listener.listen(channel), 3)))
      // wait until the LISTEN is in place
      while ((yield* channels(listener)).length === 0) yield* Effect.sleep("5 millis")
      for (const p of ["a", "b", "c", "d"]) yield* sender.execute("SELECT pg_notify($1, $2)", [channel, p])
      const received = yield* Fiber.join(fiber)
      expect(received.map((n) => n.payload)).toEqual(["a", "b", "c"])
      expect(yield* channels(listener)).toEqual([])
    }))

  it.live("the listen stream fails when the connection breaks", () =>
    Effect.gen(function* () {
      const listener = yield* connect()
      const killer = yield* connect()
      const fiber = yield* Effect.forkChild(Stream.runCollect(listener.listen(uniqueName("gone"))))
      while ((yield* channels(listener)).length === 0) yield* Effect.sleep("5 millis")
      yield* killer.execute("SELECT pg_terminate_backend($1)", [listener.getServerPid()])
      const exit = yield* Fiber.await(fiber)
      expect(exit._tag).toBe("Failure")
    }))

  it.live("the listen stream ends when its connection is closed, and fails when it is reset or its lease ends", () =>
    Effect.gen(function* () {
      const started = (conn: Connection.Connection, channel: string) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.forkChild(Stream.runCollect(conn.listen(channel)))
          while ((yield* channels(conn)).length === 0) yield* Effect.sleep("5 millis")
          return fiber
        })
      const deadline = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.timeout(Fiber.await(fiber), "3 seconds")
      // closed: the stream ends
      const closing = yield* connect()
      const onClose = yield* started(closing, uniqueName("closed"))
      yield* closing.close()
      expect((yield* deadline(onClose))._tag).toBe("Success")
      // reset: UNLISTEN * ran, so the stream can get nothing more; it fails, saying so
      const resetting = yield* connect()
      const onReset = yield* started(resetting, uniqueName("reset"))
      yield* resetting.reset()
      const reset = yield* deadline(onReset)
      expect(reset._tag).toBe("Failure")
      expect(String(reset)).toMatch(/LISTEN stream ended: its connection was reset or released/)
      // the lease ends: the same, and the next borrower's notifications never reach it
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 1 })
      const channel = uniqueName("lease")
      const onLease = yield* Effect.scoped(Effect.flatMap(pool.acquire(), (c) => started(c, channel)))
      const leased = yield* deadline(onLease)
      expect(leased._tag).toBe("Failure")
      expect(String(leased)).toMatch(/released to the pool/)
    }))
})

describe("notices, termination, query loggers", () => {
  it.live("a callback that throws is a process warning: the connection and the process go on", () =>
    Effect.gen(function* () {
      const warnings: Array<Error> = []
      const onWarning = (w: Error) => {
        if (w.name === "EffectPgCallbackWarning") warnings.push(w)
      }
      process.on("warning", onWarning)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("warning", onWarning)))
      const conn = yield* connect()
      const channel = uniqueName("boom")
      yield* conn.addListener(channel, () => {
        throw new Error("bug in a LISTEN callback")
      })
      conn.addLogListener(() => {
        throw new Error("bug in a log listener")
      })
      conn.addQueryLogger(() => {
        throw new Error("bug in a query logger")
      })
      yield* conn.execute(`NOTIFY ${channel}, 'x'`)
      yield* conn.execute("DO $$ BEGIN RAISE NOTICE 'hello'; END $$")
      expect(yield* conn.fetchval("SELECT 6 * 7")).toBe(42)
      yield* eventually(() => warnings.length >= 3)
      const said = warnings.map((w) => w.message).join("\n")
      expect(said).toMatch(/bug in a LISTEN callback/)
      expect(said).toMatch(/bug in a log listener/)
      expect(said).toMatch(/bug in a query logger/)
    }))

  it.live("log listeners get NOTICE and WARNING messages, PostgresError-shaped", () =>
    Effect.gen(function* () {
      const conn = yield* connect({ logNotices: false })
      const notices: Array<Errors.PostgresError> = []
      const listener = (n: Errors.PostgresError) => {
        notices.push(n)
      }
      conn.addLogListener(listener)
      yield* conn.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 1; RAISE WARNING 'careful' USING HINT = 'a hint'; END $$")
      expect(notices.map((n) => [n.severity, n.message, n.sqlstate])).toEqual([
        ["NOTICE", "hello 1", "00000"],
        ["WARNING", "careful", "01000"]
      ])
      expect(notices[1]!.hint).toBe("a hint")
      conn.removeLogListener(listener)
      yield* conn.execute("DO $$ BEGIN RAISE NOTICE 'unheard'; END $$")
      expect(notices.length).toBe(2)
    }))

  it.live("notices go to Effect's logger at the matching level, in the fiber of the query", () =>
    Effect.gen(function* () {
      const logged: Array<{ level: string; message: unknown; annotations: unknown }> = []
      const capture = Logger.make((options) => {
        logged.push({ level: options.logLevel, message: options.message, annotations: options.fiber.getRef(References.CurrentLogAnnotations) })
      })
      const conn = yield* connect()
      yield* conn.execute("DO $$ BEGIN RAISE NOTICE 'note'; RAISE WARNING 'warn'; END $$").pipe(
        Effect.annotateLogs({ request: "r1" }),
        Effect.provide(Logger.layer([capture]))
      )
      expect(logged.map((l) => [l.level, String(l.message)])).toEqual([
        ["Info", "PostgreSQL NOTICE: note"],
        ["Warn", "PostgreSQL WARNING: warn"]
      ])
      expect(logged[0]!.annotations).toMatchObject({ request: "r1", sqlstate: "00000" })
      // turned off per connection
      const quiet = yield* connect({ logNotices: false })
      logged.length = 0
      yield* quiet.execute("DO $$ BEGIN RAISE WARNING 'silent'; END $$").pipe(Effect.provide(Logger.layer([capture])))
      expect(logged).toEqual([])
    }))

  it.live("termination listeners fire once when the connection closes, with the reason", () =>
    Effect.gen(function* () {
      const causes: Array<string> = []
      const a = yield* Connection.connectUnscoped({ dsn: TEST_DSN })
      a.addTerminationListener((e) => causes.push(e === undefined ? "closed" : e._tag))
      yield* a.close()
      expect(causes).toEqual(["closed"])
      const b = yield* connect()
      const killer = yield* connect()
      const removed = () => causes.push("removed one fired")
      b.addTerminationListener((e) => causes.push(e === undefined ? "closed" : e._tag))
      b.addTerminationListener(removed)
      b.removeTerminationListener(removed)
      yield* killer.execute("SELECT pg_terminate_backend($1)", [b.getServerPid()])
      yield* eventually(() => causes.length === 2)
      expect(causes[1]).toMatch(/Error$/)
      expect(b.isClosed()).toBe(true)
      // a query that fails because the server ended the session: the listener has run by the time it fails
      const c = yield* connect()
      let heard = false
      c.addTerminationListener(() => {
        heard = true
      })
      const running = yield* Effect.forkChild(Effect.flip(c.execute("SELECT pg_sleep(30)")))
      yield* Effect.sleep("50 millis")
      yield* killer.execute("SELECT pg_terminate_backend($1)", [c.getServerPid()])
      yield* Fiber.join(running)
      expect(heard).toBe(true)
    }))

  it.live("query loggers see sql, redacted args, duration, status or error; none costs nothing", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const entries: Array<Connection.LoggedQuery> = []
      const logger = (q: Connection.LoggedQuery) => {
        entries.push(q)
      }
      expect(sessionOf(conn).queryLoggers).toBe(undefined)
      conn.addQueryLogger(logger)
      yield* conn.fetch("SELECT $1::text AS secret", ["hunter2"])
      yield* conn.execute("SET application_name = 'x'")
      yield* Effect.ignore(conn.execute("SELECT 1/0", []))
      yield* conn.executemany("SELECT $1::int4", [[1], [2]])
      yield* Effect.ignore(conn.fetch("SELECT pg_sleep(5)", [], { timeout: 50 }))
      const fiber = yield* Effect.forkChild(conn.fetch("SELECT pg_sleep(5)", []))
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      expect(entries.map((e) => [e.sql, e.status, e.error?._tag, e.interrupted])).toEqual([
        ["SELECT $1::text AS secret", "SELECT 1", undefined, false],
        ["SET application_name = 'x'", "SET", undefined, false],
        ["SELECT 1/0", undefined, "DivisionByZeroError", false],
        ["SELECT $1::int4", "SELECT 1", undefined, false],
        ["SELECT pg_sleep(5)", undefined, "CommandTimeoutError", false],
        ["SELECT pg_sleep(5)", undefined, undefined, true]
      ])
      const first = entries[0]!
      expect(String(first.args)).not.toContain("hunter2")
      expect(JSON.stringify(first)).not.toContain("hunter2")
      expect(Redacted.value(first.args)).toEqual(["hunter2"])
      expect(first.durationMs).toBeGreaterThanOrEqual(0)
      expect(first.processId).toBe(conn.getServerPid())
      expect(entries[4]!.durationMs).toBeGreaterThanOrEqual(45)
      // asyncpg's names (test_logging): query and exception
      expect(entries.map((e) => [e.query, e.exception?._tag])).toEqual(entries.map((e) => [e.sql, e.error?._tag]))
      conn.removeQueryLogger(logger)
      expect(sessionOf(conn).queryLoggers).toBe(undefined)
      yield* conn.fetch("SELECT 1")
      expect(entries.length).toBe(6)
    }))
})

describe("reset", () => {
  it.live("rolls back, unlocks, closes cursors, unlistens, resets settings; forgets listeners", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const heard: Array<string> = []
      yield* conn.addListener("reset_chan", (n) => heard.push(n.payload))
      yield* conn.execute("SET statement_timeout = '12s'")
      yield* conn.fetch("SELECT pg_advisory_lock(4242)")
      const logs: Array<unknown> = []
      conn.addLogListener((n) => logs.push(n))
      yield* conn.execute("BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT; BEGIN")
      expect(sessionOf(conn).stateDirty).toBe(true)
      expect(conn.isInTransaction()).toBe(true)
      yield* conn.reset()
      expect(conn.isInTransaction()).toBe(false)
      expect(sessionOf(conn).stateDirty).toBe(false)
      expect(yield* conn.fetchval("SHOW statement_timeout")).toBe("0")
      expect(yield* channels(conn)).toEqual([])
      expect(yield* conn.fetchval("SELECT count(*)::int4 FROM pg_cursors WHERE name <> ''")).toBe(0)
      expect(
        yield* conn.fetchval("SELECT count(*)::int4 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
      ).toBe(0)
      yield* conn.execute("DO $$ BEGIN RAISE NOTICE 'after reset'; END $$")
      expect(logs).toEqual([])
      yield* conn.execute("NOTIFY reset_chan, 'x'")
      expect(heard).toEqual([])
      // Connection.resetSession is the same, for a pool
      yield* conn.execute("SET work_mem = '8MB'")
      yield* Connection.resetSession(conn)
      expect(yield* conn.fetchval("SHOW work_mem")).not.toBe("8MB")
    }))
})
