/**
 * @effect/sql-pg 4 as an Effect application drives it: the `PgClient.layer` built once in a
 * ManagedRuntime, tagged-template statements run by fibers forked with `Effect.forEach`.
 * `sql-pg-mux` turns on `multiplex: true` (statements from many fibers pipelined on each
 * pooled connection, `multiplexConcurrency` left at its default of 32).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import {
  chunks,
  type Driver,
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
      PgClient.layer({
        host: req.conn.host,
        port: req.conn.port,
        database: req.conn.database,
        username: req.conn.user,
        maxConnections: req.pool,
        multiplex: req.peer === "sql-pg-mux"
      })
    )
    try {
      const program = Effect.gen(function*() {
        const sql = yield* PgClient.PgClient

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
              return Effect.die(new Error(`@effect/sql-pg: no loop for ${req.workload}`))
          }
        }
        if (req.workload === "W2") expectRows("sql-pg W2", yield* sql`SELECT * FROM bench_users WHERE id = ${1}`, 1)
        if (req.workload === "W3") {
          expectRows("sql-pg W3", yield* sql`SELECT id, name, score, created_at, active, data FROM bench_wide`, WIDE_ROWS)
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
