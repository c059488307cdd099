/**
 * A throwaway primary with streaming replicas, for failover and replica tests.
 *
 * The primary is a {@link throwawayCluster} configured for replication; each
 * replica is a copy of it made with `pg_basebackup -R` (its own data
 * directory and free port) that streams from the primary. The set waits until
 * every replica streams before it is handed out.
 *
 * Helpers: freeze/thaw a cluster (SIGSTOP/SIGCONT of the postmaster and all
 * its children: a hung host, not a stopped one), promote a replica, and the
 * `Cluster` methods (`stop`, `start`, `kill9`, ...) of each member. When the
 * test's Scope closes, everything is thawed, stopped and removed.
 *
 * Never call a member's `psql` while it is frozen: it blocks until thawed.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { throwawayCluster, type Cluster } from "./cluster.js"

/** A primary and its streaming replicas. */
export interface Replication {
  readonly primary: Cluster
  /** In creation order; at least one. */
  readonly replicas: ReadonlyArray<Cluster>
  /** The first replica. */
  readonly replica: Cluster
  /**
   * Stops (SIGSTOP) the postmaster and then every child of it: clients'
   * connects and queries get no answer, sockets stay open. Thawed
   * automatically when the scope closes.
   */
  readonly freeze: (c: Cluster) => void
  /** Resumes (SIGCONT) a frozen cluster: the postmaster and every child. */
  readonly thaw: (c: Cluster) => void
  /**
   * Promotes a replica to primary (`pg_promote()`) and resolves once it
   * accepts writes (`pg_is_in_recovery()` is false). Does not block the
   * event loop.
   */
  readonly promote: (c: Cluster) => Promise<void>
  /** Resolves when `count` replicas stream from `primary` (default: all). Fails after `timeoutMs`. */
  readonly waitStreaming: (options?: { readonly count?: number; readonly timeoutMs?: number }) => Promise<void>
  /** Runs SQL as the superuser without blocking the event loop; stdout, unaligned, tuples only. */
  readonly query: (c: Cluster, sql: string) => Promise<string>
}

/** Options of {@link replication}. */
export interface ReplicationOptions {
  /** Number of replicas (default 1). */
  readonly replicas?: number
  /** postgresql.conf settings for every member (replicas need max_connections >= the primary's). */
  readonly conf?: Readonly<Record<string, string>>
}

/** Runs SQL as the superuser over the cluster's Unix socket, asynchronously. */
const psqlAsync = (c: Cluster, sql: string, timeoutMs = 30_000): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(
      "psql",
      ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", c.socketDir, "-p", String(c.port), "-U", "postgres", "-d", "postgres", "-c", sql],
      { encoding: "utf8", cwd: "/", timeout: timeoutMs },
      (err, stdout, stderr) => (err ? reject(new Error(`psql on port ${c.port}: ${err.message} ${stderr}`)) : resolve(stdout.trim()))
    )
  })

/** The process ids whose parent is `pid`. */
const childrenOf = (pid: number): Array<number> => {
  const out: Array<number> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return out
}

const signal = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig)
  } catch {
    // gone
  }
}

/** SIGSTOPs the postmaster first (so it forks nothing new), then its children. */
export const freezeCluster = (c: Cluster): void => {
  const pm = c.postmasterPid()
  if (pm === undefined) throw new Error(`cluster on port ${c.port} is not running; cannot freeze it`)
  signal(pm, "SIGSTOP")
  for (const pid of childrenOf(pm)) signal(pid, "SIGSTOP")
}

/** SIGCONTs the children of the postmaster, then the postmaster. Harmless on a running cluster. */
export const thawCluster = (c: Cluster): void => {
  const pm = c.postmasterPid()
  if (pm === undefined) return
  for (const pid of childrenOf(pm)) signal(pid, "SIGCONT")
  signal(pm, "SIGCONT")
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `check` until it returns true; rejects with `what` after `timeoutMs`. */
const until = async (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms${last === undefined ? "" : `: ${String(last)}`}`)
    await sleep(50)
  }
}

/**
 * A primary and `options.replicas` (default 1) streaming replicas, each a
 * throwaway cluster on its own free port (127.0.0.1, trust auth, user
 * `postgres`). Replicas are hot standbys (read-only queries work). Thawed,
 * stopped and removed when the scope closes.
 */
export const replication = (options: ReplicationOptions = {}): Effect.Effect<Replication, never, Scope.Scope> =>
  Effect.gen(function*() {
    const count = Math.max(1, options.replicas ?? 1)
    const conf = { wal_level: "replica", max_wal_senders: "10", wal_keep_size: "64MB", hot_standby: "on", ...options.conf }
    const primary = yield* throwawayCluster({
      conf,
      hba: ["host all all 127.0.0.1/32 trust", "local replication postgres trust", "host replication all 127.0.0.1/32 trust"]
    })
    const replicas: Array<Cluster> = []
    for (let i = 0; i < count; i++) replicas.push(yield* throwawayCluster({ conf, standbyOf: primary }))
    const members = [primary, ...replicas]
    // registered after the clusters: runs before their stop (a frozen postmaster would ignore pg_ctl stop)
    yield* Effect.addFinalizer(() => Effect.sync(() => members.forEach(thawCluster)))

    const waitStreaming: Replication["waitStreaming"] = (o = {}) =>
      until(
        async () => Number(await psqlAsync(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) >= (o.count ?? count),
        o.timeoutMs ?? 30_000,
        `replicas did not stream from the primary on port ${primary.port}`
      )
    const promote = async (c: Cluster): Promise<void> => {
      await psqlAsync(c, "SELECT pg_promote(true, 60)", 70_000)
      await until(async () => (await psqlAsync(c, "SELECT pg_is_in_recovery()")) === "f", 30_000, `replica on port ${c.port} was not promoted`)
    }
    const set: Replication = {
      primary,
      replicas,
      replica: replicas[0]!,
      freeze: freezeCluster,
      thaw: thawCluster,
      promote,
      waitStreaming,
      query: psqlAsync
    }
    yield* Effect.promise(async () => {
      await waitStreaming()
      for (const r of replicas) {
        await until(async () => (await psqlAsync(r, "SELECT pg_is_in_recovery()")) === "t", 30_000, `replica on port ${r.port} is not in recovery`)
      }
    })
    return set
  })
