/**
 * `npm run bench` — effect-pg against every peer, in one run.
 *
 *   npm run bench                       # 3 rounds × 3 s per measurement
 *   npm run bench -- --quick            # 3 rounds × 1 s (under 2 minutes)
 *   npm run bench -- --only W1,W2 --peers effect-pg,pg,pgbench --rounds 5
 *
 * Method: one long-lived child process per driver (pg, postgres.js, @effect/sql-pg, effect-pg);
 * the parent sends one measurement at a time, so exactly one client runs while the others sit
 * idle with no connections open. Every measurement builds its own pool, warms it up, measures a
 * time-bounded loop and closes the pool. The order of the peers is rotated every round. pgbench
 * runs from the parent. See METHOD below for the reasons.
 */
import { type ChildProcess, fork } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { availableParallelism, cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  ALL_CASES,
  type Case,
  type ConnInfo,
  type DriverId,
  errorMessage,
  type MeasureRequest,
  type Measurement,
  PEER_IDS,
  type WorkerReply,
  workloadById,
  WORKLOADS
} from "./common.js"
import { cleanupPgbench, pgbenchPath, pgbenchVersion, runPgbench } from "./pgbench.js"
import { aggregate, type CaseResult, markdown, type Meta, svg } from "./report.js"
import { setupTables } from "./setup.js"

const here = dirname(fileURLToPath(import.meta.url))

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  quick: boolean
  concurrency: number
  pool: number
  rounds: number
  durationMs: number
  /** --duration was given (else --quick sizes it) */
  durationSet: boolean
  warmupMs: number
  /** warm-up after the first round: the worker's JIT is warm, only the new pool needs filling */
  rewarmMs: number
  rows: number
  only: ReadonlyArray<string> | undefined
  peers: ReadonlyArray<string> | undefined
  out: string
  conn: ConnInfo
}

/**
 * --quick must finish in under 2 minutes on 2 cores. Each measurement costs its duration plus
 * ~0.25 s (pool, warm-up, in-flight tail), and W4 loads take ~1.3 s whatever the duration, so
 * quick spends QUICK_BUDGET_S on the time-bounded measurements: 1 s each when few cases are
 * selected, down to ~0.35 s for the whole set (~100 time-bounded measurements).
 */
const QUICK_BUDGET_S = 36
const QUICK_MAX_S = 1
const QUICK_MIN_S = 0.3

const USAGE = `usage: npm run bench -- [options]
  --quick              short measurements (1 s, down to 0.35 s for every workload and peer) and warm-ups,
                       without the extra effect-pg modes (effect-pg-promise, effect-pg-nopipe, effect-pg-schema: name them
                       in --peers to add them); the whole run takes under 2 minutes on an idle machine
  --duration <s>       seconds per measurement (default 3; see --quick)
  --warmup <s>         warm-up seconds before the first measurement of a case (default 1; 0.25 with --quick)
  --rounds <n>         rounds per case, peers rotated each round (default 3)
  --concurrency <n>    concurrent callers (default 64; W6 always uses 200)
  --pool <n>           pool size of every client and pgbench's -c (default 10)
  --rows <n>           rows per W4 load (default 100000)
  --only W1,W2,...     workloads (W1..W6; W4 is the insert and the COPY table)
  --peers a,b,...      peers: ${PEER_IDS.join(", ")}
                       (a name also selects its variants: "pg" → pg, pg-named; "effect-pg" → effect-pg, effect-pg-promise)
  --out <dir>          output directory (default bench/results)
  connection: PGHOST (127.0.0.1), PGPORT (5432), PGDATABASE (test), PGUSER (root)`

