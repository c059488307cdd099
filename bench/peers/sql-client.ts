/**
 * effect-pg's `SqlClient` (`effect-pg/sql`), driven exactly as bench/peers/sql-pg.ts drives
 * `@effect/sql-pg`: `PgSqlClient.layer` built once in a ManagedRuntime, tagged-template
 * statements run by fibers forked with `Effect.forEach`, the same statements per workload. The
 * row shows what the `effect/sql` layer costs on top of effect-pg's pool (`effect-pg` row) and
 * how an app written against `SqlClient` fares on effect-pg versus on `@effect/sql-pg`.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as SqlClient from "effect/sql/SqlClient"
import * as PgSqlClient from "../../src/sql/PgSqlClient.js"
import {
  chunks,
  type Driver,
  dsnOf,
  effectLoop,
  expectRows,
  makeScratchRows,
  type MeasureRequest,
  type Measurement,
  randomId,
  readWideRows,
  SCRATCH,
  type ScratchRow,
  WIDE_ROWS
} from "../common.js"

const INSERT_CHUNK = 5_000
type NonEmpty = readonly [Record<string, unknown>, ...Array<Record<string, unknown>>]

let cachedRows: Array<ScratchRow> | undefined
const scratchRows = (n: number) => (cachedRows?.length === n ? cachedRows : (cachedRows = makeScratchRows(n)))

export const driver: Driver = {
  async measure(req: MeasureRequest): Promise<Measurement> {
    const runtime = ManagedRuntime.make(
      PgSqlClient.layer({ dsn: dsnOf(req.conn), minSize: req.pool, maxSize: req.pool })
    )
    try {
      const program = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient

        if (req.workload === "W4i") {
          const rows: Array<Record<string, unknown>> = scratchRows(req.rows).map((r) => ({
            ...r,
            data: JSON.stringify(r.data)
          }))
          const reset = sql.unsafe(`TRUNCATE ${SCRATCH}`)
          const load = (n: number) =>
            Effect.forEach(
              chunks(rows.slice(0, n), INSERT_CHUNK),
              (chunk) => sql`INSERT INTO bench_scratch ${sql.insert(chunk as NonEmpty)}`,
              { discard: true }
            )
          yield* reset
          if (req.firstRound) yield* load(Math.min(rows.length, 10_000))
          let timed = 0
          let loads = 0
          do {
            yield* reset
            const t = performance.now()
            yield* load(rows.length)
            timed += performance.now() - t
            loads++
          } while (timed < req.durationMs)
          yield* reset
          return {
            count: loads * rows.length,
            elapsedMs: timed,
            value: (loads * rows.length * 1000) / timed,
            loads
          } satisfies Measurement
        }

        const loop = (concurrency: number, durationMs: number, latency = false) => {
          switch (req.workload) {
            case "W1":
              return effectLoop(concurrency, durationMs, () => sql`SELECT 1`)
            case "W2":
              return effectLoop(concurrency, durationMs, () => sql`SELECT * FROM bench_users WHERE id = ${randomId()}`)
            case "W3":
              return effectLoop(
                concurrency,
                durationMs,
                () => Effect.map(sql`SELECT id, name, score, created_at, active, data FROM bench_wide`, readWideRows),
                { perOp: WIDE_ROWS }
              )
            case "W5":
              return effectLoop(concurrency, durationMs, () =>
                Effect.scoped(
                  Effect.flatMap(sql.reserve, (conn) => conn.execute("SELECT 1", [], undefined))
                ))
            case "W6":
              return effectLoop(concurrency, durationMs, () => sql`SELECT pg_sleep(0.01)`, { latency })
            default:
              return Effect.die(new Error(`sql-client: no loop for ${req.workload}`))
          }
        }
        if (req.workload === "W2") expectRows("sql-client W2", yield* sql`SELECT * FROM bench_users WHERE id = ${1}`, 1)
        if (req.workload === "W3") {
          expectRows("sql-client W3", yield* sql`SELECT id, name, score, created_at, active, data FROM bench_wide`, WIDE_ROWS)
        }
        if (req.warmupMs > 0) yield* loop(req.warmupConcurrency, req.warmupMs)
        return yield* loop(req.concurrency, req.durationMs, req.latency)
      })
      return await runtime.runPromise(program)
    } finally {
      await runtime.dispose()
    }
  }
}
