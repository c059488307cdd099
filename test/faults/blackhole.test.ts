/**
 * Deadlines under a network partition. The pool talks to the local server
 * through the tests' proxy; the proxy is switched to `blackhole`: every byte
 * is swallowed, every socket stays open, new connections are accepted and
 * never answered. Nothing the client waits for will ever come.
 *
 * Specification (DESIGN.md, "Deadlines are deadlines, also when the network is
 * black-holed: no hidden grace periods"):
 * - a pool-level call with `{ timeout: 500 ms }` fails with CommandTimeoutError
 *   or AcquireTimeoutError within 600 ms; same with `commandTimeout: 500 ms`
 *   on the pool and no per-call timeout;
 * - `acquire({ timeout: 500 ms })` answers within 600 ms; leaving its scope
 *   after a `SET` (a reset is due) returns within 600 ms when the pool's
 *   commandTimeout is 500 ms;
 * - `release(conn, { timeout: 500 ms })` returns within 600 ms;
 * - `close()` of a pool of 10 with `closeTimeout: 1 second` returns within 1.5 s
 *   (connections closed in parallel, each bounded by closeTimeout).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import * as PgPool from "../../src/Pool.js"
import { uniqueName } from "../support/db.js"
import { healAtEnd, type Proxy, tcpProxy, throughProxy } from "../support/proxy.js"
import { settleWithin, type Settled } from "../support/storm.js"

const TIMEOUT_MS = 500
const SLACK_MS = 100
const CAP_MS = 5_000
const TIMEOUT_TAGS = ["CommandTimeoutError", "AcquireTimeoutError"]

/**
 * A pool through `proxy`. Its scope ends by healing the partition (reset: every
 * socket destroyed) before the pool's own finalizer runs, so a pool that cannot
 * close under a black hole fails its test instead of hanging the file.
 */
const poolThrough = (proxy: Proxy, extra: Partial<PgPool.PoolOptions> = {}) =>
  Effect.tap(
    PgPool.make({
      ...throughProxy(proxy),
      applicationName: uniqueName("bhole"),
      minSize: 4,
      maxSize: 4,
      timeout: "2 seconds",
      ...extra
    }),
    () => healAtEnd(proxy)
  )

const describeAll = (xs: ReadonlyArray<Settled>) => xs.map((x) => `${x.outcome} ${x.ms} ms`).join(", ")

/** `n` concurrent pool-level echo calls; each must time out, typed, within the bound. */
const expectAllTimeOut = (settled: ReadonlyArray<Settled>, what: string) => {
  const bad = settled.filter((s) => !TIMEOUT_TAGS.includes(s.outcome) || s.ms > TIMEOUT_MS + SLACK_MS)
  expect(bad, `${what}: ${describeAll(settled)}`).toEqual([])
}

