/**
 * effect-pg, driven the way an Effect application drives it: the pool is built once in a Scope
 * (`PgPool.make` provided with a `Scope` we close at the end), and the callers are fibers forked
 * by `Effect.forEach` inside one `Effect.runPromise` (peer `effect-pg`, the headline).
 *
 * Peer `effect-pg-promise` measures the other way a program can reach the pool: 64 plain async
 * callers each awaiting `Effect.runPromise(pool.fetch(...))` per query (a Promise-based app
 * calling into Effect at every query). Peer `effect-pg-nopipe` is the headline loop with the
 * pool's `pipelining: false` (each pool-level query borrows a connection of its own), to show
 * what sharing connections between pool-level queries buys. Peer `effect-pg-schema` (W3) is the
 * headline loop with each row decoded by an effect/Schema (`pool.fetch(sql, [], { schema })`),
 * to show what Schema-typed rows cost over Records.
 *
 * effect-pg is written at the same time as this benchmark, so its modules are loaded with a
 * computed dynamic `import()`: the typecheck never depends on them, and when they are missing or
 * incomplete the worker reports "n/a: <reason>" and the other peers still run. The structural
 * types below are what this adapter needs of the planned API (DESIGN.md, issue 8).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { readdirSync, statSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import {
  type Driver,
  dsnOf,
  effectLoop,
  errorMessage,
  expectRows,
  makeScratchRows,
  type MeasureRequest,
  type Measurement,
  promiseLoop,
  randomId,
  readWideRows,
  SCRATCH,
  SCRATCH_COLUMNS,
  type ScratchRow,
  SQL,
  WIDE_ROWS
} from "../common.js"

type Fx<A> = Effect.Effect<A, unknown, never>

interface QueryApi {
  readonly fetch: (sql: string, args?: ReadonlyArray<unknown>, options?: { readonly schema?: unknown }) => Fx<ReadonlyArray<unknown>>
  readonly execute: (sql: string, args?: ReadonlyArray<unknown>) => Fx<unknown>
  readonly executemany: (sql: string, argsList: ReadonlyArray<ReadonlyArray<unknown>>) => Fx<unknown>
}

interface PoolApi extends QueryApi {
  readonly acquire: (options?: { readonly timeout?: unknown }) => Effect.Effect<QueryApi, unknown, Scope.Scope>
  readonly copyRecordsToTable: (
    table: string,
    options: { readonly records: ReadonlyArray<ReadonlyArray<unknown>>; readonly columns?: ReadonlyArray<string> }
  ) => Fx<unknown>
}

interface PoolModule {
  readonly make: (options: Record<string, unknown>) => Effect.Effect<PoolApi, unknown, Scope.Scope>
}

/** Thrown when effect-pg cannot be loaded: the parent stops asking for effect-pg cases. */
export class NotAvailable extends Error {}

let modulePromise: Promise<PoolModule> | undefined

const root = fileURLToPath(new URL("../../", import.meta.url))

/** The newest modification time of the files under `dir` (0 when it does not exist). */
const newest = (dir: string): number => {
  let t = 0
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
    }
  } catch {
    return 0
  }
  return t
}

/**
 * What users run is the compiled package (`dist/`, as every peer here is compiled JavaScript from
 * node_modules): the adapter loads `dist/Pool.js` when it is at least as new as every file in
 * `src/` (`npm run bench` builds first), else the sources through the TypeScript loader.
 */
const defaultModule = (): string => {
  const dist = join(root, "dist", "Pool.js")
  let built = 0
  try {
    built = statSync(dist).mtimeMs
  } catch {
    built = 0
  }
  return built > 0 && built >= newest(join(root, "src")) ? pathToFileURL(dist).href : "../../src/Pool.js"
}

const loadPool = (): Promise<PoolModule> =>
  (modulePromise ??= (async () => {
    // computed, so tsc does not resolve it; BENCH_EFFECT_PG_POOL points the adapter at another
    // module with the same API (to test the adapter, or to compare a branch)
    const override = process.env["BENCH_EFFECT_PG_POOL"]
    const specifier = override ? pathToFileURL(resolve(override)).href : defaultModule()
    let mod: Record<string, unknown>
    try {
      mod = (await import(specifier)) as Record<string, unknown>
    } catch (e) {
      const code = (e as { code?: unknown }).code
      const missing = code === "ERR_MODULE_NOT_FOUND" && !override && errorMessage(e).includes("/src/Pool.")
      // esbuild: "Transform failed with N errors:\n<file>:<line>:<col>: ERROR: ..." — keep the first error
      const detail = e instanceof Error ? e.message.split("\n").slice(0, 2).join(" ").replace(/\s+/g, " ") : errorMessage(e)
      throw new NotAvailable(missing ? "src/Pool.ts does not exist yet" : `src/Pool.ts does not load: ${detail.slice(0, 240)}`)
    }
    const ns = (typeof mod["make"] === "function" ? mod : (mod["PgPool"] ?? mod["default"])) as
      | Record<string, unknown>
      | undefined
    if (!ns || typeof ns["make"] !== "function") {
      throw new NotAvailable(`src/Pool.ts has no make(): exports are ${Object.keys(mod).join(", ") || "none"}`)
    }
    return ns as unknown as PoolModule
  })())

let cachedRows: Array<ReadonlyArray<unknown>> | undefined
const recordRows = (n: number) => {
  if (cachedRows?.length === n) return cachedRows
  return (cachedRows = makeScratchRows(n).map((r: ScratchRow) => [
    r.id,
    r.name,
    r.score,
    r.created_at,
    r.active,
    JSON.stringify(r.data) // jsonb as text, as asyncpg does without a custom codec
  ]))
}

