/**
 * Shared types, the case registry and the time-bounded loop helpers of the benchmark.
 *
 * This module is imported by the parent (`run.ts`) and by every worker (`worker.ts`), so it
 * must stay free of driver imports: loading it never loads `pg`, `postgres`, `@effect/sql-pg`
 * or effect-pg.
 */
import * as Effect from "effect/Effect"

export type WorkloadId = "W1" | "W2" | "W3" | "W4i" | "W4c" | "W5" | "W6"

export interface Workload {
  readonly id: WorkloadId
  /** what `--only` matches (W4i and W4c are both selected by `W4`) */
  readonly group: string
  readonly title: string
  readonly unit: "ops/s" | "rows/s"
  /** callers, when the workload fixes it rather than taking `--concurrency` */
  readonly fixedConcurrency?: number
  /** whether latency percentiles are recorded (costs two clock reads per op) */
  readonly latency?: boolean
}

export const WORKLOADS: ReadonlyArray<Workload> = [
  { id: "W1", group: "W1", title: "W1 · SELECT 1", unit: "ops/s" },
  { id: "W2", group: "W2", title: "W2 · SELECT * FROM bench_users WHERE id = $1 (100k rows, random id)", unit: "ops/s" },
  { id: "W3", group: "W3", title: "W3 · fetch 1,000 rows × 6 columns (int4, text, float8, timestamptz, bool, jsonb)", unit: "rows/s" },
  { id: "W4i", group: "W4", title: "W4 · bulk insert 100,000 rows (each client's batch path)", unit: "rows/s" },
  { id: "W4c", group: "W4", title: "W4 · COPY 100,000 rows in", unit: "rows/s" },
  { id: "W5", group: "W5", title: "W5 · acquire → SELECT 1 → release churn", unit: "ops/s" },
  {
    id: "W6",
    group: "W6",
    title: "W6 · SELECT pg_sleep(0.01), 200 concurrent callers",
    unit: "ops/s",
    fixedConcurrency: 200,
    latency: true
  }
]

export const workloadById = (id: WorkloadId): Workload => WORKLOADS.find((w) => w.id === id)!

/** Which child process runs a case. `pgbench` cases run in the parent (they spawn pgbench). */
export type DriverId = "pg" | "postgres" | "sql-pg" | "effect-pg" | "sql-client" | "pgbench"

export interface Case {
  /** unique id: `${peer}/${workload}/${variant}` */
  readonly id: string
  readonly peer: string
  readonly driver: DriverId
  readonly workload: WorkloadId
  readonly variant: string
  /** row label in the tables and the chart */
  readonly label: string
  /** the reference row of its workload (effect-pg's headline) */
  readonly reference?: boolean
  /** a pgbench row: used as the machine's ceiling */
  readonly ceiling?: "plain" | "pipeline"
  /** a second way of driving a peer, left out of `--quick` unless `--peers` names it */
  readonly extra?: boolean
}

interface PeerSpec {
  readonly peer: string
  readonly driver: DriverId
  readonly name: string
  readonly cases: ReadonlyArray<{
    readonly workload: WorkloadId
    readonly variant?: string
    readonly label?: string
    readonly reference?: boolean
  }>
  readonly ceiling?: "plain" | "pipeline"
  readonly extra?: boolean
}

const every = (workloads: ReadonlyArray<WorkloadId>, reference = false) =>
  workloads.map((workload) => ({ workload, reference }))

/**
 * Every peer and the workloads it takes part in. The order here is the order of the rows in
 * the report; the order of measurement is rotated every round.
 */
