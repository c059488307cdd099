/**
 * One server of a replicated pool: its pool (opened once the server first
 * answers), a probe connection of its own, and what the last probe found
 * (reachable, role, WAL position, timeline). Probing on a connection outside
 * the pool keeps a saturated pool from looking like a dead server.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Connection from "../../Connection.js"
import * as Pool from "../../Pool.js"
import type { PgPoolShape, PoolOptions } from "../types.js"
import { parseLsn } from "./lsn.js"
import type { MemberRole } from "./types.js"

/**
 * Role, WAL position and timeline in one round trip. A primary reports its
 * insert position: it is at or past the end of every commit it has
 * acknowledged, also with `synchronous_commit = off` (the write position may
 * trail an acknowledged commit then). The timeline (from the WAL file name)
 * tells a promoted replica from an old primary that came back.
 */
const PROBE_SQL = `SELECT pg_is_in_recovery() AS standby,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)::text AS lsn,
  CASE WHEN pg_is_in_recovery() THEN 0
       ELSE ('x' || substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8))::bit(32)::int END AS timeline`

/** A member of the set and its last known state. */
export class Member {
  pool: PgPoolShape | undefined = undefined
  private poolScope: Scope.Closeable | undefined = undefined
  private probeConn: Connection.Connection | undefined = undefined
  role: MemberRole = "unknown"
  up = false
  /** failed a request since its last good probe: skipped by reads until probed again */
  suspect = false
  timeline = 0
  lsn: bigint | undefined = undefined
  lsnText: string | undefined = undefined
  /** when the last good probe was sent (performance.now()) */
  probedAt = 0
  lagMs: number | undefined = undefined
  lastError: string | undefined = undefined
  inFlight = 0
  /** one-shot requests (fetch, execute, ...) of this pool on it now; leases are not counted */
  running = 0
  /** when a one-shot request last finished here, or started with none running (performance.now()) */
  lastProgress = 0
  routed = 0
  inRotation = false

  constructor(
    readonly index: number,
    readonly name: string,
    readonly options: PoolOptions
  ) {}

  /** A one-shot request starts here. */
  started(): void {
    if (this.running === 0) this.lastProgress = performance.now()
    this.running++
  }

  /** A one-shot request finished here. */
  finished(): void {
    this.running--
    this.lastProgress = performance.now()
  }

  /** Requests are running here and none has finished for `ms`: the server hangs or is far behind the others. */
  stalled(now: number, ms: number): boolean {
    return this.running > 0 && now - this.lastProgress > ms
  }

  /** One line for errors and logs. */
  describe(): string {
    const lag = this.lagMs === undefined ? "" : `, lag ${Math.round(this.lagMs)} ms`
    return `${this.name}: ${this.up ? "up" : "down"}, ${this.role}${lag}${this.lastError !== undefined && !this.up ? ` (${this.lastError})` : ""}`
  }

  /**
   * Probes the server within `timeoutMs` (connecting first when needed) and
   * records what it found; returns the role it saw before, so the caller can
   * tell a role change. Never fails.
   */
  probe(timeoutMs: number): Effect.Effect<MemberRole> {
    const before = this.role
    const sentAt = performance.now()
    const run = Effect.gen({ self: this }, function* () {
      if (this.probeConn === undefined || this.probeConn.isClosed()) {
        this.probeConn = undefined
        this.probeConn = yield* Connection.connectUnscoped({ ...this.options, connectTimeout: timeoutMs, timeout: timeoutMs, commandTimeout: timeoutMs })
      }
      const r = yield* this.probeConn.fetchrow(PROBE_SQL)
      return r === null ? null : { standby: r.get("standby") === true, lsn: r.get("lsn") as string | null, timeline: Number(r.get("timeline")) }
    })
    return Effect.map(
      Effect.exit(Effect.timeout(run, timeoutMs)),
      (exit) => {
        if (Exit.isSuccess(exit) && exit.value !== null) {
          const row = exit.value
          this.up = true
          this.suspect = false
          this.role = row.standby ? "standby" : "primary"
          this.lsn = parseLsn(row.lsn)
          this.lsnText = row.lsn ?? undefined
          this.timeline = Number(row.timeline)
          this.probedAt = sentAt
          this.lastError = undefined
        } else {
          this.up = false
          this.lastError = Exit.isFailure(exit) ? describeCause(exit.cause) : "the probe returned no row"
          // a hung or broken probe connection is not reused
          const conn = this.probeConn
          this.probeConn = undefined
          if (conn !== undefined) Effect.runFork(conn.terminate())
        }
        return before
      }
    )
  }

  /** Opens this member's pool when it has none (once the server answers); a failure leaves it closed for the next probe. */
  ensurePool(timeoutMs: number): Effect.Effect<void> {
    if (this.pool !== undefined) return Effect.void
    return Effect.gen({ self: this }, function* () {
      const scope = yield* Scope.make()
      const opening = Effect.timeout(Scope.provide(Pool.make(this.options), scope), timeoutMs)
      const exit = yield* Effect.exit(Effect.onInterrupt(opening, () => Scope.close(scope, Exit.void)))
      if (Exit.isSuccess(exit)) {
        this.pool = exit.value
        this.poolScope = scope
      } else {
        yield* Scope.close(scope, Exit.void)
        this.up = false
        this.lastError = `its pool did not open: ${describeCause(exit.cause)}`
      }
    })
  }

  /** Closes the pool (gracefully) and the probe connection. */
  close(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function* () {
      const conn = this.probeConn
      this.probeConn = undefined
      if (conn !== undefined) yield* conn.terminate()
      const scope = this.poolScope
      this.poolScope = undefined
      this.pool = undefined
      if (scope !== undefined) yield* Scope.close(scope, Exit.void)
    })
  }
}

/** The failure of a cause as one line (what it was and its message). */
const describeCause = (cause: Cause.Cause<unknown>): string => {
  if (Cause.hasInterruptsOnly(cause)) return "interrupted"
  const e = Cause.squash(cause) as { readonly _tag?: string; readonly message?: string } | undefined
  if (e?._tag === "TimeoutError") return "no answer within probeTimeout"
  return `${e?._tag ?? "Error"}: ${e?.message ?? String(e)}`
}
