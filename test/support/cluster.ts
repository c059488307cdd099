/**
 * Throwaway PostgreSQL clusters for tests that misconfigure, stop or fill a
 * server: initdb into a temporary directory, start on a free port, removed
 * when the test's Scope closes. The shared local server is never touched.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { freePort } from "./db.js"

/** A running throwaway cluster. */
export interface Cluster {
  readonly port: number
  readonly host: string
  readonly socketDir: string
  readonly dataDir: string
  /** runs SQL as the superuser over the unix socket (psql), returns stdout */
  readonly psql: (sql: string, database?: string) => string
  readonly stop: () => void
  readonly start: () => void
  /** the postmaster's process id (first line of postmaster.pid), or undefined when it is not running */
  readonly postmasterPid: () => number | undefined
  /**
   * SIGKILLs the postmaster and every child of it (a crash, no shutdown
   * protocol: clients see their sockets reset or simply closed); returns when
   * all of them are gone. `start()` brings the cluster back.
   */
  readonly kill9: () => void
  /** `pg_ctl restart -m fast`: backends are terminated (57P01), the server comes back; waits until it accepts connections */
  readonly restartFast: () => void
  /** `start()` without blocking the event loop (the test's fibers keep running meanwhile) */
  readonly startAsync: () => Promise<void>
  /** `restartFast()` without blocking the event loop */
  readonly restartFastAsync: () => Promise<void>
}

export interface ClusterOptions {
  /** pg_hba.conf lines (the superuser keeps trust over the unix socket) */
  readonly hba?: ReadonlyArray<string>
  /** postgresql.conf settings */
  readonly conf?: Readonly<Record<string, string>>
  /** SQL run once after start, as the superuser */
  readonly setup?: ReadonlyArray<string>
  /** files to write into the data directory before start (certificates) */
  readonly files?: Readonly<Record<string, { readonly content: string; readonly mode?: number }>>
  /**
   * Instead of initdb, copy this running cluster with `pg_basebackup -R`: the new cluster
   * starts as its streaming standby (see test/support/replication.ts). `setup` is not run.
   */
  readonly standbyOf?: Cluster
}

const pgBin = (): string => {
  const base = "/usr/lib/postgresql"
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  if (versions.length > 0) return path.join(base, versions[0]!, "bin")
  const which = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" })
  if (which.status === 0) return which.stdout.trim()
  throw new Error("no PostgreSQL server binaries found (initdb, pg_ctl)")
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0

/** Whether a process exists (and is not a zombie). */
const alive = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
}

/** The process ids whose parent is `pid` (from /proc). */
const childrenOf = (pid: number): Array<number> => {
  const out: Array<number> = []
  for (const entry of fs.existsSync("/proc") ? fs.readdirSync("/proc") : []) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      if (ppid === pid) out.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return out
}

/** Runs a server binary, as the postgres OS user when we are root (initdb refuses root). */
const run = (bin: string, args: ReadonlyArray<string>, opts: { input?: string } = {}): string => {
  const cmd = isRoot ? "runuser" : bin
  const argv = isRoot ? ["-u", "postgres", "--", bin, ...args] : [...args]
  return execFileSync(cmd, argv, { encoding: "utf8", input: opts.input, stdio: ["pipe", "pipe", "pipe"], cwd: "/" })
}

/** `run` without blocking the event loop. */
const runAsync = (bin: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    const cmd = isRoot ? "runuser" : bin
    const argv = isRoot ? ["-u", "postgres", "--", bin, ...args] : [...args]
    execFile(cmd, argv, { encoding: "utf8", cwd: "/" }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }))
      else resolve(stdout)
    })
  })

