/**
 * Client-side cost per row of building rows another way than Records: a
 * per-call `recordClass` and an effect/Schema (`{ schema }`), measured on
 * the 1,000 W3 rows (bench_wide, created by `npm run bench`) fetched once,
 * so no server time is in the figures. `npx tsx bench/rows-micro.ts`
 * (PGHOST/PGPORT/PGUSER/PGDATABASE as for the bench).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Connection from "../src/Connection.js"
import * as Rows from "../src/connection/rowOptions.js"
const WideRow = Schema.Struct({
  id: Schema.Number, name: Schema.String, score: Schema.Number, created_at: Schema.Date, active: Schema.Boolean,
  data: Schema.Struct({ k: Schema.Number, tags: Schema.Array(Schema.String), nested: Schema.Struct({ x: Schema.Number }) })
})
const Flat = Schema.Struct({ id: Schema.Number, name: Schema.String, score: Schema.Number, created_at: Schema.Date, active: Schema.Boolean, data: Schema.Unknown })
const main = Effect.gen(function* () {
  const env = process.env
  const conn = yield* Connection.connect(
    `postgres://${env["PGUSER"] ?? "root"}@${env["PGHOST"] ?? "127.0.0.1"}:${env["PGPORT"] ?? "5432"}/${env["PGDATABASE"] ?? "test"}`
  )
  const rows = yield* conn.fetch("SELECT id, name, score, created_at, active, data FROM bench_wide")
  const time = (label: string, f: () => unknown) => {
    for (let i = 0; i < 200; i++) f()
    const n = 2000
    const t = performance.now()
    for (let i = 0; i < n; i++) f()
    const ms = performance.now() - t
    console.log(`${label}: ${((ms * 1e6) / (n * rows.length)).toFixed(0)} ns/row`)
  }
  const wide = Rows.mapperFor({ schema: WideRow }, undefined) as Rows.RowMapper
  const flat = Rows.mapperFor({ schema: Flat }, undefined) as Rows.RowMapper
  const cls = Rows.mapperFor({ recordClass: (_shape, v) => ({ id: v[0], name: v[1] }) }, undefined) as Rows.RowMapper
  time("recordClass (plain object of 2 fields)", () => cls(rows, 0))
  time("schema, jsonb checked to its leaves", () => wide(rows, 0))
  time("schema, jsonb as Unknown", () => flat(rows, 0))
  // baseline: read each Record's 6 columns by name
  time("read 6 columns of a Record by name", () => { let a = 0; for (const r of rows) { if (r.id != null) a++; if (r.name != null) a++; if (r.score != null) a++; if (r.created_at != null) a++; if (r.active != null) a++; if (r.data != null) a++ } return a })
}).pipe(Effect.scoped)
void Effect.runPromise(main)
