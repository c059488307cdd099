/**
 * Helpers shared by the pool tests: pools tagged with their own
 * application_name, an observer connection that counts their backends.
 */
import * as Effect from "effect/Effect"
import * as Connection from "../../src/Connection.js"
import { type AcquireOptions, PgPool, type PgPoolShape, type PoolOptions } from "../../src/Pool.js"
import { TEST_DSN, uniqueName } from "./db.js"


/** A pool on the test server, tagged with its own application_name. */
export const makePool = (options: PoolOptions = {}) =>
  Effect.gen(function* () {
    const app = uniqueName("pool")
    const pool = yield* PgPool.make({ dsn: TEST_DSN, applicationName: app, ...options })
    return { pool, app }
  })

/** A plain connection that watches pg_stat_activity. */
export const observer = () => Connection.connect({ dsn: TEST_DSN, applicationName: uniqueName("observer") })

/** Backend pids the server has for this application_name. */
export const pidsOf = (obs: Connection.Connection, app: string) =>
  Effect.map(
    obs.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid", [app]),
    (rows) => rows.map((r) => r.get("pid") as number)
  )

export const countOf = (obs: Connection.Connection, app: string) => Effect.map(pidsOf(obs, app), (p) => p.length)

/** Re-runs `self` every 10 ms until `done` holds or `timeoutMs` passes; returns the last value. */
export const until = <A, E, R>(self: Effect.Effect<A, E, R>, done: (a: A) => boolean, timeoutMs = 3000) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (true) {
      const a = yield* self
      if (done(a) || Date.now() - start > timeoutMs) return a
      yield* Effect.sleep("10 millis")
    }
  })

/** acquireUnscoped, and released when the test ends even if it fails first (release is idempotent) */
export const hold = (pool: PgPoolShape, options?: AcquireOptions) =>
  Effect.tap(pool.acquireUnscoped(options), (conn) => Effect.addFinalizer(() => Effect.ignore(pool.release(conn))))

export const range = (n: number) => Array.from({ length: n }, (_, i) => i)

export const tagOf = (e: unknown): string => (e as { _tag?: string })._tag ?? String(e)
