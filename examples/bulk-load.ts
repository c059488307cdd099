/**
 * A bulk loader: rows go in with `copyRecordsToTable` (binary COPY, the
 * fastest way into PostgreSQL), in batches, with progress printed after each.
 *
 * Each batch is one COPY, so it is all-or-nothing on its own: a bad row fails
 * its batch with a typed error (here a CheckViolationError would name the
 * constraint) and the batches before it stay loaded. To make the whole load
 * atomic, run the batches inside `conn.transaction(...)` on one acquired
 * connection instead.
 *
 * Run it: `DATABASE_URL=postgres://... ROWS=1000000 npx tsx examples/bulk-load.ts`
 * In your app, import from "effect-pg" instead of "../src/index.js".
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { PgPool } from "../src/index.js"

const total = Number(process.env.ROWS ?? 100_000)
const batchSize = Number(process.env.BATCH ?? 20_000)
const table = process.env.TABLE ?? "example_measurements"

/** One made-up row; a real loader would read a file or an API here. */
const row = (i: number) => [i, `sensor-${i % 100}`, Math.round(Math.sin(i) * 1000) / 10, new Date(1_700_000_000_000 + i * 1000)] as const

/** The rows in batches, made lazily: one array of `batchSize` rows at a time. */
const batches: Stream.Stream<ReadonlyArray<ReturnType<typeof row>>> = Stream.range(0, Math.ceil(total / batchSize) - 1).pipe(
  Stream.map((b) => {
    const first = b * batchSize + 1
    return Array.from({ length: Math.min(batchSize, total - first + 1) }, (_, k) => row(first + k))
  })
)

const program = Effect.gen(function* () {
  const pool = yield* PgPool
  yield* pool.execute(`DROP TABLE IF EXISTS ${table}`)
  yield* pool.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, sensor text NOT NULL, value float8, at timestamptz NOT NULL)`)

  const started = Date.now()
  let loaded = 0
  yield* batches.pipe(
    Stream.runForEach((batch) =>
      Effect.gen(function* () {
        // one COPY per batch; the records are encoded in PostgreSQL's binary format
        yield* pool.copyRecordsToTable(table, { records: batch, columns: ["id", "sensor", "value", "at"] })
        loaded += batch.length
        const seconds = (Date.now() - started) / 1000
        yield* Console.log(`loaded ${loaded}/${total} rows (${Math.round(loaded / seconds)} rows/s)`)
      })
    )
  )

  const count = yield* pool.fetchval(`SELECT count(*)::int FROM ${table}`)
  yield* Console.log(`done: ${table} holds ${count} rows`)
})

Effect.runPromise(program.pipe(Effect.provide(PgPool.layerConfig({ minSize: 1, maxSize: 2, logNotices: false })))).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
