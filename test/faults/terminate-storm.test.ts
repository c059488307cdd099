/**
 * Backends killed from the server side under load. A pool of 10 against a
 * throwaway cluster, 64 callers echoing their own argument; another
 * connection runs `pg_terminate_backend` on the pool's backends (found by
 * application_name) every 50 ms for ~5 s.
 *
 * Specification: 0 wrong results; every failure typed (ALLOWED); never more
 * than maxSize backends; once the storm is over every call succeeds and the
 * pool is back to its size (pg_stat_activity); 0 backends after `close()`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Connection from "../../src/Connection.js"
import * as PgPool from "../../src/Pool.js"
import { throwawayCluster } from "../support/cluster.js"
import { uniqueName } from "../support/db.js"
import { stormMs, stormTestTimeout } from "../support/soak.js"
import { show, storm, tally } from "../support/storm.js"

const FIBERS = 64
const POOL = 10
const STORM_MS = stormMs(5_000)

const ALLOWED = new Set([
  "AdminShutdownError",
  "PostgresConnectionError",
  "ConnectionDoesNotExistError",
  "CommandTimeoutError",
  "AcquireTimeoutError"
])

describe("terminate storm (pool of 10, 64 callers, pg_terminate_backend every 50 ms)", () => {
  it.live("0 wrong results, typed failures, back to size, 0 backends after close", () =>
    Effect.gen(function* () {
      const cluster = yield* throwawayCluster({ conf: { max_connections: "40" } })
      const app = uniqueName("tstorm")
      const target = { host: cluster.host, port: cluster.port, user: "postgres", database: "postgres", sslmode: "disable" as const }
      const pool = yield* PgPool.make({ ...target, applicationName: app, minSize: POOL, maxSize: POOL, timeout: "2 seconds" })
      const killer = yield* Connection.connect({ ...target, applicationName: `${app}_killer` })
      const countBackends = killer
        .fetchval("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $1", [app])
        .pipe(Effect.map((n) => n as number))

      let stop = false
      const t0 = Date.now()
      const load = yield* Effect.forkChild(
        storm({
          fibers: FIBERS,
          stop: () => stop,
          call: (fiber, seq) => {
            const mine = fiber * 1_000_000 + seq
            const q = seq % 3 === 0
              ? pool.fetchval("SELECT pg_sleep(0.02), $1::int", [mine], { column: 1, timeout: "2 seconds" })
              : pool.fetchval("SELECT $1::int", [mine], { timeout: "2 seconds" })
            return q.pipe(Effect.map((v) => v === mine))
          }
        })
      )

      let terminated = 0
      let maxSeen = 0
      let ticks = 0
      const stormEnd = Date.now() + STORM_MS
      while (Date.now() < stormEnd) {
        const n = yield* killer.fetchval(
          `SELECT count(*)::int FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 ORDER BY random() LIMIT 2) t`,
          [app]
        )
        terminated += n as number
        maxSeen = Math.max(maxSeen, yield* countBackends)
        ticks++
        yield* Effect.sleep(50)
      }
      const tStormEnd = Date.now()

      // after the storm: two more seconds of load, which must all succeed once the dust settles
      yield* Effect.sleep(2_000)
      stop = true
      const records = yield* Fiber.join(load).pipe(Effect.timeout("20 seconds"), Effect.orDie)
      const summary = `${records.length} calls ${JSON.stringify(tally(records))}, ${terminated} backends terminated in ${ticks} ticks, max ${maxSeen} backends seen`
      console.log(`terminate storm: ${summary}`)

      const problems: Array<string> = []
      const require = (ok: boolean, what: string) => {
        if (!ok) problems.push(what)
      }
      require(terminated >= 20, `only ${terminated} backends terminated: the storm did not happen`)
      const okCount = records.filter((r) => r.outcome === "ok").length
      require(okCount >= 500, `only ${okCount} successes`)
      const wrong = records.filter((r) => r.outcome === "wrong" || r.outcome === "defect" || r.outcome === "interrupted")
      require(wrong.length === 0, `${wrong.length} wrong/defect/interrupted: ${show(wrong, t0)}`)
      const untyped = records.filter((r) => r.outcome !== "ok" && r.outcome !== "wrong" && !ALLOWED.has(r.outcome))
      require(untyped.length === 0, `${untyped.length} failures outside the allowed tags: ${show(untyped, t0)}`)
      const slow = records.filter((r) => r.end - r.start > 2_250)
      require(slow.length === 0, `${slow.length} calls longer than their 2 s timeout: ${show(slow, t0)}`)
      require(maxSeen <= POOL, `${maxSeen} backends seen at once (maxSize ${POOL})`)
      // one second after the storm, nothing fails any more
      const failedLate = records.filter((r) => r.start > tStormEnd + 1_000 && r.outcome !== "ok")
      require(failedLate.length === 0, `${failedLate.length} calls failed more than 1 s after the storm: ${show(failedLate, t0)}`)

      // back to size: the pool replaces what was killed (minSize = maxSize = 10)
      let backends = -1
      const sizeDeadline = Date.now() + 3_000
      while (Date.now() < sizeDeadline) {
        backends = yield* countBackends
        if (backends === POOL && pool.getSize() === POOL) break
        yield* Effect.sleep(50)
      }
      require(backends === POOL, `${backends} backends 3 s after the storm, expected ${POOL}`)
      require(pool.getSize() === POOL, `pool.getSize() = ${pool.getSize()} 3 s after the storm, expected ${POOL}`)
      const stats = pool.stats()
      require(stats.borrowed === 0, `${stats.borrowed} connections still borrowed after the load`)

      // close: every backend gone
      yield* pool.close().pipe(Effect.timeout("10 seconds"), Effect.orDie)
      let after = -1
      const closeDeadline = Date.now() + 2_000
      while (Date.now() < closeDeadline) {
        after = yield* countBackends
        if (after === 0) break
        yield* Effect.sleep(50)
      }
      require(after === 0, `${after} backends left after close()`)
      expect(problems, summary).toEqual([])
    }), stormTestTimeout(90_000))
})