/** a column of a record: by name (plain object or `get`), else by position */
const fieldOf = (row: unknown, name: string): unknown => {
  if (row === null || typeof row !== "object") return undefined
  const r = row as Record<string, unknown> & { get?: (k: string) => unknown }
  if (name in r) return r[name]
  if (typeof r.get === "function") return r.get(name)
  return (row as Record<number, unknown>)[0]
}

/** W3's row as an effect/Schema (peer effect-pg-schema): every column checked, jsonb down to its leaves. */
const WideRow = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  score: Schema.Number,
  created_at: Schema.Date,
  active: Schema.Boolean,
  data: Schema.Struct({ k: Schema.Number, tags: Schema.Array(Schema.String), nested: Schema.Struct({ x: Schema.Number }) })
})

/** A method this case needs is missing: only this case is n/a. */
class Missing extends Error {}

const need = (pool: PoolApi, method: keyof PoolApi) => {
  if (typeof pool[method] !== "function") throw new Missing(`PgPool has no ${String(method)}() yet`)
}

export const driver: Driver = {
  async measure(req: MeasureRequest): Promise<Measurement> {
    const PgPool = await loadPool()
    const scope = await Effect.runPromise(Scope.make())
    try {
      const pool = await Effect.runPromise(
        Scope.provide(scope)(
          PgPool.make({
            dsn: dsnOf(req.conn),
            minSize: req.pool,
            maxSize: req.pool,
            ...(req.peer === "effect-pg-nopipe" ? { pipelining: false } : {})
          })
        )
      )
      need(pool, "fetch")

      if (req.workload === "W4i" || req.workload === "W4c") {
        need(pool, req.workload === "W4i" ? "executemany" : "copyRecordsToTable")
        need(pool, "execute")
        const rows = recordRows(req.rows)
        const insertSql = `INSERT INTO ${SCRATCH} (${SCRATCH_COLUMNS.join(", ")}) VALUES ($1, $2, $3, $4, $5, $6)`
        const load = (n: number) =>
          req.workload === "W4i"
            ? pool.executemany(insertSql, n === rows.length ? rows : rows.slice(0, n))
            : pool.copyRecordsToTable(SCRATCH, {
              records: n === rows.length ? rows : rows.slice(0, n),
              columns: SCRATCH_COLUMNS
            })
        const reset = pool.execute(`TRUNCATE ${SCRATCH}`)
        return await Effect.runPromise(Effect.gen(function*() {
          yield* reset
          if (req.firstRound) {
            const warm = Math.min(rows.length, 10_000)
            yield* load(warm)
            const counted = yield* pool.fetch(`SELECT count(*)::int4 AS n FROM ${SCRATCH}`)
            const n = fieldOf(counted[0], "n")
            if (n !== warm) throw new Error(`effect-pg ${req.workload}: loaded ${warm} rows, table has ${String(n)}`)
          }
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
        }))
      }

      if (req.workload === "W1") expectRows("effect-pg W1", await Effect.runPromise(pool.fetch(SQL.W1)), 1)
      if (req.workload === "W2") expectRows("effect-pg W2", await Effect.runPromise(pool.fetch(SQL.W2, [1])), 1)
      if (req.workload === "W3") expectRows("effect-pg W3", await Effect.runPromise(pool.fetch(SQL.W3)), WIDE_ROWS)
      const w3Options = req.peer === "effect-pg-schema" ? { schema: WideRow } : undefined
      if (w3Options !== undefined) {
        const decoded = await Effect.runPromise(pool.fetch(SQL.W3, [], w3Options))
        expectRows("effect-pg W3 { schema }", decoded, WIDE_ROWS)
        // Schema output is a plain object (a Record has get())
        const first = decoded[0] as { get?: unknown } | undefined
        if (typeof first?.get === "function" || !(fieldOf(first, "created_at") instanceof Date)) {
          throw new Error("effect-pg W3 { schema }: rows were not decoded by the schema")
        }
      }

      if (req.peer === "effect-pg-promise") {
        const op = req.workload === "W1"
          ? () => Effect.runPromise(pool.fetch(SQL.W1))
          : req.workload === "W2"
          ? () => Effect.runPromise(pool.fetch(SQL.W2, [randomId()]))
          : undefined
        if (!op) throw new Error(`effect-pg-promise: no loop for ${req.workload}`)
        if (req.warmupMs > 0) await promiseLoop(req.warmupConcurrency, req.warmupMs, op)
        return await promiseLoop(req.concurrency, req.durationMs, op)
      }

      if (req.workload === "W5") need(pool, "acquire")
      const loop = (concurrency: number, durationMs: number, latency = false): Fx<Measurement> => {
        switch (req.workload) {
          case "W1":
            return effectLoop(concurrency, durationMs, () => pool.fetch(SQL.W1))
          case "W2":
            return effectLoop(concurrency, durationMs, () => pool.fetch(SQL.W2, [randomId()]))
          case "W3":
            return effectLoop(concurrency, durationMs, () => Effect.map(pool.fetch(SQL.W3, [], w3Options), readWideRows), {
              perOp: WIDE_ROWS
            })
          case "W5":
            return effectLoop(concurrency, durationMs, () =>
              Effect.scoped(
                Effect.flatMap(pool.acquire({ timeout: "30 seconds" }), (conn) => conn.fetch(SQL.W5))
              ))
          case "W6":
            return effectLoop(concurrency, durationMs, () => pool.fetch(SQL.W6), { latency })
          default:
            return Effect.die(new Error(`effect-pg: no loop for ${req.workload}`))
        }
      }
      if (req.warmupMs > 0) await Effect.runPromise(loop(req.warmupConcurrency, req.warmupMs))
      return await Effect.runPromise(loop(req.concurrency, req.durationMs, req.latency))
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}
