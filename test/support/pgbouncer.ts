/**
 * A real PgBouncer (Debian's package) in transaction mode in front of a
 * server, for tests of what a pooler does to a client: each transaction runs
 * on whichever server connection is free, shared by every client.
 *
 * Installs the package when it is missing and we are root (apt-get update
 * once, then apt-get install -y pgbouncer); runs it as the `postgres` OS user
 * (PgBouncer refuses root) with a config in a temporary directory; stops it
 * and removes the directory when the Scope closes.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { freePort } from "./db.js"

/** A running PgBouncer. */
export interface PgBouncer {
  readonly host: string
  readonly port: number
  /** the user clients connect as (trusted, listed in the auth file) */
  readonly user: string
  /** the last lines of its log, for failure messages */
  readonly log: () => string
}

export interface PgBouncerOptions {
  /** the server behind it */
  readonly server: { readonly host: string; readonly port: number }
  /** the user clients connect as (default "postgres") */
  readonly user?: string
  /** server connections per database/user pair (default 4: heavily shared) */
  readonly poolSize?: number
  /** more `[pgbouncer]` settings, e.g. `server_reset_query` */
  readonly settings?: Readonly<Record<string, string>>
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0

const findBinary = (): string | undefined => {
  for (const p of ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"]) if (fs.existsSync(p)) return p
  const which = spawnSync("sh", ["-c", "command -v pgbouncer"], { encoding: "utf8" })
  return which.status === 0 && which.stdout.trim() !== "" ? which.stdout.trim() : undefined
}

let installTried = false

/** The pgbouncer binary; installs Debian's package when missing and running as root. */
export const pgbouncerBinary = (): string => {
  const found = findBinary()
  if (found !== undefined) return found
  if (isRoot && !installTried) {
    installTried = true
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
    spawnSync("apt-get", ["update"], { stdio: "ignore", env })
    spawnSync("apt-get", ["install", "-y", "pgbouncer"], { stdio: "ignore", env })
    const installed = findBinary()
    if (installed !== undefined) return installed
  }
  throw new Error(
    "pgbouncer is not installed and could not be installed (apt-get install -y pgbouncer needs root and the Debian package registry); install it to run the PgBouncer tests"
  )
}

/** Resolves once something accepts connections on host:port, or rejects after `ms`. */
const waitForPort = (host: string, port: number, ms: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const deadline = Date.now() + ms
    const attempt = () => {
      const s = net.connect(port, host)
      s.once("connect", () => {
        s.destroy()
        resolve()
      })
      s.once("error", () => {
        s.destroy()
        if (Date.now() > deadline) reject(new Error(`pgbouncer did not listen on ${host}:${port} within ${ms} ms`))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })

/** Starts PgBouncer in transaction mode in front of `options.server`; stopped when the scope closes. */
export const pgbouncer = (options: PgBouncerOptions): Effect.Effect<PgBouncer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const bin = pgbouncerBinary()
      const port = await freePort()
      const user = options.user ?? "postgres"
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-pg-pgbouncer-"))
      const file = (name: string) => path.join(dir, name)
      const settings: Record<string, string> = {
        listen_addr: "127.0.0.1",
        listen_port: String(port),
        unix_socket_dir: "",
        auth_type: "trust",
        auth_file: file("userlist.txt"),
        pool_mode: "transaction",
        max_client_conn: "200",
        default_pool_size: String(options.poolSize ?? 4),
        min_pool_size: "0",
        reserve_pool_size: "0",
        // parameters other clients send that PgBouncer does not track (effect-pg sends only tracked ones)
        ignore_startup_parameters: "extra_float_digits,options",
        logfile: file("pgbouncer.log"),
        pidfile: file("pgbouncer.pid"),
        ...options.settings
      }
      fs.writeFileSync(file("userlist.txt"), `"${user}" ""\n`)
      fs.writeFileSync(
        file("pgbouncer.ini"),
        `[databases]\n* = host=${options.server.host} port=${options.server.port}\n\n[pgbouncer]\n` +
          Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join("\n") + "\n"
      )
      if (isRoot) execFileSync("chown", ["-R", "postgres:postgres", dir])
      const log = () => {
        try {
          return fs.readFileSync(file("pgbouncer.log"), "utf8").split("\n").slice(-20).join("\n")
        } catch {
          return ""
        }
      }
      // -d: it daemonizes once it listens; its pid is in the pidfile
      const cmd = isRoot ? "runuser" : bin
      const argv = isRoot ? ["-u", "postgres", "--", bin, "-d", file("pgbouncer.ini")] : ["-d", file("pgbouncer.ini")]
      const started = spawnSync(cmd, argv, { encoding: "utf8", cwd: "/" })
      if (started.status !== 0) {
        fs.rmSync(dir, { recursive: true, force: true })
        throw new Error(`pgbouncer failed to start (exit ${started.status}): ${started.stderr}\n${log()}`)
      }
      await waitForPort("127.0.0.1", port, 10_000)
      return { host: "127.0.0.1", port, user, log, dir }
    }),
    (b) =>
      Effect.promise(async () => {
        const pidFile = path.join(b.dir, "pgbouncer.pid")
        const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8").trim()) : NaN
        if (Number.isInteger(pid) && pid > 0) {
          try {
            process.kill(pid, "SIGTERM")
          } catch {
            // already gone
          }
          // wait (bounded) for it to exit, so the directory is not removed under it
          for (let i = 0; i < 100; i++) {
            try {
              process.kill(pid, 0)
            } catch {
              break
            }
            await new Promise((r) => setTimeout(r, 20))
          }
        }
        fs.rmSync(b.dir, { recursive: true, force: true })
      })
  )
