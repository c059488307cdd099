/**
 * W5 (acquire → SELECT 1 → release, 64 callers, pool of 10) with the CPU each side spends per
 * operation: the client process (`process.cpuUsage`) and the server's backends of the pool
 * (utime + stime of their pids in /proc, so Linux only, and the server must run on this machine).
 * On a 2-core machine W5 is CPU-bound: these two numbers say where an operation's cost is.
 *
 *   npx tsx bench/w5-cpu.ts [effect-pg|pg] [milliseconds] [rounds]
 *
 * effect-pg is loaded from dist/ when it is built (`npm run build`), else from src/;
 * BENCH_EFFECT_PG_POOL points it at another build (an A/B of two trees).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import pg from "pg"

const which = process.argv[2] ?? "effect-pg"
const durationMs = Number(process.argv[3] ?? 3000)
const rounds = Number(process.argv[4] ?? 3)
const CALLERS = 64
const POOL = 10
const app = `w5cpu${process.pid}`
const host = process.env["PGHOST"] ?? "127.0.0.1"
const port = Number(process.env["PGPORT"] ?? 5432)
const user = process.env["PGUSER"] ?? "root"
const database = process.env["PGDATABASE"] ?? "test"
/** clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux) */
const HZ = 100

/** CPU seconds used so far by the backends of this run's pool. */
const backendSeconds = async (): Promise<number> => {
  const c = new pg.Client({ host, port, user, database })
  await c.connect()
  const r = await c.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])
  await c.end()
  let ticks = 0
  for (const { pid } of r.rows) {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks / HZ
}

/** Runs `loop` for warm-up then `rounds` measured rounds, printing ops/s and µs of CPU per op. */
const measure = async (loop: (ms: number) => Promise<number>): Promise<void> => {
  await loop(1000)
  for (let r = 0; r < rounds; r++) {
    const server0 = await backendSeconds()
    const client0 = process.cpuUsage()
    const t0 = performance.now()
    const n = await loop(durationMs)
    const seconds = (performance.now() - t0) / 1000
    const client = process.cpuUsage(client0)
    const server = (await backendSeconds()) - server0
    const perOp = (us: number) => (us / n).toFixed(1)
    console.log(
      `${which}  ${Math.round(n / seconds)} ops/s  client ${perOp(client.user + client.system)} µs/op (user ${perOp(client.user)}, sys ${perOp(client.system)})  server ${perOp(server * 1e6)} µs/op`
    )
  }
}

if (which === "pg") {
  const pool = new pg.Pool({ host, port, user, database, max: POOL, application_name: app })
  await measure(async (ms) => {
    let n = 0
    const end = performance.now() + ms
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (performance.now() < end) {
          const c = await pool.connect()
          await c.query("SELECT 1")
          c.release()
          n++
        }
      })
    )
    return n
  })
  await pool.end()
} else {
  const dist = resolve(import.meta.dirname, "..", "dist", "Pool.js")
  const path = process.env["BENCH_EFFECT_PG_POOL"] ?? (existsSync(dist) ? dist : resolve(import.meta.dirname, "..", "src", "Pool.ts"))
  const PgPool = (await import(pathToFileURL(resolve(path)).href)) as typeof import("../src/Pool.js")
  const scope = Effect.runSync(Scope.make())
  const dsn = `postgres://${user}@${host}:${port}/${database}?application_name=${app}`
  const pool = await Effect.runPromise(Scope.provide(scope)(PgPool.make({ dsn, minSize: POOL, maxSize: POOL })))
  const op = Effect.scoped(Effect.flatMap(pool.acquire({ timeout: "30 seconds" }), (conn) => conn.fetch("SELECT 1")))
  await measure((ms) =>
    Effect.runPromise(
      Effect.suspend(() => {
        let n = 0
        const end = performance.now() + ms
        const loop: Effect.Effect<void, unknown> = Effect.suspend(() =>
          performance.now() < end
            ? Effect.flatMap(op, () => {
                n++
                return loop
              })
            : Effect.void
        )
        return Effect.map(Effect.forEach(Array.from({ length: CALLERS }), () => loop, { concurrency: "unbounded", discard: true }), () => n)
      })
    )
  )
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
