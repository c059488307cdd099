/**
 * Interruption at every point. A pool of 8 on the local server, 64 workers
 * running a random mix — pool-level fetchval, acquire + query + release,
 * transactions — each op with its own echoed argument, and about half of them
 * interrupted after 0–3 ms or given a 1–3 ms command timeout.
 *
 * Specification: no caller ever sees another's value (0 wrong results); an
 * op that was neither interrupted nor timed out succeeds (a cancel meant for
 * someone else never lands on it); never more than maxSize backends at a
 * sampled moment; nothing borrowed or waiting at the end; the heap after
 * `global.gc()` grows < 30 MB.
 *
 * FAULTS_INTERRUPT_OPS sets the number of ops (default 100,000); the storm
 * also stops at a 40 s budget, and must have done at least 300 ops per second of it.
 * On the 2-core test box ~1,000 ops/s are done (each cut op costs a
 * CancelRequest, i.e. a fork on the server), so the default run is scaled down
 * by the budget to ~40,000 ops; `npm run soak` runs the full count and longer.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Connection from "../../src/Connection.js"
import * as PgPool from "../../src/Pool.js"
import { TEST_DSN, uniqueName } from "../support/db.js"
import { stormMs, stormTestTimeout } from "../support/soak.js"
import { outcomeOf } from "../support/storm.js"

const OPS = Number(process.env.FAULTS_INTERRUPT_OPS ?? 100_000)
const BUDGET_MS = stormMs(40_000)
/** at least 300 ops per second of budget (12,000 in the default run): the storm really ran */
const MIN_OPS = Math.min(OPS, Math.floor((BUDGET_MS / 1000) * 300))
const WORKERS = 64
const POOL = 8

/** failures an op may end with because it was interrupted or timed out on purpose */
const EXPECTED_WHEN_CUT = new Set(["TimeoutError", "CommandTimeoutError", "AcquireTimeoutError", "QueryCanceledError"])

/** xorshift32: a replayable sequence per worker */
const rng = (seed: number) => {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 0x100000000
  }
}