/** Creates and starts a cluster; it is stopped and deleted when the scope closes. */
export const throwawayCluster = (options: ClusterOptions = {}): Effect.Effect<Cluster, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const bin = pgBin()
      const port = await freePort()
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "effect-pg-cluster-"))
      const dataDir = path.join(root, "data")
      const socketDir = path.join(root, "sock")
      fs.mkdirSync(socketDir)
      if (isRoot) execFileSync("chown", ["-R", "postgres:postgres", root])
      fs.chmodSync(root, 0o755)
      if (options.standbyOf === undefined) {
        run(path.join(bin, "initdb"), ["-D", dataDir, "-U", "postgres", "--auth-local=trust", "--auth-host=trust", "-E", "UTF8", "--no-sync"])
      } else {
        const from = options.standbyOf
        run(path.join(bin, "pg_basebackup"), [
          "-D", dataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync",
          "-h", from.socketDir, "-p", String(from.port), "-U", "postgres"
        ])
      }
      const hba = ["local all postgres trust", ...(options.hba ?? ["host all all 127.0.0.1/32 trust"])]
      const conf = {
        listen_addresses: "'127.0.0.1'",
        port: String(port),
        unix_socket_directories: `'${socketDir}'`,
        fsync: "off",
        shared_buffers: "16MB",
        max_connections: "20",
        ...options.conf
      }
      const write = (file: string, content: string, mode = 0o600) => {
        const p = path.join(dataDir, file)
        fs.writeFileSync(p, content, { mode })
        if (isRoot) execFileSync("chown", ["postgres:postgres", p])
      }
      write("pg_hba.conf", hba.join("\n") + "\n")
      fs.appendFileSync(path.join(dataDir, "postgresql.conf"), Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join("\n") + "\n")
      for (const [name, f] of Object.entries(options.files ?? {})) write(name, f.content, f.mode ?? 0o600)
      const pgCtl = path.join(bin, "pg_ctl")
      const start = () => run(pgCtl, ["-D", dataDir, "-l", path.join(root, "log"), "-w", "-t", "30", "start"])
      const stop = () => {
        try {
          run(pgCtl, ["-D", dataDir, "-m", "immediate", "-w", "stop"])
        } catch {
          // already stopped
        }
      }
      const postmasterPid = (): number | undefined => {
        try {
          const pid = Number(fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])
          return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined
        } catch {
          return undefined
        }
      }
      const kill9 = () => {
        const pm = postmasterPid()
        if (pm === undefined) return
        const victims = [pm, ...childrenOf(pm)]
        for (const pid of victims) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // already gone
          }
        }
        const deadline = Date.now() + 10_000
        while (victims.some(alive)) {
          if (Date.now() > deadline) throw new Error(`postmaster ${pm} or a child survived SIGKILL`)
          spawnSync("sleep", ["0.01"])
        }
        // the dead postmaster may linger as a zombie (no init reaps it in a container), which
        // kill(pid, 0) calls alive: its lock file would stop the next start. Every process of the
        // cluster is dead, so the lock file is stale.
        fs.rmSync(path.join(dataDir, "postmaster.pid"), { force: true })
        fs.rmSync(path.join(socketDir, `.s.PGSQL.${port}.lock`), { force: true })
        fs.rmSync(path.join(socketDir, `.s.PGSQL.${port}`), { force: true })
      }
      const restartFast = () => {
        run(pgCtl, ["-D", dataDir, "-l", path.join(root, "log"), "-m", "fast", "-w", "-t", "30", "restart"])
      }
      const startAsync = () => runAsync(pgCtl, ["-D", dataDir, "-l", path.join(root, "log"), "-w", "-t", "30", "start"]).then(() => undefined)
      const restartFastAsync = () =>
        runAsync(pgCtl, ["-D", dataDir, "-l", path.join(root, "log"), "-m", "fast", "-w", "-t", "30", "restart"]).then(() => undefined)
      const psql = (sql: string, database = "postgres") =>
        run("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDir, "-p", String(port), "-U", "postgres", "-d", database], {
          input: sql
        })
      try {
        start()
        if (options.standbyOf === undefined) for (const sql of options.setup ?? []) psql(sql)
      } catch (e) {
        // leave nothing behind, and say why: psql's stderr and the server log
        stop()
        const message = e instanceof Error ? e.message : String(e)
        const stderr = (e as { stderr?: string }).stderr ?? ""
        let log = ""
        try {
          log = fs.readFileSync(path.join(root, "log"), "utf8").split("\n").slice(-20).join("\n")
        } catch {
          // no log yet
        }
        fs.rmSync(root, { recursive: true, force: true })
        throw new Error(`throwaway cluster failed to start or set up: ${message}\n${message.includes(stderr) ? "" : `${stderr}\n`}${log}`)
      }
      return { port, host: "127.0.0.1", socketDir, dataDir, psql, stop, start, postmasterPid, kill9, restartFast, startAsync, restartFastAsync, root } as Cluster & {
        root: string
      }
    }),
    (c) =>
      Effect.sync(() => {
        c.stop()
        fs.rmSync((c as Cluster & { root: string }).root, { recursive: true, force: true })
      })
  )
