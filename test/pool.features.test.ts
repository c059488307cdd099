/**
 * What pgxpool and HikariCP users expect of a pool beyond asyncpg's: a
 * minSize floor kept without anyone asking, maxLifetime, a ping before an
 * idle connection is handed out, maxWaiting, resize at run time, leak
 * detection, and pgxpool-like stats. Against real servers (throwaway
 * clusters, and the tests' own proxy for a dead network).
 */
import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { afterEach, vi } from "vitest"
import { PgPool } from "../src/Pool.js"
import { throwawayCluster } from "./support/cluster.js"
import { TEST_DSN, uniqueName } from "./support/db.js"
import { hold, makePool, range, tagOf, until } from "./support/pool.js"
import { tcpProxy, throughProxy } from "./support/proxy.js"

afterEach(() => {
  vi.restoreAllMocks()
})

describe("PgPool floor and lifetime", () => {
  it.live("minSize is a floor: after a server restart the pool has minSize connections again, with no acquire", () =>
    Effect.gen(function* () {
      const cluster = yield* throwawayCluster({})
      const app = uniqueName("floor")
      const pool = yield* PgPool.make({ host: cluster.host, port: cluster.port, user: "postgres", database: "postgres", applicationName: app, minSize: 3, maxSize: 5 })
      const backends = () => Number(cluster.psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = '${app}'`).trim())
      expect(backends()).toBe(3)
      yield* Effect.promise(() => cluster.restartFastAsync())
      const started = Date.now()
      // usually within 1-2 s; a connect that lands in the restart's gap can take longer (see the note)
      const n = yield* until(Effect.sync(backends), (k) => k === 3, 20_000)
      expect(n).toBe(3)
      expect(Date.now() - started).toBeLessThan(20_000)
      expect(yield* until(Effect.sync(() => pool.getSize()), (k) => k === 3, 2000)).toBe(3)
      expect(pool.stats().acquires).toBe(0)
    }), 45_000)

  it.live("a connection older than maxLifetime is never handed out; it is retired while idle too", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1, maxLifetime: "300 millis", maxLifetimeJitter: 0 })
      const first = yield* pool.withConnection((c) => Effect.succeed(c.getServerPid()))
      yield* Effect.sleep("450 millis")
      // retired while idle: the floor opened a new one already
      expect(pool.stats().closedByReason["lifetime"]).toBeGreaterThanOrEqual(1)
      const second = yield* pool.withConnection((c) => Effect.succeed(c.getServerPid()))
      expect(second).not.toBe(first)
      // and at release: a lease that outlives the lifetime goes away when it comes back
      const conn = yield* hold(pool)
      const pid = conn.getServerPid()
      yield* Effect.sleep("350 millis")
      yield* pool.release(conn)
      const third = yield* pool.withConnection((c) => Effect.succeed(c.getServerPid()))
      expect(third).not.toBe(pid)
    }))
})

describe("PgPool health", () => {
  it.live("an idle connection black-holed by the network is detected by the ping and replaced before acquire returns", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* PgPool.make({
        ...throughProxy(proxy),
        applicationName: uniqueName("ping"),
        minSize: 1,
        maxSize: 1,
        pingIdleThreshold: "100 millis",
        pingTimeout: "300 millis",
        healthCheckPeriod: 0
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => proxy.reset()))
      const before = yield* pool.withConnection((c) => Effect.succeed(c.getServerPid()))
      // the existing socket goes dead; new connections pass again
      proxy.blackhole()
      proxy.pass()
      yield* Effect.sleep("150 millis")
      const started = performance.now()
      const after = yield* pool.withConnection((c) => c.fetchval("SELECT pg_backend_pid()"), { timeout: "3 seconds" })
      expect(after).not.toBe(before)
      expect(performance.now() - started).toBeLessThan(1500)
      expect(pool.stats().closedByReason["broken"]).toBeGreaterThanOrEqual(1)
    }))
})

describe("PgPool health: the acquire deadline holds whatever the number of dead idle connections", () => {
  it.live("20 idle connections black-holed past pingIdleThreshold: acquire({ timeout: 500 ms }) fails within 620 ms (the old pool took 700+)", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* PgPool.make({
        ...throughProxy(proxy),
        applicationName: uniqueName("pingdl"),
        minSize: 20,
        maxSize: 20,
        pingIdleThreshold: "100 millis",
        healthCheckPeriod: 0
      })
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          proxy.pass()
          proxy.reset()
        })
      )
      expect(pool.getIdleSize()).toBe(20)
      yield* Effect.sleep("200 millis")
      proxy.blackhole()
      const started = performance.now()
      const err = yield* Effect.flip(Effect.timeout(Effect.scoped(pool.acquire({ timeout: 500 })), 5_000))
      const ms = performance.now() - started
      expect(err._tag).toBe("AcquireTimeoutError")
      // one connection after another, each pinged with at least a 1 ms timer, took 825 ms here
      expect(ms).toBeLessThan(620)
    }))
})

describe("PgPool probe after a silent timeout", () => {
  it.live("a slow statement timed out on a live server: the probe finds the other connections alive and closes nothing else", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 3, maxSize: 3 })
      const pids = new Set<number>()
      yield* Effect.forEach(range(3), () => pool.withConnection((c) => Effect.andThen(Effect.sleep("50 millis"), Effect.sync(() => pids.add(c.getServerPid())))), {
        concurrency: 3
      })
      expect(pids.size).toBe(3)
      // 400 ms of silence from the server: the pool probes its idle connections
      const err = yield* Effect.flip(pool.fetchval("SELECT pg_sleep(3)", [], { timeout: "400 millis" }))
      expect(tagOf(err)).toBe("CommandTimeoutError")
      yield* Effect.sleep("700 millis")
      const stats = pool.stats()
      expect(stats.closedByReason["health"]).toBeUndefined()
      expect(stats.closedByReason["interrupted"]).toBe(1)
      // the two that stayed idle are the same backends as before; the floor replaced the third
      expect(yield* until(Effect.sync(() => pool.getSize()), (n) => n === 3, 3000)).toBe(3)
      const after = new Set<number>()
      yield* Effect.forEach(range(3), () => pool.withConnection((c) => Effect.andThen(Effect.sleep("50 millis"), Effect.sync(() => after.add(c.getServerPid())))), {
        concurrency: 3
      })
      expect([...after].filter((p) => pids.has(p)).length).toBe(2)
    }))
})

describe("PgPool admission and sizing", () => {
  it.live("maxWaiting 10 with 50 waiters: 40 PoolExhaustedError at once, the 10 waiting are served", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1, maxWaiting: 10 })
      const held = yield* hold(pool)
      const started = performance.now()
      const fibers = yield* Effect.forEach(range(50), () => Effect.forkChild(Effect.exit(pool.withConnection((c) => c.fetchval("SELECT 1"), { timeout: "5 seconds" }))))
      yield* Effect.sleep("50 millis")
      expect(pool.stats().waiting).toBe(10)
      yield* pool.release(held)
      const exits = yield* Effect.forEach(fibers, Fiber.join)
      const tags = exits.map((x) => (Exit.isSuccess(x) ? "ok" : tagOf(Exit.findErrorOption(x).pipe((o) => (o._tag === "Some" ? o.value : "defect")))))
      expect(tags.filter((t) => t === "PoolExhaustedError").length).toBe(40)
      expect(tags.filter((t) => t === "ok").length).toBe(10)
      expect(pool.stats().exhausted).toBe(40)
      expect(performance.now() - started).toBeLessThan(3000)
    }))

  it.live("resize at run time: more connections at once after growing, fewer after shrinking", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })
      yield* pool.resize(1, 3)
      const three = yield* Effect.all(range(3).map(() => hold(pool, { timeout: "2 seconds" })), { concurrency: "unbounded" })
      expect(new Set(three.map((c) => c.getServerPid())).size).toBe(3)
      yield* pool.resize(1, 1)
      yield* Effect.forEach(three, (c) => pool.release(c))
      yield* until(Effect.sync(() => pool.getSize()), (n) => n === 1, 2000)
      expect(pool.getSize()).toBe(1)
      expect(pool.getMaxSize()).toBe(1)
      const bad = yield* Effect.flip(pool.resize(3, 2))
      expect(tagOf(bad)).toBe("InterfaceError")
    }))

  it.live("leakDetectionThreshold logs where a connection still borrowed was acquired", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      for (const m of ["log", "warn", "error", "info"] as const) {
        vi.spyOn(console, m).mockImplementation((...args: Array<unknown>) => {
          lines.push(args.map(String).join(" "))
        })
      }
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1, leakDetectionThreshold: "100 millis" })
      const conn = yield* hold(pool)
      yield* Effect.sleep("250 millis")
      yield* pool.release(conn)
      const warning = lines.find((l) => l.includes("borrowed for more than 100 ms"))
      expect(warning).toBeDefined()
      expect(warning).toContain("acquired here")
    }))

  it.live("close() while connections are being opened: the attempts it cuts short are no server failure (no warning)", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      for (const m of ["log", "warn", "error", "info"] as const) {
        vi.spyOn(console, m).mockImplementation((...args: Array<unknown>) => {
          lines.push(args.map(String).join(" "))
        })
      }
      const { pool } = yield* makePool({ minSize: 0, maxSize: 10 })
      // ten callers make the pool open ten connections; close while they are on their way
      const callers = yield* Effect.forEach(range(10), () => Effect.forkChild(Effect.exit(pool.acquireUnscoped())))
      yield* Effect.yieldNow
      expect(pool.stats().waiting).toBeGreaterThan(0)
      yield* pool.close()
      const exits = yield* Effect.forEach(callers, Fiber.join)
      expect(exits.every(Exit.isFailure)).toBe(true)
      yield* Effect.sleep("50 millis")
      expect(lines.filter((l) => l.includes("could not open a connection"))).toEqual([])
    }))

  it.live("stats count waits, cancelled waits, timeouts and borrowed time", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 1 })
      const held = yield* hold(pool)
      yield* Effect.flip(pool.acquireUnscoped({ timeout: "50 millis" }))
      const waiter = yield* Effect.forkChild(pool.acquireUnscoped())
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(waiter)
      yield* Effect.sleep("30 millis")
      yield* pool.release(held)
      const s = pool.stats()
      expect(s.acquireTimeouts).toBe(1)
      expect(s.canceledAcquires).toBe(1)
      expect(s.borrowedMs).toBeGreaterThanOrEqual(90)
      expect(s.waiting).toBe(0)
    }))
})

describe("PgPool per-call timeouts of 0 or below (asyncpg: a method call's timeout <= 0 times out at once)", () => {
  it.live("acquire({ timeout: 0 }) is a try-acquire: an idle connection free now, else AcquireTimeoutError at once", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 1, pingIdleThreshold: "200 millis", healthCheckPeriod: 0 })
      // an idle connection, no ping due: served
      const conn = yield* pool.acquireUnscoped({ timeout: 0 })
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
      // exhausted: no waiting, whatever the form of "0 or below"
      for (const timeout of [0, "0 millis", -1, "-2 seconds"] as ReadonlyArray<Duration.Input>) {
        const started = performance.now()
        // (bounded, so a pool that waits fails the test instead of hanging it)
        const err = yield* Effect.flip(Effect.timeout(pool.acquireUnscoped({ timeout }), 1000))
        expect(err._tag).toBe("AcquireTimeoutError")
        expect(performance.now() - started).toBeLessThan(50)
        expect(tagOf(yield* Effect.flip(Effect.timeout(pool.withConnection(() => Effect.void, { timeout }), 1000)))).toBe("AcquireTimeoutError")
      }
      expect(pool.stats().waiting).toBe(0)
      yield* pool.release(conn)
      // idle past pingIdleThreshold: a ping is due, which takes time: no connection, and it stays idle
      yield* Effect.sleep("300 millis")
      expect(tagOf(yield* Effect.flip(pool.acquireUnscoped({ timeout: 0 })))).toBe("AcquireTimeoutError")
      expect(pool.getIdleSize()).toBe(1)
      // Infinity waits as long as it takes (here: the ping)
      yield* pool.withConnection((c) => c.fetchval("SELECT 1"), { timeout: Infinity })
      // not a duration: InterfaceError
      expect(tagOf(yield* Effect.flip(pool.acquireUnscoped({ timeout: Number.NaN })))).toBe("InterfaceError")
    }))

  it.live("pool-level queries with a timeout of 0 or below: CommandTimeoutError at once, nothing sent; options keep 0 = none", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 2, commandTimeout: 0, acquireTimeout: 0 })
      const table = uniqueName("t_zero_pool")
      yield* pool.execute(`CREATE TABLE ${table} (id int)`)
      yield* Effect.addFinalizer(() => Effect.ignore(pool.execute(`DROP TABLE ${table}`)))
      for (const timeout of [0, -1, "0 millis"] as ReadonlyArray<Duration.Input>) {
        const started = performance.now()
        expect(tagOf(yield* Effect.flip(pool.fetchval("SELECT pg_sleep(1)", [], { timeout })))).toBe("CommandTimeoutError")
        // shareable (arguments) and not (no arguments), on a busy pool too
        expect(tagOf(yield* Effect.flip(pool.execute(`INSERT INTO ${table} VALUES ($1)`, [1], { timeout })))).toBe("CommandTimeoutError")
        expect(tagOf(yield* Effect.flip(pool.execute(`INSERT INTO ${table} VALUES (2)`, [], { timeout })))).toBe("CommandTimeoutError")
        expect(performance.now() - started).toBeLessThan(100)
      }
      expect(yield* pool.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(0)
      expect(tagOf(yield* Effect.flip(pool.fetchval("SELECT 1", [], { timeout: Number.NaN })))).toBe("InterfaceError")
      // the pool's options keep 0 = none: a query and an acquire with no timeout of their own wait
      expect(yield* pool.fetchval("SELECT pg_sleep(0.2)::text || 'ok'")).toBe("ok")
      const a = yield* hold(pool)
      const b = yield* hold(pool)
      const waiter = yield* Effect.forkChild(pool.acquireUnscoped())
      yield* Effect.sleep("100 millis")
      yield* pool.release(a)
      const c = yield* Fiber.join(waiter)
      yield* pool.release(c)
      yield* pool.release(b)
    }))

  it.live("a waiter's deadline beyond a Node timer's range (acquireTimeout of 30 days) does not make the pool's timer fire every millisecond", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 1, acquireTimeout: "30 days" })
      yield* hold(pool)
      const timeouts = vi.spyOn(globalThis, "setTimeout")
      const waiter = yield* Effect.forkChild(pool.acquireUnscoped())
      yield* Effect.sleep("200 millis")
      // Node fires a delay beyond 2^31-1 ms after 1 ms: the timer would re-arm itself ~200 times
      const armed = timeouts.mock.calls.length
      timeouts.mockRestore()
      const waiting = pool.stats().waiting
      yield* Fiber.interrupt(waiter)
      expect(waiting).toBe(1)
      expect(armed).toBeLessThan(20)
    }))
})