const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const flags = new Map<string, string>()
  let quick = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "--help" || a === "-h") {
      console.log(USAGE)
      process.exit(0)
    }
    if (a === "--quick") {
      quick = true
      continue
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a)
    if (!m) throw new Error(`unknown argument ${a}\n${USAGE}`)
    const value = m[2] ?? argv[++i]
    if (value === undefined) throw new Error(`--${m[1]} needs a value`)
    flags.set(m[1]!, value)
  }
  const known = ["duration", "warmup", "rounds", "concurrency", "pool", "rows", "only", "peers", "out"]
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}\n${USAGE}`)
  const num = (k: string, d: number) => {
    const v = flags.get(k)
    if (v === undefined) return d
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k} must be a positive number`)
    return n
  }
  const list = (k: string) => flags.get(k)?.split(",").map((s) => s.trim()).filter(Boolean)
  const durationMs = num("duration", 3) * 1000
  const warmupMs = num("warmup", quick ? 0.25 : 1) * 1000
  return {
    quick,
    concurrency: Math.round(num("concurrency", 64)),
    pool: Math.round(num("pool", 10)),
    rounds: Math.round(num("rounds", 3)),
    durationMs,
    warmupMs,
    rewarmMs: Math.min(warmupMs, quick ? 50 : 500),
    rows: Math.round(num("rows", 100_000)),
    durationSet: flags.has("duration"),
    only: list("only")?.map((s) => s.toUpperCase()),
    peers: list("peers"),
    out: flags.get("out") ?? join(here, "results"),
    conn: {
      host: process.env["PGHOST"] ?? "127.0.0.1",
      port: Number(process.env["PGPORT"] ?? 5432),
      database: process.env["PGDATABASE"] ?? "test",
      user: process.env["PGUSER"] ?? "root"
    }
  }
}

const selectCases = (o: Options): Array<Case> => {
  if (o.only) {
    const groups = new Set(WORKLOADS.flatMap((w) => [w.group, w.id.toUpperCase()]))
    for (const s of o.only) if (!groups.has(s)) throw new Error(`--only: unknown workload ${s}`)
  }
  if (o.peers) for (const p of o.peers) if (!PEER_IDS.some((id) => id === p || id.startsWith(p + "-"))) {
    throw new Error(`--peers: unknown peer ${p} (known: ${PEER_IDS.join(", ")})`)
  }
  return ALL_CASES.filter((c) => {
    const w = workloadById(c.workload)
    if (o.only && !o.only.includes(w.group) && !o.only.includes(w.id.toUpperCase())) return false
    if (o.peers && !o.peers.some((p) => c.peer === p || c.peer.startsWith(p + "-"))) return false
    if (o.quick && c.extra && !o.peers?.includes(c.peer)) return false
    return true
  })
}

const METHOD = `### Method

- **Process model.** One long-lived child process per driver (pg and pg-named share the \`pg\` worker, the two
  @effect/sql-pg modes share one, the two effect-pg modes share one); pgbench is spawned by the parent. The parent
  runs exactly one measurement at a time, so the two cores are shared only by the client under test and the server.
  Idle workers hold no connections: every measurement builds its pool, warms it up, runs, and closes it.
- **Why not one process for all peers:** garbage and JIT state left by one library would be collected and
  deoptimised during the next one's measurement, and a crash or hang in a driver under construction would end the
  run. **Why not a fresh process per measurement:** each start loads the TypeScript loader and the library again
  (~1 s on 2 cores) and begins cold, which costs more time than the quick run has and adds JIT warm-up noise.
  Long-lived workers keep each library in its own warm heap; a worker that dies or times out is restarted.
- **Schedule.** Workload by workload; within a workload, rounds; within a round every peer once, the order rotated
  by one each round so no peer always runs first or right after pgbench. Numbers are the median over rounds,
  min – max is the spread.
- **Loops.** Time-bounded: N callers (64 by default, 200 for W6) loop until the deadline, the clock stops when the
  last in-flight query has returned. Promise libraries use async callers; Effect libraries use fibers forked by
  \`Effect.forEach\` inside one \`Effect.runPromise\`. A warm-up loop precedes every measurement: in round 1 with all
  callers (JIT), in later rounds shorter and with pool-size callers (the process is warm, the new pool must fill).
  W4 times whole 100,000-row loads (TRUNCATE between loads, untimed) until the duration has been spent, at least once.
- **Ceiling.** pgbench with \`-M prepared -c <pool> -j 2\` over TCP; "÷ pgbench pipeline" compares with 32-statement
  \`\\startpipeline\` transactions (statements per second = tps × 32). pgbench reads rows without decoding them.`

// ---------------------------------------------------------------------------------------------
// Workers

class Worker {
  private child: ChildProcess | undefined
  private ready: Promise<void> | undefined
  private pending: { seq: number; resolve: (m: Measurement) => void; reject: (e: Error) => void } | undefined
  private seq = 0

