/**
 * Recovery after a network partition heals (asyncpg's test_adversity
 * test_pool_acquire_timeout: `acquire(timeout=0.5)` succeeds right after
 * connectivity is restored). The pool talks to the local server through the
 * tests' proxy, switched to `blackhole` for about 3 s while callers acquire
 * with a 500 ms timeout, then back to `pass`.
 *
 * Specification:
 * - during the partition, every `acquire({ timeout: 500 ms })` fails with
 *   AcquireTimeoutError within 600 ms;
 * - connection attempts started during the partition (for minSize, or for
 *   callers who gave up) do not hold the pool's places after it heals: the
 *   first `acquire({ timeout: 500 ms })` afterwards succeeds within 1 s
 *   (they used to hold every place until the 60 s connect timeout);
 * - the server never sees more than maxSize connections of the pool;
 * - an attempt the server has answered is never given up for a caller's
 *   timeout: a slow but live server still gets its connections up.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as PgPool from "../../src/Pool.js"
import { TEST_DSN, uniqueName } from "../support/db.js"
import * as Connection from "../../src/Connection.js"
import { healAtEnd, type Proxy, tcpProxy, throughProxy } from "../support/proxy.js"

const TIMEOUT_MS = 500
const SLACK_MS = 100
const PARTITION_MS = 3_000

/** A pool through `proxy`; its scope heals the partition (every socket destroyed) before the pool closes. */
const poolThrough = (proxy: Proxy, app: string, extra: Partial<PgPool.PoolOptions>) =>
  Effect.tap(
    PgPool.make({
      ...throughProxy(proxy),
      applicationName: app,
      pingIdleThreshold: "200 millis",
      healthCheckPeriod: 0,
      ...extra
    }),
    () => healAtEnd(proxy)
  )

/** One acquire with the test's timeout: its outcome and how long it took. */
const timedAcquire = (pool: PgPool.PgPoolShape) =>
  Effect.gen(function* () {
    const started = performance.now()
    const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(pool.acquire({ timeout: TIMEOUT_MS }), (c) => c.fetchval("SELECT 1"))))
    const ms = performance.now() - started
    return { ok: exit._tag === "Success", tag: exit._tag === "Success" ? "ok" : String((exit.cause.reasons[0] as { error?: { _tag?: string } })?.error?._tag), ms }
  })

const scenario = (extra: Partial<PgPool.PoolOptions>) =>
  Effect.gen(function* () {
    const proxy = yield* tcpProxy({ port: 5432 })
    const app = uniqueName("heal")
    const pool = yield* poolThrough(proxy, app, extra)
    const maxSize = extra.maxSize!
    const observer = yield* Connection.connect({ dsn: TEST_DSN, applicationName: uniqueName("heal_obs") })
    const backends = Effect.map(
      observer.fetchval("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $1", [app]),
      (n) => n as number
    )
    // the path works, then the idle connections go past pingIdleThreshold
    expect((yield* timedAcquire(pool)).ok).toBe(true)
    yield* Effect.sleep("300 millis")
    proxy.blackhole()
    const partitioned = performance.now()
    const during: Array<{ tag: string; ms: number }> = []
    let most = 0
    while (performance.now() - partitioned < PARTITION_MS) {
      during.push(yield* timedAcquire(pool))
      most = Math.max(most, yield* backends)
    }
    expect(during.filter((d) => d.tag !== "AcquireTimeoutError" || d.ms > TIMEOUT_MS + SLACK_MS), JSON.stringify(during)).toEqual([])
    proxy.pass()
    const healed = yield* timedAcquire(pool)
    expect(healed, `first acquire after the partition healed (${JSON.stringify(pool.stats())})`).toMatchObject({ ok: true })
    expect(healed.ms).toBeLessThan(1_000)
    // never more than maxSize connections on the server (black-holed ones that reached it included)
    most = Math.max(most, yield* backends)
    expect(most).toBeLessThanOrEqual(maxSize)
    expect(pool.getSize() + pool.stats().opening).toBeLessThanOrEqual(maxSize)
  })

describe("partition heals", () => {
  it.live("attempts opened for minSize during a partition do not hold the places: the first acquire after it heals succeeds within 1 s", () =>
    scenario({ minSize: 2, maxSize: 2 }), 30_000)

  it.live("attempts opened for callers who gave up are abandoned with them (minSize 0): the first acquire after the partition heals succeeds within 1 s", () =>
    scenario({ minSize: 0, maxSize: 2 }), 30_000)

  it.live("an attempt the server answered is never given up: a connect slower than every caller's timeout still comes up and serves the callers after it", () =>
    Effect.gen(function* () {
      // the server answers at once, then the connection takes 800 ms to be ready (a slow init hook,
      // like a server slow to authenticate); every caller waits 300 ms. Giving up attempts that outlive
      // a caller's budget would mean no connection, ever.
      const pool = yield* PgPool.make({
        dsn: TEST_DSN,
        applicationName: uniqueName("slow_init"),
        minSize: 0,
        maxSize: 1,
        init: () => Effect.sleep("800 millis")
      })
      const started = performance.now()
      let served = -1
      while (served < 0 && performance.now() - started < 4_000) {
        const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(pool.acquire({ timeout: 300 }), (c) => c.fetchval("SELECT 1"))))
        if (exit._tag === "Success") served = performance.now() - started
      }
      expect(served, JSON.stringify(pool.stats())).toBeGreaterThan(0)
      expect(served).toBeLessThan(2_000)
    }), 30_000)
})
