/**
 * COPY streams: copying a big table out to a file and back in must not hold
 * the data in memory. 5,000,000 rows (~500 MB; about 25 s on a 2-core box);
 * EFFECT_PG_COPY_ROWS=1000000 runs a smaller version.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Connection from "../src/Connection.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const LIMIT_MB = 150

/** Samples RSS every 20 ms while `self` runs; returns its result and the peak RSS. */
const peakRss = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const state = { peak: process.memoryUsage().rss, timer: undefined as NodeJS.Timeout | undefined }
      state.timer = setInterval(() => {
        const rss = process.memoryUsage().rss
        if (rss > state.peak) state.peak = rss
      }, 20)
      return state
    }),
    (state) => Effect.map(self, (a) => [a, state] as const),
    (state) => Effect.sync(() => clearInterval(state.timer))
  ).pipe(Effect.map(([a, state]) => ({ value: a, peak: Math.max(state.peak, process.memoryUsage().rss) })))

const roundTrip = (rows: number) =>
  Effect.gen(function* () {
    const conn = yield* Connection.connect({ dsn: TEST_DSN })
    const src = uniqueName("copy_mem_src")
    const dst = uniqueName("copy_mem_dst")
    const file = path.join(os.tmpdir(), `${uniqueName("copy_mem")}.tsv`)
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(file, { force: true })))
    yield* conn.execute(`CREATE TEMP TABLE ${src} (id int, n int8, pad text)`)
    yield* conn.execute(`INSERT INTO ${src} SELECT i, i * 3, repeat(md5(i::text), 2) || repeat('x', 16) || i FROM generate_series(1, ${rows}) i`)
    yield* conn.execute(`CREATE TEMP TABLE ${dst} (LIKE ${src})`)
    // warm up (code loaded and compiled) before the baseline
    yield* conn.copyFromQuery(`SELECT * FROM ${src} LIMIT 10000`, { output: file })
    yield* conn.copyToTable(dst, { source: file })
    yield* conn.execute(`TRUNCATE ${dst}`)
    const baseline = process.memoryUsage().rss
    const out = yield* peakRss(conn.copyFromTable(src, { output: file }))
    expect(out.value).toBe(`COPY ${rows}`)
    const size = fs.statSync(file).size
    const back = yield* peakRss(conn.copyToTable(dst, { source: file }))
    expect(back.value).toBe(`COPY ${rows}`)
    const growthMb = (Math.max(out.peak, back.peak) - baseline) / 1024 / 1024
    console.log(
      `COPY ${rows} rows, file ${(size / 1024 / 1024).toFixed(0)} MB: RSS growth out ${((out.peak - baseline) / 1048576).toFixed(1)} MB, in ${((back.peak - baseline) / 1048576).toFixed(1)} MB`
    )
    expect(size).toBeGreaterThan(rows * 95)
    expect(growthMb).toBeLessThan(LIMIT_MB)
    expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${dst}`)).toBe(rows)
    expect(yield* conn.fetchval(`SELECT sum(id)::int8 FROM ${dst}`)).toBe(BigInt(rows) * BigInt(rows + 1) / 2n)
  })

const ROWS = Number(process.env.EFFECT_PG_COPY_ROWS ?? 5_000_000)

describe("COPY memory", () => {
  it.live(`${ROWS.toLocaleString("en")} rows out to a file and back stay under ${LIMIT_MB} MB RSS growth`, () => roundTrip(ROWS), 300_000)
})