  constructor(readonly driver: Exclude<DriverId, "pgbench">) {}

  start(): Promise<void> {
    if (this.ready) return this.ready
    const child = fork(join(here, "worker.ts"), [this.driver], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    this.child = child
    this.ready = new Promise<void>((resolve, reject) => {
      const onReply = (msg: WorkerReply) => {
        if (msg.type === "ready") resolve()
        else if (this.pending && msg.seq === this.pending.seq) {
          const p = this.pending
          this.pending = undefined
          if (msg.type === "result") p.resolve(msg.result)
          else p.reject(Object.assign(new Error(msg.message), { fatal: msg.fatal === true }))
        }
      }
      child.on("message", onReply)
      child.on("exit", (code, signal) => {
        const e = new Error(`worker ${this.driver} exited (${signal ?? `code ${code}`})`)
        reject(e)
        this.pending?.reject(e)
        this.pending = undefined
        if (this.child === child) {
          this.child = undefined
          this.ready = undefined
        }
      })
    })
    return this.ready
  }

  async measure(req: Omit<MeasureRequest, "seq" | "type">, timeoutMs: number): Promise<Measurement> {
    await this.start()
    const child = this.child!
    const seq = ++this.seq
    return new Promise<Measurement>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined
        reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s`))
        this.kill()
      }, timeoutMs)
      this.pending = {
        seq,
        resolve: (m) => {
          clearTimeout(timer)
          resolve(m)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        }
      }
      child.send({ ...req, type: "measure", seq } satisfies MeasureRequest)
    })
  }

  kill() {
    const child = this.child
    if (child && child.exitCode === null && child.pid !== undefined) child.kill("SIGKILL")
  }

  async stop() {
    const child = this.child
    if (!child || child.exitCode !== null) return
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    child.send({ type: "exit" })
    const t = setTimeout(() => this.kill(), 5_000)
    await exited
    clearTimeout(t)
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const fmt = (x: number) => Math.round(x).toLocaleString("en-US")
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const main = async () => {
  const started = performance.now()
  const loadBefore = loadavg()[0]!
  const opts = parseOptions(process.argv.slice(2))
  const cases = selectCases(opts)
  if (cases.length === 0) throw new Error("no case selected")
  if (opts.quick && !opts.durationSet) {
    const timed = cases.filter((c) => c.workload !== "W4i" && c.workload !== "W4c").length * opts.rounds
    const s = Math.min(QUICK_MAX_S, Math.max(QUICK_MIN_S, QUICK_BUDGET_S / Math.max(1, timed)))
    opts.durationMs = Math.round(s * 20) * 50 // a multiple of 50 ms
  }
  const log = (s: string) => process.stderr.write(s + "\n")

  const workers = new Map<DriverId, Worker>()
  const workerOf = (d: Exclude<DriverId, "pgbench">) => {
    let w = workers.get(d)
    if (!w) workers.set(d, (w = new Worker(d)))
    return w
  }
  // start every needed worker at once, while the tables are checked (loading the libraries takes longest)
  const starting = Promise.allSettled(
    [...new Set(cases.map((c) => c.driver))].filter((d): d is Exclude<DriverId, "pgbench"> => d !== "pgbench").map(
      (d) => workerOf(d).start()
    )
  )
  const pgVersion = await setupTables(opts.conn, log)
  const pgbench = cases.some((c) => c.driver === "pgbench") ? await pgbenchVersion() : undefined
  await starting

  const pgbenchTps = new Map<string, number>()
  const results = new Map<string, CaseResult>(cases.map((c) => [c.id, { case: c, rounds: [] }]))
  const disabledDrivers = new Map<DriverId, string>()
  if (pgbench === undefined && cases.some((c) => c.driver === "pgbench")) {
    disabledDrivers.set("pgbench", `pgbench not found at ${pgbenchPath}`)
  }

  for (const w of WORKLOADS) {
    const wc = cases.filter((c) => c.workload === w.id)
    if (wc.length === 0) continue
    log(`\n${w.title}`)
    // a driver that could not load (effect-pg while its sources are being edited) gets a fresh
    // process and another chance at every workload
    for (const [d, reason] of disabledDrivers) {
      if (d === "pgbench" || !wc.some((c) => c.driver === d)) continue
      disabledDrivers.delete(d)
      log(`(restarting the ${d} worker, which failed to load: ${reason})`)
      await workerOf(d).stop()
    }
    for (let round = 0; round < opts.rounds; round++) {
      const order = wc.map((_, i) => wc[(i + round) % wc.length]!)
      for (const c of order) {
        const res = results.get(c.id)!
        const disabled = disabledDrivers.get(c.driver)
        if (disabled) {
          res.error = disabled
          continue
        }
        if (res.error && res.rounds.length === 0) continue // failed in an earlier round: do not retry
        const concurrency = w.fixedConcurrency ?? opts.concurrency
        // later rounds run in a warm process: a short warm-up fills the new pool. W6's callers
        // queue for ~200 ms per query, so its warm-up would mostly wait: the first round's is enough.
        const warmupMs = round === 0 ? opts.warmupMs : w.id === "W6" ? 0 : opts.rewarmMs
        const t0 = performance.now()
        let m: Measurement
        try {
          if (c.driver === "pgbench") {
            const earlier = pgbenchTps.get(c.id)
            const r = await runPgbench({
              conn: opts.conn,
              workload: c.workload,
              pipeline: c.ceiling === "pipeline",
              clients: opts.pool,
              durationMs: opts.durationMs,
              ...(opts.durationMs % 1000 !== 0 && earlier
                ? { transactionsPerClient: (earlier * opts.durationMs) / 1000 / opts.pool }
                : {})
            })
            pgbenchTps.set(c.id, r.tps)
            m = r
          } else {
            const bulk = c.workload === "W4i" || c.workload === "W4c"
            m = await workerOf(c.driver).measure({
              peer: c.peer,
              workload: c.workload,
              variant: c.variant,
              concurrency,
              latency: w.latency === true,
              pool: opts.pool,
              warmupMs,
              warmupConcurrency: round === 0 ? concurrency : Math.min(concurrency, opts.pool),
              firstRound: round === 0,
              durationMs: opts.durationMs,
              rows: opts.rows,
              conn: opts.conn
            }, warmupMs + opts.durationMs + (bulk ? 180_000 : 60_000))
          }
        } catch (e) {
          const message = errorMessage(e)
          res.error = message
          if ((e as { fatal?: boolean }).fatal) disabledDrivers.set(c.driver, message)
          log(`  r${round + 1} ${c.label.padEnd(58)} n/a: ${message}`)
          continue
        }
        res.rounds.push(m)
        const lat = m.p50Ms !== undefined ? `  p50 ${m.p50Ms.toFixed(1)} ms  p99 ${m.p99Ms!.toFixed(1)} ms` : ""
        log(
          `  r${round + 1} ${c.label.padEnd(58)} ${fmt(m.value).padStart(11)} ${w.unit}${lat}  (${
            ((performance.now() - t0) / 1000).toFixed(1)
          } s)`
        )
        await sleep(10)
      }
    }
  }

  await Promise.all([...workers.values()].map((w) => w.stop()))
  cleanupPgbench()

  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU"
  const argv = process.argv.slice(2)
  const meta: Meta = {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cores: availableParallelism(),
    cpu,
    postgres: pgVersion,
    pgbench,
    node: process.version,
    command: `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`,
    method: METHOD,
    options: {
      rounds: opts.rounds,
      duration_s: opts.durationMs / 1000,
      warmup_s: `${opts.warmupMs / 1000} (then ${opts.rewarmMs / 1000})`,
      concurrency: opts.concurrency,
      pool: opts.pool,
      w4_rows: opts.rows
    },
    totalSeconds: (performance.now() - started) / 1000,
    load: { before: loadBefore, after: loadavg()[0]! }
  }
  const report = aggregate(meta, [...results.values()])
  const md = markdown(report)
  mkdirSync(opts.out, { recursive: true })
  writeFileSync(join(opts.out, "latest.md"), md)
  writeFileSync(join(opts.out, "latest.json"), JSON.stringify(report, null, 2) + "\n")
  writeFileSync(join(opts.out, "latest.svg"), svg(report))
  process.stdout.write("\n" + md)
  log(`\nwrote ${join(opts.out, "latest.md")}, latest.json, latest.svg in ${meta.totalSeconds!.toFixed(0)} s`)
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e)
  cleanupPgbench()
  process.exit(1)
})