describe("interrupt storm (pool of 8, 64 workers)", () => {
  it.live(`up to ${OPS} ops in ${BUDGET_MS / 1000} s, randomly interrupted or timed out: 0 wrong results, ≤ maxSize backends, nothing leaked`, () =>
    Effect.gen(function* () {
      const app = uniqueName("istorm")
      const pool = yield* PgPool.make({ dsn: TEST_DSN, applicationName: app, minSize: POOL, maxSize: POOL })
      const watcher = yield* Connection.connect({ dsn: TEST_DSN, applicationName: `${app}_watch` })

      let next = 0
      const counts = { ok: 0, wrong: 0, cut: 0, cutOk: 0, innocentFailed: 0, defect: 0 }
      const samples: Array<string> = []
      const note = (s: string) => {
        if (samples.length < 8) samples.push(s)
      }
      const start = Date.now()
      let heapBaseline = 0

      const op = (worker: number, random: () => number) => {
        const id = next++
        const mine = id * 7 + 3
        const kind = random()
        const body: Effect.Effect<boolean, unknown> = kind < 0.45
          ? pool.fetchval("SELECT $1::int", [mine]).pipe(Effect.map((v) => v === mine))
          : kind < 0.7
          ? Effect.scoped(
            Effect.gen(function* () {
              const conn = yield* pool.acquire({ timeout: "5 seconds" })
              const v = yield* conn.fetchval("SELECT $1::text", [`w${worker}:${mine}`])
              return v === `w${worker}:${mine}`
            })
          )
          : kind < 0.9
          ? pool.withConnection((conn) =>
            conn.transaction(
              Effect.gen(function* () {
                const a = yield* conn.fetchval("SELECT $1::int", [mine])
                const b = yield* conn.fetchval("SELECT $1::int + 1", [mine])
                return a === mine && b === mine + 1
              })
            )
          )
          : pool.fetchval("SELECT $1::int, pg_sleep(0.001)", [mine]).pipe(Effect.map((v) => v === mine))
        const fault = random()
        const delay = Math.floor(random() * 4) // 0..3 ms
        if (fault < 0.35) return { cut: true, effect: body.pipe(Effect.timeout(delay)) }
        if (fault < 0.5 && kind < 0.45) {
          return {
            cut: true,
            effect: pool.fetchval("SELECT $1::int", [mine], { timeout: `${delay + 1} millis` }).pipe(Effect.map((v) => v === mine))
          }
        }
        return { cut: false, effect: body }
      }

      const worker = (w: number) =>
        Effect.gen(function* () {
          const random = rng(w * 2654435761 + 1)
          while (next < OPS && Date.now() - start < BUDGET_MS) {
            const { cut, effect } = op(w, random)
            const exit = yield* Effect.exit(effect)
            if (exit._tag === "Success") {
              if (exit.value) {
                counts.ok++
                if (cut) counts.cutOk++
              } else {
                counts.wrong++
                note(`wrong value (worker ${w})`)
              }
              continue
            }
            const { outcome, detail } = outcomeOf(exit)
            if (outcome === "defect") {
              counts.defect++
              note(`defect: ${detail}`)
            } else if (cut && EXPECTED_WHEN_CUT.has(outcome)) counts.cut++
            else {
              counts.innocentFailed++
              note(`${cut ? "cut" : "innocent"} op failed: ${outcome} ${detail?.slice(0, 120) ?? ""}`)
            }
          }
        })

      // sample the backends of the pool while the storm runs
      let maxBackends = 0
      let sampled = 0
      let stopSampling = false
      const sampler = yield* Effect.forkChild(
        Effect.gen(function* () {
          while (!stopSampling) {
            const n = yield* watcher.fetchval("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $1", [app])
            maxBackends = Math.max(maxBackends, n as number)
            sampled++
            yield* Effect.sleep(100)
          }
        })
      )

      // warm up, then take the heap baseline (code and caches are allocated by then)
      const gc = (globalThis as { gc?: () => void }).gc
      yield* Effect.forEach(Array.from({ length: WORKERS }, (_, w) => w), (w) =>
        Effect.gen(function* () {
          const random = rng(w + 1)
          for (let i = 0; i < 20; i++) yield* Effect.exit(op(w, random).effect)
        }), { concurrency: "unbounded", discard: true })
      gc?.()
      heapBaseline = process.memoryUsage().heapUsed
      const warm = next

      yield* Effect.forEach(Array.from({ length: WORKERS }, (_, w) => w), worker, { concurrency: "unbounded", discard: true })
      const elapsed = Date.now() - start
      stopSampling = true
      yield* Fiber.join(sampler)

      // let fire-and-forget work (cancels, resets) finish, then look
      let stats = pool.stats()
      const settleDeadline = Date.now() + 3_000
      while ((stats.borrowed > 0 || stats.waiting > 0) && Date.now() < settleDeadline) {
        yield* Effect.sleep(20)
        stats = pool.stats()
      }
      gc?.()
      yield* Effect.sleep(50)
      gc?.()
      const heapGrowthMb = (process.memoryUsage().heapUsed - heapBaseline) / 2 ** 20
      const done = next
      const summary = `${done} ops (${warm} of them warm-up) in ${elapsed} ms: ${JSON.stringify(counts)}; max ${maxBackends} backends in ${sampled} samples; ` +
        `heap +${heapGrowthMb.toFixed(1)} MB; stats ${JSON.stringify(stats)}`
      console.log(`interrupt storm: ${summary}`)

      const problems: Array<string> = []
      const require = (ok: boolean, what: string) => {
        if (!ok) problems.push(what)
      }
      require(done >= MIN_OPS, `only ${done} ops in ${elapsed} ms (need ${MIN_OPS})`)
      require(counts.ok >= done / 3, `only ${counts.ok} successes`)
      require(counts.cut >= done / 10, `only ${counts.cut} ops were cut: the storm did not interrupt much`)
      require(counts.wrong === 0, `${counts.wrong} wrong results`)
      require(counts.defect === 0, `${counts.defect} defects`)
      require(counts.innocentFailed === 0, `${counts.innocentFailed} ops failed that were not interrupted or timed out`)
      require(sampled >= 10, `only ${sampled} backend samples`)
      require(maxBackends <= POOL, `${maxBackends} backends at once (maxSize ${POOL})`)
      require(stats.borrowed === 0, `${stats.borrowed} connections still borrowed`)
      require(stats.waiting === 0, `${stats.waiting} callers still waiting`)
      require(stats.size <= POOL, `pool size ${stats.size}`)
      require(heapGrowthMb < 30, `heap grew ${heapGrowthMb.toFixed(1)} MB`)
      expect(problems, `${summary}; samples: ${samples.join(" | ")}`).toEqual([])
    }), stormTestTimeout(90_000))
})
