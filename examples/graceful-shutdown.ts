/**
 * Graceful shutdown: a worker that stops on SIGTERM (or Ctrl+C) without
 * cutting a job in half, then closes the pool and exits with code 0.
 *
 * What happens on SIGTERM:
 *   1. `NodeRuntime.runMain` interrupts the main fiber;
 *   2. the job in flight is `uninterruptible`, so it runs to its end;
 *   3. the scope closes: the finalizers run in reverse order, and the pool's
 *      finalizer closes it (new acquires fail with PoolClosedError, borrowed
 *      connections are waited for, each connection sends Terminate);
 *   4. the process exits with 0.
 *
 * Run it: `DATABASE_URL=postgres://... npx tsx examples/graceful-shutdown.ts`,
 * then press Ctrl+C. In your app, import from "effect-pg" instead of "../src/index.js".
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { PgPool } from "../src/index.js"

/** One unit of work: about 200 ms on one connection, never cut short. */
const job = (pool: PgPool["Service"], n: number) =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      yield* Console.log(`job ${n} started`)
      yield* pool.withConnection((conn) => conn.execute("SELECT pg_sleep(0.2)"))
      yield* Console.log(`job ${n} finished`)
    })
  )

const main = Effect.gen(function* () {
  // Added first, so it runs last: after the pool below has closed.
  let pool: PgPool["Service"] | undefined
  yield* Effect.addFinalizer(() => Console.log(`pool closed: ${pool?.getSize()} connections open`))

  pool = yield* PgPool.make({
    minSize: 2,
    maxSize: 4,
    // the name this process shows in pg_stat_activity
    serverSettings: { application_name: process.env.APP_NAME ?? "effect-pg-graceful-shutdown" }
  })
  yield* Effect.addFinalizer(() => Console.log("stopping: no new jobs; closing the pool"))
  yield* Console.log(`ready: pool of ${pool.getSize()} connections`)

  // The worker: one job after another, until interrupted.
  let n = 0
  const p = pool
  return yield* Effect.forever(Effect.suspend(() => job(p, ++n)))
}).pipe(Effect.scoped)

// A stop by signal is a clean exit (0); a failure (server down) is 1.
NodeRuntime.runMain(main, {
  teardown: (exit, onExit) => onExit(Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? 1 : 0)
})
