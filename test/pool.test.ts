/**
 * The pool against the real local server: sizes as the server sees them
 * (pg_stat_activity, filtered by a per-test application_name), hooks,
 * maxQueries, expiry, resets, timeouts, interruption, close/terminate,
 * pipelined pool-level queries and a server that refuses connections.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Connection from "../src/Connection.js"
import { PgPool, type PoolOptions } from "../src/Pool.js"
import { throwawayCluster } from "./support/cluster.js"
import { TEST_DSN, freePort, uniqueName } from "./support/db.js"
import { countOf, hold, makePool, observer, pidsOf, range, tagOf, until } from "./support/pool.js"

describe("PgPool: sizes as the server sees them", () => {
  it.live("minSize connections are open as soon as make() returns", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 3, maxSize: 6 })
      expect(yield* countOf(obs, app)).toBe(3)
      expect(pool.getSize()).toBe(3)
      expect(pool.getIdleSize()).toBe(3)
    }))

  it.live("200 concurrent callers never push the server past maxSize; idle ones above minSize close after the inactive lifetime", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 1, maxSize: 4, maxInactiveConnectionLifetime: "300 millis" })
      expect(yield* countOf(obs, app)).toBe(1)

      let running = true
      let max = 0
      let samples = 0
      const sampler = yield* Effect.forkChild(
        Effect.gen(function* () {
          while (running) {
            const n = yield* countOf(obs, app)
            samples++
            if (n > max) max = n
            yield* Effect.sleep("2 millis")
          }
        })
      )
      const results = yield* Effect.forEach(
        range(200),
        (i) =>
          i % 2 === 0
            ? pool.fetchval("SELECT $1::int4 FROM pg_sleep(0.005)", [i])
            : Effect.scoped(
                Effect.flatMap(pool.acquire(), (conn) => conn.fetchval("SELECT $1::int4 FROM pg_sleep(0.005)", [i]))
              ),
        { concurrency: "unbounded" }
      )
      running = false
      yield* Fiber.join(sampler)
      expect(results).toEqual(range(200))
      expect(samples).toBeGreaterThan(5)
      expect(max).toBeLessThanOrEqual(4)
      expect(max).toBeGreaterThanOrEqual(2)
      expect(pool.getSize()).toBeLessThanOrEqual(4)

      // idle connections above minSize are retired (the TTL is checked once per TTL: allow ~3x)
      const loadEnd = Date.now()
      const n = yield* until(countOf(obs, app), (c) => c <= 1, 3000)
      const took = Date.now() - loadEnd
      expect(n).toBe(1)
      // effect/Pool checks the TTL once per TTL: retirement lands between 1x and ~3x
      expect(took).toBeLessThan(1000)
      expect(pool.getSize()).toBe(1)
      // and the pool still works
      expect(yield* pool.fetchval("SELECT 1")).toBe(1)
    }))
})

describe("PgPool: connection lifecycle", () => {
  it.live("maxQueries: the backend pid changes after N queries on acquired connections", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 1, maxSize: 1, maxQueries: 3 })
      const pids: Array<number> = []
      for (let i = 0; i < 7; i++) {
        const pid = yield* pool.withConnection((conn) => conn.fetchval("SELECT pg_backend_pid()"))
        pids.push(pid as number)
      }
      const [a, , , b, , , c] = pids
      expect(pids).toEqual([a, a, a, b, b, b, c])
      expect(new Set([a, b, c]).size).toBe(3)
      // the retired backends are gone, only the current one is left
      expect(yield* until(pidsOf(obs, app), (p) => p.length === 1)).toEqual([c])
    }))

  it.live("maxQueries applies to pool-level queries on shared connections too", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1, maxQueries: 5 })
      const runs = (pids: ReadonlyArray<unknown>) => {
        const out: Array<number> = []
        let n = 0
        pids.forEach((p, i) => {
          n++
          if (pids[i + 1] !== p) (out.push(n), (n = 0))
        })
        return out
      }
      const sequential: Array<unknown> = []
      for (let i = 0; i < 20; i++) sequential.push(yield* pool.fetchval("SELECT pg_backend_pid()"))
      expect(runs(sequential)).toEqual([5, 5, 5, 5])
      const concurrent = yield* Effect.forEach(range(40), () => pool.fetchval("SELECT pg_backend_pid()"), { concurrency: "unbounded" })
      expect(runs(concurrent)).toEqual([5, 5, 5, 5, 5, 5, 5, 5])
      expect(new Set([...sequential, ...concurrent]).size).toBe(12)
    }))

  it.live("maxQueries holds for a burst of pool-level queries on a statement not yet prepared", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 0, maxSize: 2, maxQueries: 5 })
      const pids = yield* Effect.forEach(range(40), () => pool.fetchval("SELECT pg_backend_pid() AS burst"), { concurrency: "unbounded" })
      const perPid = new Map<unknown, number>()
      for (const p of pids) perPid.set(p, (perPid.get(p) ?? 0) + 1)
      expect(Math.max(...perPid.values())).toBeLessThanOrEqual(5)
    }))

  it.live("init runs once per new connection, setup once per acquire, reset once per release", () =>
    Effect.gen(function* () {
      const counts = { init: 0, setup: 0, reset: 0 }
      const initPids = new Set<number>()
      const { pool } = yield* makePool({
        minSize: 2,
        maxSize: 3,
        init: (c) => Effect.sync(() => (counts.init++, initPids.add(c.getServerPid()))),
        setup: () => Effect.sync(() => counts.setup++),
        reset: () => Effect.sync(() => counts.reset++)
      })
      expect(counts).toEqual({ init: 2, setup: 0, reset: 0 })

      // sequential acquires reuse connections: no new init
      for (let i = 0; i < 3; i++) {
        yield* Effect.scoped(Effect.flatMap(pool.acquire(), (c) => c.fetchval("SELECT 1")))
      }
      expect(counts).toEqual({ init: 2, setup: 3, reset: 3 })

      // three at once need a third connection: one more init
      yield* Effect.forEach(range(3), () => Effect.scoped(Effect.flatMap(pool.acquire(), (c) => Effect.andThen(Effect.sleep("20 millis"), c.fetchval("SELECT 1")))), {
        concurrency: "unbounded"
      })
      // the third connection was opened for the waiter; on a loaded box it may still be opening
      for (let i = 0; i < 200 && pool.stats().opening > 0; i++) yield* Effect.sleep("10 millis")
      expect(counts).toEqual({ init: 3, setup: 6, reset: 6 })
      expect(initPids.size).toBe(3)

      // manual acquire/release; a second release is a no-op
      const conn = yield* hold(pool)
      expect(counts.setup).toBe(7)
      expect(counts.reset).toBe(6)
      yield* pool.release(conn)
      yield* pool.release(conn)
      expect(counts).toEqual({ init: 3, setup: 7, reset: 7 })

      // a statement that needs its own connection is an acquire + release too
      yield* pool.execute("SET work_mem = '8MB'")
      expect(counts).toEqual({ init: 3, setup: 8, reset: 8 })
    }))

  it.live("pool-level queries on shared connections run setup as well as reset, once per borrowed connection", () =>
    Effect.gen(function* () {
      const counts = { setup: 0, reset: 0 }
      const { pool } = yield* makePool({
        minSize: 1,
        maxSize: 1,
        setup: () => Effect.sync(() => counts.setup++),
        reset: () => Effect.sync(() => counts.reset++)
      })
      yield* pool.fetchval("SELECT $1::int4", [1])
      // the lane goes back to the pool within a turn of the event loop
      yield* until(Effect.sync(() => counts.reset), (n) => n >= 1, 1000)
      expect(counts.setup).toBeGreaterThanOrEqual(1)
      expect(counts.setup).toBe(counts.reset)
      yield* Effect.forEach(range(50), (i) => pool.fetchval("SELECT $1::int4", [i]), { concurrency: "unbounded" })
      yield* until(Effect.sync(() => pool.getIdleSize()), (n) => n === 1, 1000)
      expect(counts.setup).toBe(counts.reset)
    }))

  it.live("expireConnections() replaces every pid: idle ones now, borrowed ones on release", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 3, maxSize: 3 })
      const before = yield* pidsOf(obs, app)
      expect(before.length).toBe(3)
      const borrowed = yield* hold(pool)
      const borrowedPid = borrowed.getServerPid()
      expect(before).toContain(borrowedPid)

      yield* pool.expireConnections()
      // the two idle ones are closed now; the borrowed one stays and still works
      const idleBefore = before.filter((p) => p !== borrowedPid)
      const afterExpire = yield* until(pidsOf(obs, app), (p) => idleBefore.every((x) => !p.includes(x)))
      expect(afterExpire.filter((p) => idleBefore.includes(p))).toEqual([])
      expect(afterExpire).toContain(borrowedPid)
      expect(yield* borrowed.fetchval("SELECT pg_backend_pid()")).toBe(borrowedPid)

      yield* pool.release(borrowed)
      const after = yield* until(pidsOf(obs, app), (p) => !p.includes(borrowedPid) && p.length === 3)
      expect(after.filter((p) => before.includes(p))).toEqual([])
      // what the pool hands out now is new
      const pids = yield* Effect.forEach(range(3), () => hold(pool), { concurrency: "unbounded" })
      for (const c of pids) expect(before).not.toContain(c.getServerPid())
      yield* Effect.forEach(pids, (c) => pool.release(c))
    }))

  it.live("setConnectArgs: new connections use the new serverSettings, existing ones keep theirs until expired", () =>
    Effect.gen(function* () {
      const app1 = uniqueName("pool")
      const app2 = uniqueName("pool")
      const pool = yield* PgPool.make({
        dsn: TEST_DSN,
        serverSettings: { application_name: app1 },
        minSize: 1,
        maxSize: 2
      })
      const show = (c: Connection.Connection) =>
        Effect.all([c.fetchval("SHOW application_name"), c.fetchval("SHOW timezone")])
      yield* pool.setConnectArgs(undefined, { serverSettings: { application_name: app2, timezone: "America/New_York" } })
      // the existing connection is handed out first and keeps its settings; a second one is new
      const [old, fresh] = yield* Effect.all([hold(pool), hold(pool)])
      expect((yield* show(old))[0]).toBe(app1)
      expect(yield* show(fresh)).toEqual([app2, "America/New_York"])
      yield* pool.release(old)
      yield* pool.release(fresh)
      // after expireConnections every connection has the new settings
      yield* pool.expireConnections()
      const both = yield* Effect.all([hold(pool), hold(pool)])
      for (const c of both) expect(yield* show(c)).toEqual([app2, "America/New_York"])
      yield* Effect.forEach(both, (c) => pool.release(c))
    }))

  it.live("setConnectArgs: serverSettings.application_name replaces the pool's applicationName option on new connections", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 0, maxSize: 1 })
      const app2 = uniqueName("pool")
      yield* pool.setConnectArgs(undefined, { serverSettings: { application_name: app2 } })
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW application_name"))).toBe(app2)
      expect(yield* countOf(obs, app2)).toBe(1)
      expect(yield* countOf(obs, app)).toBe(0)
      // and applicationName works the same way
      const app3 = uniqueName("pool")
      yield* pool.setConnectArgs(undefined, { applicationName: app3 })
      yield* pool.expireConnections()
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW application_name"))).toBe(app3)
    }))
})

describe("PgPool: release resets the connection", () => {
  it.live("a connection released inside a transaction is rolled back; the next acquirer is not in a transaction", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const table = uniqueName("pool_tx")
      yield* obs.execute(`CREATE TABLE ${table} (id int4)`)
      yield* Effect.addFinalizer(() => Effect.ignore(obs.execute(`DROP TABLE IF EXISTS ${table}`)))
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })

      const first = yield* Effect.scoped(
        Effect.gen(function* () {
          const conn = yield* pool.acquire()
          yield* conn.execute("BEGIN")
          yield* conn.execute(`INSERT INTO ${table} VALUES ($1)`, [1])
          expect(conn.isInTransaction()).toBe(true)
          const txid = yield* conn.fetchval("SELECT txid_current_if_assigned()::text")
          expect(txid).not.toBe(null)
          const now = yield* conn.fetchval("SELECT now()::text")
          return { pid: conn.getServerPid(), now }
        })
      )
      // the uncommitted row is gone
      expect(yield* obs.fetchval(`SELECT count(*)::int4 FROM ${table}`)).toBe(0)

      yield* Effect.sleep("5 millis")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const conn = yield* pool.acquire()
          expect(conn.getServerPid()).toBe(first.pid) // the same session, reused
          expect(conn.isInTransaction()).toBe(false)
          expect(yield* conn.fetchval("SELECT txid_current_if_assigned()::text")).toBe(null)
          expect(yield* conn.fetchval("SELECT now()::text")).not.toBe(first.now)
          // a failed transaction is rolled back too
          yield* conn.execute("BEGIN")
          yield* Effect.flip(conn.execute("SELECT 1/0"))
          expect(conn.isInTransaction()).toBe(true)
        })
      )
      const after = yield* pool.withConnection((conn) =>
        Effect.map(conn.fetchval("SELECT 1"), (v) => ({ v, inTx: conn.isInTransaction(), pid: conn.getServerPid() }))
      )
      expect(after).toEqual({ v: 1, inTx: false, pid: first.pid })
      expect(yield* obs.fetchval(`SELECT count(*)::int4 FROM ${table}`)).toBe(0)
    }))

  it.live("a connection used after release fails with InterfaceError", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })
      const conn = yield* hold(pool)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
      yield* pool.release(conn)
      const e = yield* Effect.flip(conn.fetchval("SELECT 1"))
      expect(e._tag).toBe("InterfaceError")
      expect(e.message).toContain("released back to the pool")
      // the same for a connection that escaped its acquire scope
      const leaked = yield* Effect.scoped(pool.acquire())
      const e2 = yield* Effect.flip(leaked.execute("SELECT 1"))
      expect(e2._tag).toBe("InterfaceError")
      expect(e2.message).toContain("released back to the pool")
      // while the next borrower of that same session is fine
      expect(yield* pool.withConnection((c) => c.fetchval("SELECT 2"))).toBe(2)
      // a connection the pool never gave out
      const stranger = yield* Connection.connect({ dsn: TEST_DSN })
      const e3 = yield* Effect.flip(pool.release(stranger))
      expect(e3._tag).toBe("InterfaceError")
    }))

  it.live("a session-changing pool-level statement does not leak to the next query or acquirer", () =>
    Effect.gen(function* () {
      // one connection, so every statement below runs on the same session
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })
      const pid = yield* pool.fetchval("SELECT pg_backend_pid()")
      expect(yield* pool.execute("SET statement_timeout = 1234")).toBe("SET")
      expect(yield* pool.fetchval("SHOW statement_timeout")).toBe("0")
      expect(yield* pool.fetchval("SELECT current_setting('statement_timeout')")).toBe("0")
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW statement_timeout"))).toBe("0")
      expect(yield* pool.fetchval("SELECT set_config('statement_timeout', '4321', false)")).toBe("4321ms")
      expect(yield* pool.fetchval("SHOW statement_timeout")).toBe("0")
      expect(yield* pool.fetchval("SELECT current_setting('statement_timeout')")).toBe("0")
      // SET on an acquired connection is reset on release as well
      yield* pool.withConnection((c) => c.execute("SET statement_timeout = 999"))
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW statement_timeout"))).toBe("0")
      expect(yield* pool.fetchval("SELECT pg_backend_pid()")).toBe(pid)
    }))
})

describe("PgPool: acquire timeouts and interruption", () => {
  it.live("acquire times out within 50 ms of its deadline when the pool is exhausted", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 2, maxSize: 2 })
      const held = yield* Effect.all([hold(pool), hold(pool)])
      for (const timeout of [100, 250]) {
        const started = performance.now()
        const e = yield* Effect.flip(Effect.scoped(pool.acquire({ timeout: `${timeout} millis` })))
        const took = performance.now() - started
        expect(e._tag).toBe("AcquireTimeoutError")
        expect(took).toBeGreaterThanOrEqual(timeout - 2)
        expect(took).toBeLessThan(timeout + 50)
      }
      // pool-level statements that need their own connection wait the same way
      const e = yield* Effect.flip(pool.withConnection((c) => c.fetchval("SELECT 1"), { timeout: "50 millis" }))
      expect(e._tag).toBe("AcquireTimeoutError")
      expect(pool.stats().acquireTimeouts).toBe(3)
      expect(pool.stats().waiting).toBe(0)
      // a waiter with a timeout gets a connection released before its deadline
      const waiter = yield* Effect.forkChild(pool.withConnection((c) => c.fetchval("SELECT 5"), { timeout: "1 second" }))
      yield* Effect.sleep("50 millis")
      yield* pool.release(held[0])
      expect(yield* Fiber.join(waiter)).toBe(5)
      yield* pool.release(held[1])
    }))

  it.live("release() takes back only this pool's leases: another pool's or a plain connection fails with InterfaceError", () =>
    Effect.gen(function* () {
      const { pool: a } = yield* makePool({ minSize: 1, maxSize: 1 })
      const { pool: b } = yield* makePool({ minSize: 1, maxSize: 1 })
      const { pool: wrapped } = yield* makePool({ minSize: 1, maxSize: 1, connectionClass: (c) => Object.assign(Object.create(c) as Connection.Connection, { tag: "mine" }) })
      const fromA = yield* a.acquireUnscoped()
      const plain = yield* Connection.connect(TEST_DSN)
      expect(tagOf(yield* Effect.flip(b.release(fromA)))).toBe("InterfaceError")
      expect(tagOf(yield* Effect.flip(b.release(plain as never)))).toBe("InterfaceError")
      // the lease in a is untouched: still usable, then released by its own pool
      expect(yield* fromA.fetchval("SELECT 7")).toBe(7)
      yield* a.release(fromA)
      expect(tagOf(yield* Effect.flip(fromA.fetchval("SELECT 1")))).toBe("InterfaceError")
      // a connectionClass instance goes back to its pool, and to no other
      const w = yield* wrapped.acquireUnscoped()
      expect(tagOf(yield* Effect.flip(a.release(w)))).toBe("InterfaceError")
      yield* wrapped.release(w)
      expect(wrapped.stats().borrowed).toBe(0)
    }))

  it.live("waiters with different deadlines in one queue each time out at their own (one timer serves them all)", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })
      const held = yield* hold(pool)
      const started = performance.now()
      const timed = (ms: number) =>
        Effect.forkChild(Effect.map(Effect.exit(Effect.scoped(pool.acquire({ timeout: `${ms} millis` }))), (exit) => ({ exit, took: performance.now() - started })))
      // queued first with the latest deadline, then earlier ones: each fires at its own time
      const late = yield* timed(3000)
      const mid = yield* timed(300)
      const early = yield* timed(120)
      const e = yield* Fiber.join(early)
      const m = yield* Fiber.join(mid)
      for (const [r, ms] of [[e, 120], [m, 300]] as const) {
        expect(Exit.isFailure(r.exit) && tagOf(Exit.findErrorOption(r.exit).pipe((o) => (o._tag === "Some" ? o.value : undefined)))).toBe("AcquireTimeoutError")
        expect(r.took).toBeGreaterThanOrEqual(ms - 2)
        expect(r.took).toBeLessThan(ms + 80)
      }
      // the one with the far deadline still waits, and gets the connection when it comes back
      expect(pool.stats().waiting).toBe(1)
      yield* pool.release(held)
      const l = yield* Fiber.join(late)
      expect(Exit.isSuccess(l.exit)).toBe(true)
      expect(l.took).toBeLessThan(1000)
      expect(pool.stats().acquireTimeouts).toBe(2)
    }))

  it.live("interrupting waiting acquirers leaks no slot: afterwards maxSize connections can be acquired at once", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 0, maxSize: 3 })
      const held = yield* Effect.all([hold(pool), hold(pool), hold(pool)], {
        concurrency: "unbounded"
      })
      const waiters = yield* Effect.forEach(range(10), (i) => Effect.forkChild(i % 2 === 0 ? Effect.scoped(pool.acquire()) : pool.acquireUnscoped()))
      yield* Effect.sleep("50 millis")
      expect(pool.stats().waiting).toBe(10)
      yield* Fiber.interruptAll(waiters)
      expect(pool.stats().waiting).toBe(0)

      // a release racing with the interruption of the waiter it would go to
      for (let i = 0; i < 20; i++) {
        const w = yield* Effect.forkChild(pool.acquireUnscoped())
        yield* Effect.sleep("2 millis")
        const conn = held.shift()!
        yield* Effect.all([pool.release(conn), Fiber.interrupt(w)], { concurrency: "unbounded" })
        const exit = yield* Fiber.await(w)
        // whoever won, the connection is back in circulation
        if (Exit.isSuccess(exit)) yield* pool.release(exit.value)
        held.push(yield* hold(pool, { timeout: "1 second" }))
      }
      yield* Effect.forEach(held, (c) => pool.release(c))

      // interrupted while the pool is opening a connection
      yield* pool.expireConnections()
      for (let i = 0; i < 10; i++) {
        const w = yield* Effect.forkChild(pool.acquireUnscoped())
        yield* Effect.sleep(`${i % 3} millis`)
        yield* Fiber.interrupt(w)
        // an acquirer that finished before the interrupt owns its connection
        const exit = yield* Fiber.await(w)
        if (Exit.isSuccess(exit)) yield* pool.release(exit.value)
      }

      const all = yield* Effect.all(range(3).map(() => hold(pool, { timeout: "2 seconds" })), { concurrency: "unbounded" })
      expect(new Set(all.map((c) => c.getServerPid())).size).toBe(3)
      const e = yield* Effect.flip(pool.acquireUnscoped({ timeout: "100 millis" }))
      expect(e._tag).toBe("AcquireTimeoutError")
      expect(yield* countOf(obs, app)).toBeLessThanOrEqual(3)
      expect(pool.stats().borrowed).toBe(3)
      yield* Effect.forEach(all, (c) => pool.release(c))
      expect(pool.stats().borrowed).toBe(0)
    }))

  it.live("a server with too few connection slots gives TooManyConnectionsError through make and acquire", () =>
    Effect.gen(function* () {
      const cluster = yield* throwawayCluster({ conf: { max_connections: "3", superuser_reserved_connections: "0" } })
      const dsn = `postgres://postgres@127.0.0.1:${cluster.port}/postgres`
      const clientBackends = () =>
        Number(cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").trim())

      const e = yield* Effect.flip(Effect.scoped(PgPool.make({ dsn, minSize: 5, maxSize: 5 })))
      expect(e._tag).toBe("TooManyConnectionsError")
      // the connections that did open were closed again
      yield* until(Effect.sync(clientBackends), (n) => n === 0)
      expect(clientBackends()).toBe(0)

      // a pool that starts small and cannot grow past the server's limit: callers wait for the
      // connections it has (within their timeout), they never receive the growth error
      const pool = yield* PgPool.make({ dsn, minSize: 1, maxSize: 5 })
      const exits = yield* Effect.forEach(range(5), () => Effect.exit(hold(pool, { timeout: "1 second" })), {
        concurrency: "unbounded"
      })
      const ok = exits.filter(Exit.isSuccess).map((x) => x.value)
      const failures = exits.filter(Exit.isFailure).map((x) => Exit.findErrorOption(x))
      expect(ok.length).toBe(3)
      expect(failures.length).toBe(2)
      expect(failures.every((f) => f._tag === "Some" && tagOf(f.value) === "AcquireTimeoutError")).toBe(true)
      // a waiter is served by a release while growth keeps failing
      const waiter = yield* Effect.forkChild(hold(pool, { timeout: "2 seconds" }))
      yield* Effect.sleep("100 millis")
      yield* pool.release(ok[0]!)
      const served = yield* Fiber.join(waiter)
      yield* Effect.forEach([served, ...ok.slice(1)], (c) => pool.release(c))
      // failed connects took no permit: three connections can still be borrowed at once
      const again = yield* Effect.all(range(3).map(() => hold(pool, { timeout: "2 seconds" })), { concurrency: "unbounded" })
      expect(again.length).toBe(3)
      yield* Effect.forEach(again, (c) => pool.release(c))
      yield* pool.close()
      yield* until(Effect.sync(clientBackends), (n) => n === 0)
      expect(clientBackends()).toBe(0)
    }))

  it.live("make() against a port nobody listens on fails fast with PostgresConnectionError", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const dsn = `postgres://root@127.0.0.1:${port}/test`
      const started = Date.now()
      const e = yield* Effect.flip(Effect.scoped(PgPool.make({ dsn, minSize: 2, maxSize: 2 })))
      expect(e._tag).toBe("PostgresConnectionError")
      expect(Date.now() - started).toBeLessThan(2000)
      // with minSize 0 the pool starts, and the first acquire fails the same way
      const pool = yield* PgPool.make({ dsn, minSize: 0, maxSize: 2 })
      const e2 = yield* Effect.flip(pool.acquireUnscoped({ timeout: "2 seconds" }))
      expect(e2._tag).toBe("PostgresConnectionError")
      const e3 = yield* Effect.flip(pool.fetchval("SELECT $1::int4", [1]))
      expect(e3._tag).toBe("PostgresConnectionError")
    }))
})

describe("PgPool: close and terminate", () => {
  it.live("close() waits for the borrowed connection, then closes everything; afterwards PoolClosedError", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 2, maxSize: 3 })
      const conn = yield* hold(pool)
      // pool-level queries in flight when close starts finish normally
      const inFlight = yield* Effect.forkChild(
        Effect.forEach(range(20), (i) => pool.fetchval("SELECT $1::int4 FROM pg_sleep(0.02)", [i]), { concurrency: "unbounded" })
      )
      // every query is on a shared connection before close starts
      yield* until(Effect.sync(() => pool.stats().sharedQueries), (n) => n === 20, 2000)
      let closedAt = 0
      const closer = yield* Effect.forkChild(Effect.andThen(pool.close(), Effect.sync(() => (closedAt = performance.now()))))
      yield* Effect.sleep("150 millis")
      expect(closedAt).toBe(0)
      expect(pool.isClosing()).toBe(true)
      expect(yield* Fiber.join(inFlight)).toEqual(range(20))

      expect(tagOf(yield* Effect.flip(Effect.scoped(pool.acquire())))).toBe("PoolClosedError")
      expect(tagOf(yield* Effect.flip(pool.acquireUnscoped({ timeout: "1 second" })))).toBe("PoolClosedError")
      expect(tagOf(yield* Effect.flip(pool.fetchval("SELECT $1::int4", [1])))).toBe("PoolClosedError")
      expect(tagOf(yield* Effect.flip(pool.execute("SET work_mem = '8MB'")))).toBe("PoolClosedError")
      // the borrower can still use its connection
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
      yield* Effect.sleep("100 millis")
      expect(closedAt).toBe(0)

      const releasedAt = performance.now()
      yield* pool.release(conn)
      yield* Fiber.join(closer)
      expect(closedAt).toBeGreaterThanOrEqual(releasedAt)
      expect(closedAt - releasedAt).toBeLessThan(500)
      expect(yield* until(countOf(obs, app), (n) => n === 0)).toBe(0)
      expect(pool.getSize()).toBe(0)
      // closing again is a no-op
      yield* pool.close()
      expect(tagOf(yield* Effect.flip(pool.fetchval("SELECT 1")))).toBe("PoolClosedError")
    }))

  it.live("close() with an acquirer waiting: the waiter gets PoolClosedError, close ends once the borrower releases", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })
      const conn = yield* hold(pool)
      const waiter = yield* Effect.forkChild(Effect.flip(Effect.scoped(pool.acquire())))
      const waiter2 = yield* Effect.forkChild(Effect.flip(pool.withConnection((c) => c.fetchval("SELECT 1"), { timeout: "5 seconds" })))
      yield* Effect.sleep("30 millis")
      expect(pool.stats().waiting).toBe(2)
      const closer = yield* Effect.forkChild(pool.close())
      yield* Effect.sleep("30 millis")
      yield* pool.release(conn)
      expect(tagOf(yield* Fiber.join(waiter))).toBe("PoolClosedError")
      expect(tagOf(yield* Fiber.join(waiter2))).toBe("PoolClosedError")
      yield* Fiber.join(closer)
      expect(pool.getSize()).toBe(0)
    }))

  it.live("terminate() ends at once: a borrower's in-flight query fails with a typed error", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 2, maxSize: 2 })
      const before = yield* pidsOf(obs, app)
      const conn = yield* hold(pool)
      const busyPid = conn.getServerPid()
      const query = yield* Effect.forkChild(Effect.flip(conn.fetchval("SELECT pg_sleep(1)")))
      yield* Effect.sleep("100 millis")
      const started = performance.now()
      yield* pool.terminate()
      const e = yield* Fiber.join(query)
      expect(performance.now() - started).toBeLessThan(500)
      expect(["ConnectionDoesNotExistError", "PostgresConnectionError"]).toContain(tagOf(e))
      expect(pool.isClosing()).toBe(true)
      expect(tagOf(yield* Effect.flip(pool.fetchval("SELECT $1::int4", [1])))).toBe("PoolClosedError")
      expect(tagOf(yield* Effect.flip(pool.acquireUnscoped()))).toBe("PoolClosedError")
      const e2 = yield* Effect.flip(conn.fetchval("SELECT 1"))
      expect(["ConnectionDoesNotExistError", "InterfaceError"]).toContain(tagOf(e2))
      // the idle backend is gone at once (the busy one exits when its pg_sleep ends)
      const idle = before.filter((p) => p !== busyPid)
      const left = yield* until(pidsOf(obs, app), (p) => idle.every((x) => !p.includes(x)), 1000)
      expect(left.filter((p) => idle.includes(p))).toEqual([])
      yield* pool.release(conn)
      yield* pool.terminate()
      yield* pool.close()
    }))
})

describe("PgPool: options and hooks", () => {
  it.live("invalid options fail at construction with InterfaceError", () =>
    Effect.gen(function* () {
      const bad: Array<PoolOptions> = [
        { minSize: 5, maxSize: 2 },
        { minSize: -1, maxSize: 2 },
        { maxSize: 0, minSize: 0 },
        { maxSize: -3, minSize: 0 },
        { maxSize: 1.5, minSize: 0 },
        { minSize: 0, maxSize: 1, maxQueries: 0 },
        { minSize: 0, maxSize: 1, maxInactiveConnectionLifetime: -1 }
      ]
      for (const options of bad) {
        const e = yield* Effect.flip(Effect.scoped(PgPool.make({ dsn: TEST_DSN, ...options })))
        expect(e._tag).toBe("InterfaceError")
        expect(e.message).toContain("invalid pool options")
      }
      const e = yield* Effect.flip(Effect.scoped(PgPool.make({ dsn: "postgres://root@127.0.0.1:notaport/test", minSize: 0, maxSize: 1 })))
      expect(e._tag).toBe("InterfaceError")
    }))

  it.live("a failing setup gives PoolHookError and the connection is discarded", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      let calls = 0
      let failedPid = 0
      const { pool, app } = yield* makePool({
        minSize: 1,
        maxSize: 1,
        setup: (c) =>
          Effect.suspend(() => {
            calls++
            if (calls !== 2) return Effect.void
            failedPid = c.getServerPid()
            return Effect.fail(new Error("setup says no"))
          })
      })
      const first = yield* pool.withConnection((c) => Effect.succeed(c.getServerPid()))
      const e = yield* Effect.flip(pool.withConnection((c) => c.fetchval("SELECT 1")))
      expect(e._tag).toBe("PoolHookError")
      if (e._tag === "PoolHookError") {
        expect(e.hook).toBe("setup")
        expect(e.message).toContain("setup says no")
      }
      expect(failedPid).toBe(first)
      const third = yield* pool.withConnection((c) => Effect.succeed(c.getServerPid()))
      expect(third).not.toBe(failedPid)
      expect(yield* until(pidsOf(obs, app), (p) => !p.includes(failedPid))).toEqual([third])
      expect(pool.stats().borrowed).toBe(0)
    }))

  it.live("a failing setup fails a pool-level query on a shared connection with PoolHookError too", () =>
    Effect.gen(function* () {
      let fail = true
      const { pool } = yield* makePool({
        minSize: 1,
        maxSize: 2,
        setup: () => (fail ? Effect.fail("not now") : Effect.void)
      })
      const e = yield* Effect.flip(pool.fetchval("SELECT $1::int4", [1]))
      expect(e._tag).toBe("PoolHookError")
      fail = false
      expect(yield* pool.fetchval("SELECT $1::int4", [2])).toBe(2)
      yield* until(Effect.sync(() => pool.stats().borrowed), (n) => n === 0, 1000)
      expect(pool.stats().borrowed).toBe(0)
    }))

  it.live("release({ timeout }) gives up on a slow reset and discards the connection", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 1, maxSize: 1, reset: (c) => c.execute("SELECT pg_sleep(2)") })
      const conn = yield* hold(pool)
      const pid = conn.getServerPid()
      const started = performance.now()
      yield* pool.release(conn, { timeout: "50 millis" })
      expect(performance.now() - started).toBeLessThan(500)
      const next = yield* pool.acquireUnscoped({ timeout: "2 seconds" })
      expect(next.getServerPid()).not.toBe(pid)
      expect(yield* until(pidsOf(obs, app), (p) => !p.includes(pid))).toEqual([next.getServerPid()])
      yield* Effect.addFinalizer(() => Effect.ignore(pool.release(next, { timeout: "10 millis" })))
    }))

  it.live("a failing init fails make() with PoolHookError and leaves no connection open", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const app = uniqueName("pool")
      const e = yield* Effect.flip(
        Effect.scoped(
          PgPool.make({ dsn: TEST_DSN, applicationName: app, minSize: 2, maxSize: 2, init: () => Effect.fail("no init") })
        )
      )
      expect(e._tag).toBe("PoolHookError")
      if (e._tag === "PoolHookError") expect(e.hook).toBe("init")
      expect(yield* until(countOf(obs, app), (n) => n === 0)).toBe(0)
    }))
})

describe("PgPool: pool-level queries", () => {
  it.live("slow pool-level queries spread over connections instead of queuing behind each other", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 4, maxSize: 4 })
      // measured once, so the pool knows the statement is slow
      yield* pool.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.2)")
      const started = Date.now()
      const pids = yield* Effect.forEach(range(4), () => pool.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.2)"), {
        concurrency: "unbounded"
      })
      // one after another on one connection would take 800 ms
      expect(Date.now() - started).toBeLessThan(600)
      expect(new Set(pids).size).toBe(4)
    }))

  it.live("fast pool-level queries are packed onto few connections", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 4, maxSize: 4 })
      for (let i = 0; i < 20; i++) yield* pool.fetchval("SELECT pg_backend_pid()")
      // spread out they would take all 4; packed, fewer (2 when the box is quiet). A loaded box makes
      // the statement look slower than it is for a burst or two: the best of three bursts counts
      let fewest = Infinity
      for (let burst = 0; burst < 3 && fewest > 2; burst++) {
        const pids = yield* Effect.forEach(range(40), () => pool.fetchval("SELECT pg_backend_pid()"), { concurrency: "unbounded" })
        fewest = Math.min(fewest, new Set(pids).size)
      }
      expect(fewest).toBeLessThanOrEqual(3)
    }))

  it.live("interrupting some pool-level queries does not fail the others pipelined on the same connection", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })
      // prepared first, so every query below is on the wire at once
      yield* pool.fetchval("SELECT $1::int4 FROM pg_sleep(0.01)", [0])
      const fibers = yield* Effect.forEach(range(40), (i) => Effect.forkChild(pool.fetchval("SELECT $1::int4 FROM pg_sleep(0.01)", [i])))
      yield* Effect.sleep("30 millis")
      yield* Fiber.interruptAll(fibers.filter((_, i) => i % 2 === 0))
      const survivors = yield* Effect.forEach(
        fibers.filter((_, i) => i % 2 === 1),
        (f) => Effect.map(Fiber.await(f), (exit) => (Exit.isSuccess(exit) ? exit.value : tagOf(Exit.findErrorOption(exit).pipe((o) => (o._tag === "Some" ? o.value : "interrupted")))))
      )
      expect(survivors).toEqual(range(40).filter((i) => i % 2 === 1))
      expect(yield* pool.withConnection((c) => c.fetchval("SELECT 1"), { timeout: "2 seconds" })).toBe(1)
    }))

  it.live("1,000 concurrent pool.fetchval calls are pipelined on shared connections, each gets its own value", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const { pool, app } = yield* makePool({ minSize: 1, maxSize: 3 })
      const values = yield* Effect.forEach(range(1000), (i) => pool.fetchval("SELECT $1::int", [i]), { concurrency: "unbounded" })
      expect(values).toEqual(range(1000))
      expect(pool.stats().sharedQueries).toBeGreaterThanOrEqual(1000)
      expect(yield* countOf(obs, app)).toBeLessThanOrEqual(3)
      // and mixed with other pool-level methods
      const mixed = yield* Effect.forEach(
        range(300),
        (i) =>
          i % 3 === 0
            ? Effect.map(pool.fetchrow("SELECT $1::int4 AS n", [i]), (r) => r!.n as number)
            : i % 3 === 1
              ? Effect.map(pool.fetch("SELECT generate_series(1, $1::int4) AS g", [i]), (rows) => rows.length)
              : Effect.map(pool.fetchval("SELECT $1::text", [`v${i}`]), (v) => v),
        { concurrency: "unbounded" }
      )
      expect(mixed).toEqual(range(300).map((i) => (i % 3 === 0 ? i : i % 3 === 1 ? i : `v${i}`)))
      // the lanes go back: nothing stays borrowed
      yield* until(Effect.sync(() => pool.stats().borrowed), (n) => n === 0, 1000)
      expect(pool.stats().borrowed).toBe(0)
    }))

  it.live("an acquirer is not starved by pool-level traffic holding every connection as shared lanes", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 2 })
      let stop = false
      const load = yield* Effect.forkChild(
        Effect.forEach(
          range(16),
          () =>
            Effect.gen(function* () {
              while (!stop) yield* pool.fetchval("SELECT $1::int4 FROM pg_sleep(0.005)", [1])
            }),
          { concurrency: "unbounded" }
        )
      )
      yield* Effect.sleep("100 millis")
      for (let i = 0; i < 3; i++) {
        const started = performance.now()
        expect(yield* pool.withConnection((c) => c.fetchval("SELECT 42"), { timeout: "2 seconds" })).toBe(42)
        expect(performance.now() - started).toBeLessThan(500)
      }
      stop = true
      yield* Fiber.join(load)
    }))

  it.live("a failing pool-level query fails alone; the others on the same shared connection succeed", () =>
    Effect.gen(function* () {
      const { pool } = yield* makePool({ minSize: 1, maxSize: 1 })
      const exits = yield* Effect.forEach(
        range(100),
        (i) => Effect.exit(pool.fetchval(i % 10 === 5 ? "SELECT 1 / ($1::int4 - $1::int4)" : "SELECT $1::int4", [i])),
        { concurrency: "unbounded" }
      )
      exits.forEach((exit, i) => {
        if (i % 10 === 5) {
          expect(Exit.isFailure(exit)).toBe(true)
          const err = Exit.findErrorOption(exit)
          expect(err._tag === "Some" && tagOf(err.value)).toBe("DivisionByZeroError")
        } else {
          expect(exit).toEqual(Exit.succeed(i))
        }
      })
    }))
})