const PEERS: ReadonlyArray<PeerSpec> = [
  {
    peer: "effect-pg",
    driver: "effect-pg",
    name: "effect-pg",
    cases: [
      ...every(["W1", "W2", "W3", "W6"], true).map((c) => ({ ...c, label: "effect-pg · pool.fetch, Effect.forEach" })),
      { workload: "W4i", variant: "executemany", label: "effect-pg · executemany", reference: true },
      { workload: "W4c", variant: "copy", label: "effect-pg · copyRecordsToTable", reference: true },
      { workload: "W5", label: "effect-pg · acquire + fetch", reference: true }
    ]
  },
  {
    peer: "effect-pg-promise",
    driver: "effect-pg",
    name: "effect-pg · runPromise per query",
    extra: true,
    cases: every(["W1", "W2"])
  },
  {
    peer: "effect-pg-schema",
    driver: "effect-pg",
    name: "effect-pg · rows decoded by an effect/Schema",
    extra: true,
    cases: [{ workload: "W3", label: "effect-pg · pool.fetch(sql, [], { schema })" }]
  },
  {
    peer: "effect-pg-nopipe",
    driver: "effect-pg",
    name: "effect-pg · pipelining: false",
    extra: true,
    cases: every(["W1", "W2"])
  },
  {
    peer: "pg",
    driver: "pg",
    name: "pg Pool",
    cases: [
      ...every(["W1", "W2", "W3", "W5", "W6"]),
      { workload: "W4i", variant: "values", label: "pg · multi-row VALUES (5,000 rows/stmt)" },
      { workload: "W4i", variant: "unnest", label: "pg · unnest arrays (10,000 rows/stmt)" },
      { workload: "W4c", variant: "copy", label: "pg · pg-copy-streams COPY" }
    ]
  },
  {
    peer: "pg-named",
    driver: "pg",
    name: "pg Pool · named statements",
    cases: every(["W1", "W2", "W3", "W6"])
  },
  {
    peer: "postgres",
    driver: "postgres",
    name: "postgres.js",
    cases: [
      ...every(["W1", "W2", "W3", "W5", "W6"]),
      { workload: "W4i", variant: "helper", label: "postgres.js · sql(rows) insert helper (5,000 rows/stmt)" },
      { workload: "W4c", variant: "copy", label: "postgres.js · COPY .writable()" }
    ]
  },
  {
    peer: "sql-pg",
    driver: "sql-pg",
    name: "@effect/sql-pg",
    cases: [
      ...every(["W1", "W2", "W3", "W5", "W6"]),
      { workload: "W4i", variant: "insert", label: "@effect/sql-pg · sql.insert(rows) (5,000 rows/stmt)" }
    ]
  },
  {
    peer: "sql-client",
    driver: "sql-client",
    name: "effect-pg/sql · SqlClient",
    cases: [
      ...every(["W1", "W2", "W3", "W5", "W6"]),
      { workload: "W4i", variant: "insert", label: "effect-pg/sql · sql.insert(rows) (5,000 rows/stmt)" }
    ]
  },
  {
    peer: "sql-pg-mux",
    driver: "sql-pg",
    name: "@effect/sql-pg · multiplex",
    cases: every(["W1", "W2", "W3", "W6"])
  },
  {
    peer: "pgbench",
    driver: "pgbench",
    name: "pgbench (libpq, -M prepared)",
    ceiling: "plain",
    cases: every(["W1", "W2", "W3", "W6"])
  },
  {
    peer: "pgbench-pipeline",
    driver: "pgbench",
    name: "pgbench · 32-query pipelines",
    ceiling: "pipeline",
    cases: every(["W1", "W2"])
  }
]

export const PEER_IDS: ReadonlyArray<string> = PEERS.map((p) => p.peer)

export const ALL_CASES: ReadonlyArray<Case> = PEERS.flatMap((p) =>
  p.cases.map((c): Case => {
    const variant = c.variant ?? "default"
    return {
      id: `${p.peer}/${c.workload}/${variant}`,
      peer: p.peer,
      driver: p.driver,
      workload: c.workload,
      variant,
      label: c.label ?? p.name,
      ...(c.reference ? { reference: true } : {}),
      ...(p.ceiling ? { ceiling: p.ceiling } : {}),
      ...(p.extra ? { extra: true } : {})
    }
  })
)

// ---------------------------------------------------------------------------------------------
// Messages between the parent and a worker

export interface ConnInfo {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
}

