/**
 * node-postgres (`pg` 8) as its users drive it: one `pg.Pool`, `pool.query(...)` from many
 * async callers; `pg-named` passes `{ name, text, values }` so each connection prepares the
 * statement once.
 */
import pg from "pg"
import { from as copyFrom } from "pg-copy-streams"
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
  SQL,
  WIDE_ROWS
} from "../common.js"

const VALUES_CHUNK = 5_000
const UNNEST_CHUNK = 10_000

let cachedRows: Array<ScratchRow> | undefined
const scratchRows = (n: number) => (cachedRows?.length === n ? cachedRows : (cachedRows = makeScratchRows(n)))

const insertValues = async (client: pg.PoolClient, rows: ReadonlyArray<ScratchRow>) => {
  for (const chunk of chunks(rows, VALUES_CHUNK)) {
    const values: Array<unknown> = []
    const tuples: Array<string> = []
    for (const r of chunk) {
      const b = values.length
      tuples.push(`($${b + 1},$${b + 2},$${b + 3},$${b + 4},$${b + 5},$${b + 6})`)
      values.push(r.id, r.name, r.score, r.created_at, r.active, JSON.stringify(r.data))
    }
    await client.query(
      `INSERT INTO ${SCRATCH} (id, name, score, created_at, active, data) VALUES ${tuples.join(",")}`,
      values
    )
  }
}

const insertUnnest = async (client: pg.PoolClient, rows: ReadonlyArray<ScratchRow>) => {
  for (const chunk of chunks(rows, UNNEST_CHUNK)) {
    await client.query(
      `INSERT INTO ${SCRATCH} (id, name, score, created_at, active, data)
       SELECT * FROM unnest($1::int4[], $2::text[], $3::float8[], $4::timestamptz[], $5::bool[], $6::jsonb[])`,
      [
        chunk.map((r) => r.id),
        chunk.map((r) => r.name),
        chunk.map((r) => r.score),
        chunk.map((r) => r.created_at),
        chunk.map((r) => r.active),
        chunk.map((r) => JSON.stringify(r.data))
      ]
    )
  }
}

const copyIn = async (client: pg.PoolClient, rows: ReadonlyArray<ScratchRow>) => {
  const sink = client.query(copyFrom(`COPY ${SCRATCH} (id, name, score, created_at, active, data) FROM STDIN`))
  async function* lines() {
    // batch lines into ~64 KiB strings, as a user writing a Readable would
    let buf = ""
    for (const r of rows) {
      buf += scratchCopyLine(r)
      if (buf.length > 65536) {
        yield buf
        buf = ""
      }
    }
    if (buf) yield buf
  }
  await pipeline(Readable.from(lines()), sink)
}

export const driver: Driver = {
  async measure(req: MeasureRequest): Promise<Measurement> {
    const named = req.peer === "pg-named"
    const pool = new pg.Pool({
      host: req.conn.host,
      port: req.conn.port,
      database: req.conn.database,
      user: req.conn.user,
      max: req.pool
    })
    try {
      const q = (name: string, text: string, values?: Array<unknown>) =>
        named ? pool.query({ name, text, ...(values ? { values } : {}) }) : pool.query(text, values)

      const loop = (concurrency: number, durationMs: number, latency = false) => {
        switch (req.workload) {
          case "W1":
            return promiseLoop(concurrency, durationMs, () => q("w1", SQL.W1))
          case "W2":
            return promiseLoop(concurrency, durationMs, () => q("w2", SQL.W2, [randomId()]))
          case "W3":
            return promiseLoop(concurrency, durationMs, () => q("w3", SQL.W3).then((r) => readWideRows(r.rows)), {
              perOp: WIDE_ROWS
            })
          case "W5":
            return promiseLoop(concurrency, durationMs, async () => {
              const client = await pool.connect()
              try {
                await client.query(SQL.W5)
              } finally {
                client.release()
              }
            })
          case "W6":
            return promiseLoop(concurrency, durationMs, () => q("w6", SQL.W6), { latency })
          default:
            throw new Error(`pg: no loop for ${req.workload}`)
        }
      }

      if (req.workload === "W4i" || req.workload === "W4c") {
        const rows = scratchRows(req.rows)
        const client = await pool.connect()
        try {
          const load = req.workload === "W4c" ? copyIn : req.variant === "unnest" ? insertUnnest : insertValues
          const reset = () => client.query(`TRUNCATE ${SCRATCH}`)
          await reset()
          if (req.firstRound) await load(client, rows.slice(0, Math.min(rows.length, 10_000))) // warm-up
          return await bulkLoop(req.durationMs, rows.length, reset, () => load(client, rows))
        } finally {
          client.release()
        }
      }

      if (req.workload === "W2") expectRows("pg W2", (await q("w2", SQL.W2, [1])).rows, 1)
      if (req.workload === "W3") expectRows("pg W3", (await q("w3", SQL.W3)).rows, WIDE_ROWS)
      if (req.warmupMs > 0) await loop(req.warmupConcurrency, req.warmupMs)
      return await loop(req.concurrency, req.durationMs, req.latency)
    } finally {
      await pool.end()
    }
  }
}
