/**
 * All or nothing, whatever happens. Transactions (`conn.transaction(effect)`)
 * each insert 10 rows, one statement at a time with pauses between; many are
 * interrupted at a random point (before BEGIN, between inserts, during COMMIT)
 * and meanwhile the pool's backends are terminated at random by another
 * connection.
 *
 * Specification: afterwards every transaction's rows are either all present
 * or none (0 partial transactions), and every transaction reported committed
 * to its caller has all 10 rows.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Connection from "../../src/Connection.js"
import * as PgPool from "../../src/Pool.js"
import { throwawayCluster } from "../support/cluster.js"
import { uniqueName } from "../support/db.js"
import { stormMs, stormTestTimeout } from "../support/soak.js"
import { outcomeOf } from "../support/storm.js"

const ROWS = 10
const WORKERS = 24
const POOL = 6
const STORM_MS = stormMs(6_000)

describe("transaction atomicity under interruption and terminated backends", () => {
  it.live("0 partial transactions; every reported commit has all its rows", () =>
    Effect.gen(function* () {
      const cluster = yield* throwawayCluster({ conf: { max_connections: "40" } })
      const app = uniqueName("atom")
      const target = { host: cluster.host, port: cluster.port, user: "postgres", database: "postgres", sslmode: "disable" as const }
      const admin = yield* Connection.connect({ ...target, applicationName: `${app}_admin` })
      yield* admin.execute("CREATE TABLE atom (tx int NOT NULL, i int NOT NULL, PRIMARY KEY (tx, i))")
      const pool = yield* PgPool.make({ ...target, applicationName: app, minSize: POOL, maxSize: POOL, timeout: "2 seconds" })

      let nextTx = 0
      let stop = false
      const committed = new Set<number>()
      const tally: Record<string, number> = {}
      const count = (k: string) => {
        tally[k] = (tally[k] ?? 0) + 1
      }

      const oneTransaction = (tx: number, pauses: ReadonlyArray<number>) =>
        pool.withConnection((conn) =>
          conn.transaction(
            Effect.forEach(
              pauses,
              (pause, i) =>
                conn.execute("INSERT INTO atom VALUES ($1, $2)", [tx, i]).pipe(
                  Effect.andThen(pause > 0 ? Effect.sleep(pause) : Effect.void)
                ),
              { discard: true }
            )
          ), { timeout: "2 seconds" })

      const worker = (w: number) =>
        Effect.gen(function* () {
          let seed = w * 7919 + 13
          const random = () => {
            seed = (seed * 1103515245 + 12345) & 0x7fffffff
            return seed / 0x80000000
          }
          while (!stop) {
            const tx = nextTx++
            const pauses = Array.from({ length: ROWS }, () => (random() < 0.3 ? Math.floor(random() * 3) : 0))
            const cutAfter = random() < 0.45 ? Math.floor(random() * 12) : undefined
            const effect = cutAfter === undefined ? oneTransaction(tx, pauses) : oneTransaction(tx, pauses).pipe(Effect.timeout(cutAfter))
            const exit = yield* Effect.exit(effect)
            if (exit._tag === "Success") {
              committed.add(tx)
              count("committed")
            } else {
              const { outcome } = outcomeOf(exit)
              count(cutAfter === undefined ? outcome : `cut:${outcome}`)
              if (outcome !== "TimeoutError") yield* Effect.sleep(5)
            }
          }
        })

      const load = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: WORKERS }, (_, w) => w), worker, { concurrency: "unbounded", discard: true })
      )
      let terminated = 0
      const end = Date.now() + STORM_MS
      while (Date.now() < end) {
        const n = yield* admin.fetchval(
          `SELECT count(*)::int FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 ORDER BY random() LIMIT 1) t`,
          [app]
        )
        terminated += n as number
        yield* Effect.sleep(40)
      }
      stop = true
      yield* Fiber.join(load).pipe(Effect.timeout("20 seconds"), Effect.orDie)

      const rows = (yield* admin.fetch("SELECT tx, count(*)::int AS n FROM atom GROUP BY tx")).map((r) => ({
        tx: r.get("tx") as number,
        n: r.get("n") as number
      }))
      const present = new Map(rows.map((r) => [r.tx, r.n]))
      const partial = rows.filter((r) => r.n !== ROWS)
      const lost = [...committed].filter((tx) => present.get(tx) !== ROWS)
      const failedButCommitted = rows.filter((r) => r.n === ROWS && !committed.has(r.tx)).length
      const summary = `${nextTx} transactions ${JSON.stringify(tally)}; ${terminated} backends terminated; ${rows.length} transactions with rows, ` +
        `${failedButCommitted} of them reported failed (commit reply lost or interrupted during COMMIT)`
      console.log(`atomicity: ${summary}`)

      const problems: Array<string> = []
      const require = (ok: boolean, what: string) => {
        if (!ok) problems.push(what)
      }
      require((tally["committed"] ?? 0) >= 100, `only ${tally["committed"] ?? 0} commits`)
      const cut = Object.entries(tally).filter(([k]) => k.startsWith("cut:")).reduce((a, [, v]) => a + v, 0)
      require(cut >= 50, `only ${cut} transactions cut`)
      require(terminated >= 20, `only ${terminated} backends terminated`)
      require(partial.length === 0, `${partial.length} partial transactions: ${JSON.stringify(partial.slice(0, 5))}`)
      require(lost.length === 0, `${lost.length} transactions reported committed are missing rows: ${lost.slice(0, 5).join(", ")}`)
      require(!("defect" in tally) && !("cut:defect" in tally), "defects")
      expect(problems, summary).toEqual([])
    }), stormTestTimeout(90_000))
})
