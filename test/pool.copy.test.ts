/**
 * COPY through the pool: each call acquires a connection for its duration.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { PgPool } from "../src/Pool.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const makePool = () => PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 2, applicationName: uniqueName("poolcopy") })

describe("PgPool COPY", () => {
  it.live("copyRecordsToTable, copyFromTable to a file, copyToTable from a Stream, copyFromQuery with args", () =>
    Effect.gen(function* () {
      const pool = yield* makePool()
      const table = uniqueName("t_pool_copy")
      const target = `${table}_b`
      yield* pool.execute(`CREATE TABLE ${table} (id int4 PRIMARY KEY, name text, score float8)`)
      yield* pool.execute(`CREATE TABLE ${target} (id int4 PRIMARY KEY, name text, score float8)`)
      yield* Effect.addFinalizer(() => Effect.ignore(pool.execute(`DROP TABLE IF EXISTS ${table}, ${target}`)))

      const records = Array.from({ length: 1000 }, (_, i) => [i, i % 10 === 0 ? null : `name ${i}`, i / 4])
      expect(yield* pool.copyRecordsToTable(table, { records, columns: ["id", "name", "score"] })).toBe("COPY 1000")

      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-pg-poolcopy-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "out.csv")
      expect(yield* pool.copyFromTable(table, { output: file, format: "csv" })).toBe("COPY 1000")
      const csv = fs.readFileSync(file)
      expect(csv.toString().split("\n").filter((l) => l !== "").length).toBe(1000)

      expect(yield* pool.copyToTable(target, { source: Stream.make(new Uint8Array(csv)), format: "csv" })).toBe("COPY 1000")
      const diff = yield* pool.fetchval(
        `SELECT count(*)::int FROM ((TABLE ${table} EXCEPT TABLE ${target}) UNION ALL (TABLE ${target} EXCEPT TABLE ${table})) d`
      )
      expect(diff).toBe(0)

      const chunks: Array<Uint8Array> = []
      const writable = new (yield* Effect.promise(() => import("node:stream"))).Writable({
        write(chunk, _enc, cb) {
          chunks.push(chunk)
          cb()
        }
      })
      const status = yield* pool.copyFromQuery(`SELECT id FROM ${table} WHERE id < $1 ORDER BY id`, [3], { output: writable })
      expect(status).toBe("COPY 3")
      expect(Buffer.concat(chunks).toString()).toBe("0\n1\n2\n")
      expect(pool.stats().borrowed).toBe(0)
    }))
})
