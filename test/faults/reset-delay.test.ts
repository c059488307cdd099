/**
 * The network resets or slows down. The pool talks to the local server
 * through the tests' proxy:
 *
 * - `reset()` destroys every socket while 16 slow calls are running or
 *   waiting: each one on the wire ends with a typed connection error within
 *   250 ms (no waiting for a timeout), the waiting ones are served after it,
 *   0 wrong results, and the same pool serves the next wave within 1 s;
 * - `delay(150)` adds 150 ms each way: results stay right and take ≥ 300 ms;
 *   a 200 ms timeout fails typed in ≤ 300 ms; after `pass()` the pool serves
 *   again within 1 s.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as PgPool from "../../src/Pool.js"
import { uniqueName } from "../support/db.js"
import { type Proxy, tcpProxy } from "../support/proxy.js"
import { outcomeOf, settleWithin } from "../support/storm.js"

const CONNECTION_TAGS = ["PostgresConnectionError", "ConnectionDoesNotExistError"]

const poolThrough = (proxy: Proxy) =>
  Effect.tap(
    PgPool.make({
      host: "127.0.0.1",
      port: proxy.port,
      user: "root",
      database: "test",
      sslmode: "disable",
      applicationName: uniqueName("reset"),
      minSize: 4,
      maxSize: 4,
      timeout: "2 seconds"
    }),
    () =>
      Effect.addFinalizer(() =>
        Effect.sync(() => {
          proxy.pass()
          proxy.reset()
        })
      )
  )

describe("network reset and delay", () => {
  it.live("reset() with 16 calls in flight: typed errors within 250 ms, then the same pool serves again", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* poolThrough(proxy)
      expect(yield* pool.fetchval("SELECT $1::int", [1])).toBe(1)
      const calls = yield* Effect.forEach(Array.from({ length: 16 }, (_, i) => i), (i) =>
        Effect.forkChild(
          pool.fetchval("SELECT pg_sleep(0.5), $1::int", [i], { column: 1, timeout: "5 seconds" }).pipe(
            Effect.map((v) => v === i),
            Effect.exit
          )
        ))
      yield* Effect.sleep(100)
      const tReset = Date.now()
      proxy.reset()
      const ends: Array<{ tag: string; ms: number }> = []
      for (const f of calls) {
        const exit = yield* Fiber.join(f)
        const ms = Date.now() - tReset
        if (exit._tag === "Success") ends.push({ tag: exit.value ? "ok" : "wrong", ms })
        else ends.push({ tag: outcomeOf(exit).outcome, ms })
      }
      const describeEnds = ends.map((e) => `${e.tag} ${e.ms} ms`).join(", ")
      expect(ends.length).toBe(16)
      expect(ends.filter((e) => e.tag === "wrong"), describeEnds).toEqual([])
      // a pg_sleep(0.5) on the wire ~100 ms before the reset cannot have finished: those calls (one per
      // connection: a slow statement gets a connection of its own) failed, typed, at once; the calls still
      // waiting for a connection were never sent and are served after the reset, with their own values
      const failed = ends.filter((e) => e.tag !== "ok")
      expect(failed.length, describeEnds).toBeGreaterThanOrEqual(4)
      for (const e of failed) {
        expect(CONNECTION_TAGS, describeEnds).toContain(e.tag)
        expect(e.ms, describeEnds).toBeLessThanOrEqual(250)
      }
      // the next wave: all right, within 1 s
      const tWave = Date.now()
      const wave = yield* Effect.forEach(
        Array.from({ length: 16 }, (_, i) => i),
        (i) => settleWithin(pool.fetchval("SELECT $1::int", [100 + i]).pipe(Effect.map((v) => v === 100 + i)), 3_000),
        { concurrency: "unbounded" }
      )
      const sinceReset = Date.now() - tWave
      expect(wave.map((w) => w.outcome), `after the reset: ${wave.map((w) => `${w.outcome} ${w.ms} ms`).join(", ")}`).toEqual(
        Array.from({ length: 16 }, () => "ok")
      )
      expect(sinceReset).toBeLessThanOrEqual(1_000)
      expect(proxy.stats().connections, "the pool reconnected through the proxy").toBeGreaterThan(4)
    }), 30_000)

  it.live("delay(150): right values, ≥ 300 ms; a 200 ms timeout fails typed in ≤ 300 ms; pass() and the pool serves again", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const pool = yield* poolThrough(proxy)
      expect(yield* pool.fetchval("SELECT $1::int", [1])).toBe(1)
      proxy.delay(150)
      const slow = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i),
        (i) => settleWithin(pool.fetchval("SELECT $1::int", [i], { timeout: "3 seconds" }).pipe(Effect.map((v) => v === i)), 5_000),
        { concurrency: "unbounded" }
      )
      for (const s of slow) {
        expect(s.outcome).toBe("ok")
        expect(s.ms).toBeGreaterThanOrEqual(290)
      }
      const timedOut = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i),
        (i) => settleWithin(pool.fetchval("SELECT $1::int", [i], { timeout: "200 millis" }), 5_000),
        { concurrency: "unbounded" }
      )
      const shown = timedOut.map((t) => `${t.outcome} ${t.ms} ms`).join(", ")
      for (const t of timedOut) {
        expect(["CommandTimeoutError", "AcquireTimeoutError"], shown).toContain(t.outcome)
        expect(t.ms, shown).toBeLessThanOrEqual(300)
      }
      proxy.pass()
      const tPass = Date.now()
      const back = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i),
        (i) => settleWithin(pool.fetchval("SELECT $1::int", [50 + i]).pipe(Effect.map((v) => v === 50 + i)), 3_000),
        { concurrency: "unbounded" }
      )
      expect(back.map((b) => b.outcome), back.map((b) => `${b.outcome} ${b.ms} ms`).join(", ")).toEqual(Array.from({ length: 8 }, () => "ok"))
      expect(Date.now() - tPass).toBeLessThanOrEqual(1_000)
    }), 30_000)
})