export interface MeasureRequest {
  readonly type: "measure"
  readonly seq: number
  readonly peer: string
  readonly workload: WorkloadId
  readonly variant: string
  /** callers (the workload's fixed number for W6) */
  readonly concurrency: number
  /** record p50/p99 latency (W6) */
  readonly latency: boolean
  readonly pool: number
  readonly warmupMs: number
  /** callers during the warm-up (after round 1 only the pool's size: it just has to fill the new pool) */
  readonly warmupConcurrency: number
  /** W4: the untimed 10,000-row warm-up load runs in the first round only */
  readonly firstRound: boolean
  readonly durationMs: number
  /** W4: rows per bulk load */
  readonly rows: number
  readonly conn: ConnInfo
}

export interface Measurement {
  /** operations (W1, W2, W5, W6), or rows (W3, W4) */
  readonly count: number
  readonly elapsedMs: number
  /** count per second */
  readonly value: number
  readonly p50Ms?: number
  readonly p99Ms?: number
  /** W4: whole loads timed in this measurement */
  readonly loads?: number
  /** pgbench: its average latency per transaction */
  readonly avgLatencyMs?: number
}

export type WorkerReply =
  | { readonly type: "ready" }
  | { readonly type: "result"; readonly seq: number; readonly result: Measurement }
  | { readonly type: "error"; readonly seq: number; readonly message: string; readonly fatal?: boolean }

/** What a driver module (bench/peers/*.ts) exports. */
export interface Driver {
  readonly measure: (req: MeasureRequest) => Promise<Measurement>
}

// ---------------------------------------------------------------------------------------------
// Workload constants shared by every peer

export const USERS_ROWS = 100_000
export const WIDE_ROWS = 1_000

export const SQL = {
  W1: "SELECT 1",
  W2: "SELECT * FROM bench_users WHERE id = $1",
  W3: "SELECT id, name, score, created_at, active, data FROM bench_wide",
  W5: "SELECT 1",
  W6: "SELECT pg_sleep(0.01)"
} as const

export const SCRATCH = "bench_scratch"
export const SCRATCH_COLUMNS = ["id", "name", "score", "created_at", "active", "data"] as const

export const randomId = (): number => 1 + Math.floor(Math.random() * USERS_ROWS)

export interface ScratchRow {
  id: number
  name: string
  score: number
  created_at: Date
  active: boolean
  data: { k: number; tags: Array<string>; nested: { x: number } }
}

/** The W4 rows: the same values for every peer. */
export const makeScratchRows = (n: number): Array<ScratchRow> => {
  const base = Date.UTC(2024, 0, 1)
  const rows: Array<ScratchRow> = new Array(n)
  for (let i = 0; i < n; i++) {
    rows[i] = {
      id: i + 1,
      name: `user ${i + 1} name`,
      score: (i * 7919) % 10007 / 7.0,
      created_at: new Date(base + i * 60_000),
      active: i % 3 !== 0,
      data: { k: i, tags: ["a", "b"], nested: { x: i / 4 } }
    }
  }
  return rows
}

/** The text-format COPY line of a scratch row (escaping `\`, tab, newline, CR in text fields). */
export const copyTextEscape = (s: string): string =>
  /[\\\t\n\r]/.test(s)
    ? s.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r")
    : s

export const scratchCopyLine = (r: ScratchRow): string =>
  `${r.id}\t${copyTextEscape(r.name)}\t${r.score}\t${r.created_at.toISOString()}\t${r.active ? "t" : "f"}\t${
    copyTextEscape(JSON.stringify(r.data))
  }\n`

export const chunks = <A>(xs: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size))
  return out
}

// ---------------------------------------------------------------------------------------------
// Time-bounded loops

export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

const finish = (
  ops: number,
  elapsedMs: number,
  perOp: number,
  latencies: Array<number> | undefined
): Measurement => {
  const count = ops * perOp
  const base = { count, elapsedMs, value: (count * 1000) / elapsedMs }
  if (!latencies) return base
  latencies.sort((a, b) => a - b)
  return { ...base, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) }
}

/**
 * `concurrency` async callers, each awaiting `op()` in a loop until `durationMs` has passed.
 * The clock stops when the last in-flight operation has finished.
 */
