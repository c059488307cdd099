/**
 * A job queue worker on LISTEN/NOTIFY: producers insert a job and notify in
 * one statement; the worker sleeps until a notification arrives, then claims
 * jobs one by one with `FOR UPDATE SKIP LOCKED` (so several workers can run
 * side by side and no job runs twice).
 *
 * A producer, from any client:
 *   WITH job AS (INSERT INTO example_jobs (payload) VALUES ('hello') RETURNING id)
 *   SELECT pg_notify('example_jobs', id::text) FROM job
 *
 * Notifications are hints, not the queue: the table is. A worker that was
 * down (or whose listening connection dropped) misses notifications, so it
 * drains the table whenever it (re)starts listening.
 *
 * Run it: `DATABASE_URL=postgres://... npx tsx examples/listen-worker.ts`, then
 * run the producer statement in psql. Ctrl+C stops it.
 * In your app, import from "effect-pg" instead of "../src/index.js".
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { Connection, PgPool } from "../src/index.js"

/** The queue table, also the channel's name. */
const queue = process.env.QUEUE ?? "example_jobs"

/** A queued job as the claim returns it, checked when it is read. */
const Job = Schema.Struct({ id: Schema.Number, payload: Schema.String })

/** Claims and runs queued jobs until none is left. */
const drain = Effect.gen(function* () {
  const pool = yield* PgPool
  while (true) {
    // the claim and the "done" mark are one statement: a crash never loses a job half-done here;
    // for long jobs, claim in a transaction and mark done at its end instead
    const job = yield* pool.fetchrow(
      `UPDATE ${queue} SET done_at = now()
       WHERE id = (SELECT id FROM ${queue} WHERE done_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
       RETURNING id, payload`,
      [],
      { schema: Job }
    )
    if (job === null) return
    yield* Console.log(`job #${job.id}: ${job.payload}`)
  }
})

/** LISTEN on a connection of its own; drain at once, then after every notification. */
const listenAndWork = Effect.scoped(
  Effect.gen(function* () {
    // LISTEN needs a session that stays: a direct connection, not a pooled
    // one (behind PgBouncer in transaction mode, connect to the server itself)
    const listener = yield* Connection.connect(process.env.DATABASE_URL)
    // a wake-up signal; notifications that arrive during a drain collapse into one
    const wake = yield* Queue.sliding<void, Connection.QueryError>(1)
    // the listening connection dying ends the wait with its error
    listener.addTerminationListener((error) => {
      if (error !== undefined) Queue.failCauseUnsafe(wake, Cause.fail(error))
    })
    // done once the server has run LISTEN: from here on, no notification is missed
    yield* listener.addListener(queue, () => {
      Queue.offerUnsafe(wake, undefined)
    })
    yield* Console.log(`listening on channel ${queue}`)
    // drain first: jobs queued while no worker listened
    return yield* Effect.forever(Effect.andThen(drain, Queue.take(wake)))
  })
)

const main = Effect.gen(function* () {
  const pool = yield* PgPool
  yield* pool.execute(`CREATE TABLE IF NOT EXISTS ${queue} (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload text NOT NULL,
    done_at timestamptz
  )`)
  // when the listening connection drops (server restart), listen again
  yield* listenAndWork.pipe(
    Effect.tapError((e) => Console.log(`listener lost (${e.message}); reconnecting`)),
    Effect.retry({ schedule: Schedule.spaced("1 second") })
  )
}).pipe(Effect.provide(PgPool.layerConfig({ minSize: 1, maxSize: 4, logNotices: false })))

// A stop by signal is a clean exit (0); a failure (bad DSN) is 1.
NodeRuntime.runMain(main, {
  teardown: (exit, onExit) => onExit(Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? 1 : 0)
})
