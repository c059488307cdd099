/**
 * postgres.js 3 as its users drive it: one `postgres({ max })` instance, tagged-template
 * queries (prepared by default), `sql(rows, ...columns)` for bulk inserts, `.writable()` for
 * COPY, `sql.reserve()` for an exclusive connection.
 */
import postgres from "postgres"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import {
  chunks,
  expectRows,
  type Driver,
  makeScratchRows,
  type MeasureRequest,
  type Measurement,
  bulkLoop,
  promiseLoop,
  randomId,
  readWideRows,
  SCRATCH,
  type ScratchRow,
  scratchCopyLine,
  WIDE_ROWS
} from "../common.js"

const HELPER_CHUNK = 5_000

let cachedRows: Array<ScratchRow> | undefined
const scratchRows = (n: number) => (cachedRows?.length === n ? cachedRows : (cachedRows = makeScratchRows(n)))

export const driver: Driver = {
  async measure(req: MeasureRequest): Promise<Measurement> {
    const sql = postgres({
      host: req.conn.host,
      port: req.conn.port,
      database: req.conn.database,
      username: req.conn.user,
      max: req.pool,
      onnotice: () => {}
    })
    try {
      if (req.workload === "W4i" || req.workload === "W4c") {
        const rows = scratchRows(req.rows)
        const helperRows = rows.map((r) => ({ ...r, data: sql.json(r.data) }))
        const insert = async (n: number) => {
          for (const chunk of chunks(helperRows.slice(0, n), HELPER_CHUNK)) {
            await sql`INSERT INTO bench_scratch ${sql(chunk, "id", "name", "score", "created_at", "active", "data")}`
          }
        }
        const copy = async (n: number) => {
          const sink = await sql`COPY bench_scratch (id, name, score, created_at, active, data) FROM STDIN`.writable()
          async function* lines() {
            let buf = ""
            for (let i = 0; i < n; i++) {
              buf += scratchCopyLine(rows[i]!)
              if (buf.length > 65536) {
                yield buf
                buf = ""
              }
            }
            if (buf) yield buf
          }
          await pipeline(Readable.from(lines()), sink)
        }
        const load = req.workload === "W4c" ? copy : insert
        const reset = () => sql.unsafe(`TRUNCATE ${SCRATCH}`)
        await reset()
        if (req.firstRound) await load(Math.min(rows.length, 10_000))
        return await bulkLoop(req.durationMs, rows.length, reset, () => load(rows.length))
      }

      const loop = (concurrency: number, durationMs: number, latency = false) => {
        switch (req.workload) {
          case "W1":
            return promiseLoop(concurrency, durationMs, () => sql`SELECT 1`)
          case "W2":
            return promiseLoop(concurrency, durationMs, () => sql`SELECT * FROM bench_users WHERE id = ${randomId()}`)
          case "W3":
            return promiseLoop(
              concurrency,
              durationMs,
              () => sql`SELECT id, name, score, created_at, active, data FROM bench_wide`.then(readWideRows),
              { perOp: WIDE_ROWS }
            )
          case "W5":
            return promiseLoop(concurrency, durationMs, async () => {
              const reserved = await sql.reserve()
              try {
                await reserved`SELECT 1`
              } finally {
                reserved.release()
              }
            })
          case "W6":
            return promiseLoop(concurrency, durationMs, () => sql`SELECT pg_sleep(0.01)`, { latency })
          default:
            throw new Error(`postgres.js: no loop for ${req.workload}`)
        }
      }
      if (req.workload === "W2") expectRows("postgres.js W2", await sql`SELECT * FROM bench_users WHERE id = ${1}`, 1)
      if (req.workload === "W3") {
        expectRows("postgres.js W3", await sql`SELECT id, name, score, created_at, active, data FROM bench_wide`, WIDE_ROWS)
      }
      if (req.warmupMs > 0) await loop(req.warmupConcurrency, req.warmupMs)
      return await loop(req.concurrency, req.durationMs, req.latency)
    } finally {
      await sql.end({ timeout: 5 })
    }
  }
}