export const promiseLoop = async (
  concurrency: number,
  durationMs: number,
  op: () => Promise<unknown>,
  options: { readonly perOp?: number; readonly latency?: boolean } = {}
): Promise<Measurement> => {
  const latencies = options.latency ? ([] as Array<number>) : undefined
  let ops = 0
  const start = performance.now()
  const deadline = start + durationMs
  const caller = async () => {
    while (performance.now() < deadline) {
      if (latencies) {
        const t = performance.now()
        await op()
        latencies.push(performance.now() - t)
      } else {
        await op()
      }
      ops++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
  return finish(ops, performance.now() - start, options.perOp ?? 1, latencies)
}

/**
 * The same loop inside Effect: `concurrency` fibers started by `Effect.forEach`, each running
 * `op()` until the deadline. This is how an Effect application issues concurrent queries.
 */
export const effectLoop = <E, R>(
  concurrency: number,
  durationMs: number,
  op: () => Effect.Effect<unknown, E, R>,
  options: { readonly perOp?: number; readonly latency?: boolean } = {}
): Effect.Effect<Measurement, E, R> =>
  Effect.suspend(() => {
    const latencies = options.latency ? ([] as Array<number>) : undefined
    let ops = 0
    const start = performance.now()
    const deadline = start + durationMs
    const caller = Effect.gen(function*() {
      while (performance.now() < deadline) {
        if (latencies) {
          const t = performance.now()
          yield* op()
          latencies.push(performance.now() - t)
        } else {
          yield* op()
        }
        ops++
      }
    })
    return Effect.forEach(Array.from({ length: concurrency }, (_, i) => i), () => caller, {
      concurrency,
      discard: true
    }).pipe(Effect.map(() => finish(ops, performance.now() - start, options.perOp ?? 1, latencies)))
  })

/**
 * W4: repeat `load()` (after an untimed `reset()`) until `durationMs` of load time has
 * accumulated, at least once. Only the loads are timed.
 */
export const bulkLoop = async (
  durationMs: number,
  rows: number,
  reset: () => Promise<unknown>,
  load: () => Promise<unknown>
): Promise<Measurement> => {
  let timed = 0
  let loads = 0
  do {
    await reset()
    const t = performance.now()
    await load()
    timed += performance.now() - t
    loads++
  } while (timed < durationMs)
  await reset()
  return {
    count: loads * rows,
    elapsedMs: timed,
    value: (loads * rows * 1000) / timed,
    loads
  }
}

export const dsnOf = (c: ConnInfo): string => `postgres://${c.user}@${c.host}:${c.port}/${c.database}`

export const errorMessage = (e: unknown): string => {
  if (e instanceof Error) return e.message.split("\n")[0]!
  if (typeof e === "object" && e !== null) {
    const o = e as { _tag?: unknown; message?: unknown; cause?: unknown }
    if (typeof o.message === "string" && o.message) return `${String(o._tag ?? "Error")}: ${o.message}`
    if (o._tag) return String(o._tag)
  }
  return String(e)
}

/** A sanity check run once before warming up: a peer that returns the wrong rows is not measured. */
export const expectRows = (what: string, rows: ArrayLike<unknown> | undefined, n: number): void => {
  const got = rows?.length
  if (got !== n) throw new Error(`${what}: expected ${n} row(s), got ${got ?? "no array"}`)
}

let sink = 0
/**
 * W3: read every column of every row by name, as an application does with fetched rows, so that
 * a client that decodes lazily (on property access) pays for it inside the measurement too.
 */
export const readWideRows = (rows: ArrayLike<unknown>): void => {
  let acc = 0
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as { id: unknown; name: unknown; score: unknown; created_at: unknown; active: unknown; data: unknown }
    if (r.id != null) acc++
    if (r.name != null) acc++
    if (r.score != null) acc++
    if (r.created_at != null) acc++
    if (r.active != null) acc++
    if (r.data != null) acc++
  }
  if (acc !== rows.length * 6) throw new Error(`W3: ${rows.length * 6 - acc} null or missing values`)
  sink += acc
}
export const readSink = (): number => sink