describe("black-holed network", () => {
  it.live("pool-level calls with { timeout: 500 ms }: typed timeout within 600 ms, two waves", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* poolThrough(proxy)
      // the path works before the partition
      expect(yield* pool.fetchval("SELECT $1::int", [7], { timeout: "2 seconds" })).toBe(7)
      proxy.blackhole()
      for (const wave of [1, 2]) {
        const settled = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i),
          (i) => settleWithin(pool.fetchval("SELECT $1::int", [i], { timeout: `${TIMEOUT_MS} millis` }), CAP_MS),
          { concurrency: "unbounded" }
        )
        expect(settled.length).toBe(12)
        expectAllTimeOut(settled, `wave ${wave}`)
      }
      expect(proxy.stats().bytesDropped, "nothing reached the black hole: the test did not test it").toBeGreaterThan(0)
    }), 30_000)

  it.live("commandTimeout: 500 ms on the pool, no per-call timeout: same bound", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* poolThrough(proxy, { commandTimeout: `${TIMEOUT_MS} millis` })
      expect(yield* pool.fetchval("SELECT $1::int", [7])).toBe(7)
      proxy.blackhole()
      for (const wave of [1, 2]) {
        const settled = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i),
          (i) => settleWithin(pool.fetchval("SELECT $1::int", [i]), CAP_MS),
          { concurrency: "unbounded" }
        )
        expectAllTimeOut(settled, `wave ${wave}`)
      }
    }), 30_000)

  it.live("leaving an acquire scope after a SET (a reset is due) returns within 600 ms with commandTimeout 500 ms", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* poolThrough(proxy, { commandTimeout: `${TIMEOUT_MS} millis` })
      // a connection made dirty before the partition: releasing it must reset it
      const scope = yield* Scope.make()
      const conn = yield* pool.acquire({ timeout: `${TIMEOUT_MS} millis` }).pipe(Scope.provide(scope))
      yield* conn.execute("SET work_mem = '8MB'")
      proxy.blackhole()
      const leave = yield* settleWithin(Scope.close(scope, Exit.void), CAP_MS)
      expect(leave.outcome, `leaving the scope: ${leave.outcome} after ${leave.ms} ms`).toBe("ok")
      expect(leave.ms, `leaving the scope took ${leave.ms} ms`).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS)

    }), 30_000)

  it.live("acquire({ timeout: 500 ms }) that must open a connection through the black hole: AcquireTimeoutError within 600 ms", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* poolThrough(proxy, { minSize: 1, maxSize: 2 })
      // the only open connection is held: the next acquire has to connect
      const held = yield* pool.acquireUnscoped({ timeout: "2 seconds" })
      // given back at the end, after the partition is healed (reset), so the pool's close does not wait for it
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          proxy.pass()
          proxy.reset()
        }).pipe(Effect.andThen(pool.release(held)), Effect.ignore)
      )
      expect(yield* held.fetchval("SELECT $1::int", [3])).toBe(3)
      const before = proxy.stats().connections
      proxy.blackhole()
      const acquired = yield* settleWithin(
        Effect.scoped(Effect.map(pool.acquire({ timeout: `${TIMEOUT_MS} millis` }), (c) => c.getServerPid())),
        CAP_MS
      )
      expect(acquired.outcome, `acquire: ${acquired.outcome} after ${acquired.ms} ms`).toBe("AcquireTimeoutError")
      expect(acquired.ms, `acquire took ${acquired.ms} ms`).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS)
      expect(proxy.stats().connections, "the acquire did not try to connect").toBeGreaterThan(before)
    }), 30_000)

  it.live("release(conn, { timeout: 500 ms }) of a dirty connection returns within 600 ms", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* poolThrough(proxy)
      const conn = yield* pool.acquireUnscoped({ timeout: "2 seconds" })
      yield* conn.execute("SET work_mem = '8MB'")
      proxy.blackhole()
      const released = yield* settleWithin(pool.release(conn, { timeout: `${TIMEOUT_MS} millis` }), CAP_MS)
      expect(released.outcome, `release: ${released.outcome} after ${released.ms} ms`).not.toBe("hang")
      expect(released.outcome).not.toBe("defect")
      expect(released.ms, `release took ${released.ms} ms`).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS)
      // the pool does not count it as borrowed any more
      expect(pool.stats().borrowed).toBe(0)
    }), 30_000)

  it.live("close() of a pool of 10 with closeTimeout: 1 second returns within 1.5 s, in-flight calls end typed", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* poolThrough(proxy, { minSize: 10, maxSize: 10, closeTimeout: "1 second" })
      expect(pool.getSize()).toBe(10)
      expect(proxy.stats().connections).toBeGreaterThanOrEqual(10)
      proxy.blackhole()
      // three calls with no deadline of their own are in flight when close() starts
      const inFlight = yield* Effect.forEach([1, 2, 3], (i) => Effect.forkDetach(pool.fetchval("SELECT $1::int", [i])))
      yield* Effect.sleep(50)
      const closed = yield* settleWithin(pool.close(), CAP_MS)
      expect(closed.outcome, `close: ${closed.outcome}`).toBe("ok")
      expect(closed.ms, `close() took ${closed.ms} ms`).toBeLessThan(1_500)
      // the calls cut off by close end with a typed error, not a hang
      const ends = yield* Effect.forEach(inFlight, (f) => settleWithin(Fiber.join(f), 1_000))
      for (const e of ends) expect(["PoolClosedError", "PostgresConnectionError", "ConnectionDoesNotExistError"], describeAll(ends)).toContain(e.outcome)
    }), 30_000)
})
