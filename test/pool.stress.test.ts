/**
 * A bounded storm against one small pool: fast and slow pool-level queries,
 * timeouts, interruptions at random moments, failing statements and
 * transactions on acquired connections, all at once. Afterwards nothing may
 * be left borrowed, the server must never have seen more than maxSize
 * connections, and the pool must still answer.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Connection from "../src/Connection.js"
import { PgPool } from "../src/Pool.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

/** A small deterministic PRNG, so a failing storm can be replayed. */
const prng = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

describe("PgPool under a storm", () => {
  it.live("mixed queries, timeouts, interruptions and errors leave the pool clean", () =>
    Effect.gen(function* () {
      const app = uniqueName("storm")
      const maxSize = 4
      const pool = yield* PgPool.make({ dsn: TEST_DSN, applicationName: app, minSize: 1, maxSize })
      const observer = yield* Connection.connect({ dsn: TEST_DSN })
      const table = uniqueName("t_storm")
      yield* pool.execute(`CREATE TABLE ${table} (id int4 PRIMARY KEY)`)
      yield* Effect.addFinalizer(() => Effect.ignore(observer.execute(`DROP TABLE IF EXISTS ${table}`)))

      let peak = 0
      let sampling = true
      const sampler = yield* Effect.forkChild(
        Effect.gen(function* () {
          while (sampling) {
            const n = yield* observer.fetchval("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $1", [app])
            peak = Math.max(peak, n as number)
            yield* Effect.sleep("5 millis")
          }
        })
      )

      const random = prng(42)
      const op = (i: number): Effect.Effect<string> => {
        const r = random()
        const work: Effect.Effect<unknown, unknown> =
          r < 0.35
            ? pool.fetchval("SELECT $1::int4 + 1", [i])
            : r < 0.5
              ? pool.fetch("SELECT pg_sleep(0.02)", [], { timeout: 10 })
              : r < 0.6
                ? pool.fetchval("SELECT 1 / ($1::int4 - $1::int4)", [i])
                : r < 0.75
                  ? pool.withConnection((conn) =>
                      conn.transaction(
                        Effect.andThen(conn.execute(`INSERT INTO ${table} VALUES ($1)`, [i]), Effect.fail("roll back" as const))
                      )
                    )
                  : r < 0.9
                    ? Effect.scoped(
                        Effect.flatMap(pool.acquire({ timeout: "2 seconds" }), (conn) => conn.fetch("SELECT pg_sleep(0.005)"))
                      )
                    : pool.fetchval("SELECT pg_backend_pid()")
        const interruptAfter = random() < 0.25 ? Math.floor(random() * 30) : -1
        const run = Effect.match(work, { onSuccess: () => "ok", onFailure: (e) => (e as { _tag?: string })._tag ?? String(e) })
        if (interruptAfter < 0) return run
        return Effect.gen(function* () {
          const f = yield* Effect.forkChild(run)
          yield* Effect.sleep(interruptAfter)
          yield* Fiber.interrupt(f)
          return "interrupted"
        })
      }

      const outcomes = yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i), op, { concurrency: 40 }).pipe(
        Effect.timeout("60 seconds")
      )
      sampling = false
      yield* Fiber.join(sampler)

      const tags = new Set(outcomes)
      // only the outcomes the storm can produce: nothing untyped, nothing unexpected
      for (const t of tags) {
        expect(["ok", "interrupted", "CommandTimeoutError", "DivisionByZeroError", "roll back"]).toContain(t)
      }
      expect(tags.has("ok")).toBe(true)
      expect(peak).toBeLessThanOrEqual(maxSize)
      // every borrowed connection came back
      const deadline = Date.now() + 3000
      while (pool.stats().borrowed > 0 && Date.now() < deadline) yield* Effect.sleep("20 millis")
      expect(pool.stats().borrowed).toBe(0)
      expect(yield* observer.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(0)
      // and the pool still answers, on shared and on acquired connections
      expect(yield* pool.fetchval("SELECT 7")).toBe(7)
      expect(yield* pool.withConnection((c) => c.fetchval("SELECT 8"), { timeout: "2 seconds" })).toBe(8)
    }), 90_000)
})
