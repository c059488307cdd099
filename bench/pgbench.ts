/**
 * pgbench (C, libpq) as the ceiling of this machine: `-M prepared -c <pool> -j 2 -T <s>` with a
 * custom script, and the same statement 32 times between `\startpipeline` and `\endpipeline`.
 * pgbench connects over TCP to the same host as the Node peers.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type ConnInfo, type Measurement, USERS_ROWS, WIDE_ROWS, type WorkloadId } from "./common.js"

export const PIPELINE_DEPTH = 32

const statement = (workload: WorkloadId): { lines: Array<string>; rows: number } | undefined => {
  switch (workload) {
    case "W1":
      return { lines: ["SELECT 1;"], rows: 1 }
    case "W2":
      return {
        lines: [`\\set id random(1, ${USERS_ROWS})`, "SELECT * FROM bench_users WHERE id = :id;"],
        rows: 1
      }
    case "W3":
      return { lines: ["SELECT id, name, score, created_at, active, data FROM bench_wide;"], rows: WIDE_ROWS }
    case "W6":
      return { lines: ["SELECT pg_sleep(0.01);"], rows: 1 }
    default:
      return undefined
  }
}

export const pgbenchSupports = (workload: WorkloadId): boolean => statement(workload) !== undefined

let dir: string | undefined
const scriptDir = () => (dir ??= mkdtempSync(join(tmpdir(), "effect-pg-bench-")))
export const cleanupPgbench = () => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
}

const exec = (file: string, args: Array<string>, timeoutMs: number) =>
  new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed: ${(stderr || error.message).trim().split("\n").pop()}`))
      else resolve({ stdout, stderr })
    })
  })

export const pgbenchPath = process.env["PGBENCH"] ?? "/usr/bin/pgbench"

export const pgbenchVersion = async (): Promise<string | undefined> => {
  try {
    return (await exec(pgbenchPath, ["--version"], 10_000)).stdout.trim()
  } catch {
    return undefined
  }
}

export const runPgbench = async (options: {
  readonly conn: ConnInfo
  readonly workload: WorkloadId
  readonly pipeline: boolean
  readonly clients: number
  readonly durationMs: number
  /**
   * transactions per client (-t) instead of -T: pgbench's -T counts whole seconds, so runs shorter
   * than a second are sized from the rate of an earlier -T run
   */
  readonly transactionsPerClient?: number
}): Promise<Measurement & { readonly tps: number }> => {
  const st = statement(options.workload)
  if (!st) throw new Error(`pgbench: no script for ${options.workload}`)
  const lines = options.pipeline
    ? ["\\startpipeline", ...Array.from({ length: PIPELINE_DEPTH }, () => st.lines).flat(), "\\endpipeline"]
    : st.lines
  const perTx = st.rows * (options.pipeline ? PIPELINE_DEPTH : 1)
  const script = join(scriptDir(), `${options.workload}${options.pipeline ? "-pipeline" : ""}.sql`)
  writeFileSync(script, lines.join("\n") + "\n")
  const seconds = Math.max(1, Math.round(options.durationMs / 1000))
  const { stdout } = await exec(
    pgbenchPath,
    [
      "-h", options.conn.host,
      "-p", String(options.conn.port),
      "-U", options.conn.user,
      "-n", // no vacuum of pgbench's own tables
      "-M", "prepared",
      "-c", String(options.clients),
      "-j", "2",
      ...(options.transactionsPerClient
        ? ["-t", String(Math.max(1, Math.round(options.transactionsPerClient)))]
        : ["-T", String(seconds)]),
      "-f", script,
      options.conn.database
    ],
    seconds * 1000 + 120_000
  )
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)
  const txs = /number of transactions actually processed: (\d+)/.exec(stdout)
  if (!tps || !txs) throw new Error(`pgbench: cannot parse output: ${stdout.slice(-300)}`)
  const value = Number(tps[1]) * perTx
  const count = Number(txs[1]) * perTx
  const latency = /latency average = ([\d.]+) ms/.exec(stdout)
  return {
    count,
    elapsedMs: (count / value) * 1000,
    value,
    tps: Number(tps[1]),
    ...(latency ? { avgLatencyMs: Number(latency[1]) } : {})
  }
}
