/**
 * Where one request goes: the writer for writes, the replicas in rotation
 * in turn for reads (skipping one that makes no progress) unless read-your-writes
 * needs a replica that has replayed a given WAL position, or the primary;
 * and which failures a read may run again elsewhere.
 */
import * as Errors from "../../Errors.js"
import { NoServerAvailableError } from "./errors.js"
import type { Topology } from "./health.js"
import type { Member } from "./member.js"

/** What a read needs (see `readNeeds`): any replica, the primary, or a replica at or past a WAL position. */
export type Needs = "any" | "primary" | bigint

/** Picks members for requests; holds the round-robin cursor. */
export class Router {
  private cursor = 0

  constructor(
    readonly topology: Topology,
    readonly readFallback: "primary" | "fail"
  ) {}

  /** The member writes go to, or why there is none. */
  writer(): Member | NoServerAvailableError {
    const w = this.topology.writer
    // a writer whose last probe failed is not sent writes until the next round elects again
    if (w !== undefined && w.pool !== undefined && w.up) return w
    return new NoServerAvailableError({
      route: "write",
      message:
        "no member of the replicated pool is a reachable primary (down, or a failover in progress); retry once one is, or check the members' state in `members`",
      members: this.topology.describe()
    })
  }

  /** A member for a read that has not been tried yet, or why there is none. */
  reader(needs: Needs, tried: ReadonlySet<Member>): Member | NoServerAvailableError {
    if (needs !== "primary") {
      const candidates = this.topology.members.filter(
        (m) => m.inRotation && m.up && !m.suspect && !tried.has(m) && m.pool !== undefined && (typeof needs !== "bigint" || (m.lsn !== undefined && m.lsn >= needs))
      )
      if (candidates.length > 0) return this.nextOf(candidates)
    }
    // read-your-writes needs the primary (no replica has the caller's writes yet), or no replica can take it
    const mustPrimary = needs !== "any"
    if (mustPrimary || this.readFallback === "primary") {
      const w = this.topology.writer
      if (w !== undefined && w.pool !== undefined && w.up && !tried.has(w)) return w
    }
    const why = mustPrimary
      ? "read-your-writes sends this read to the primary (no replica has replayed the caller's last write yet), and no primary is reachable"
      : this.readFallback === "fail"
        ? "no replica is in rotation (down, or lagging past maxReplicaLag) and readFallback is \"fail\""
        : tried.size > 0
          ? "every member this read was tried on failed, and no other can take it"
          : "no replica is in rotation and no primary is reachable"
    return new NoServerAvailableError({ route: "read", message: `${why}; see the members' state in \`members\``, members: this.topology.describe() })
  }

  /**
   * Round-robin over the candidates, skipping one where this pool's
   * requests run but none has finished for 500 ms (a hung server before its
   * probe times out, or one far slower than the others): shares stay equal
   * while every server makes progress.
   */
  private nextOf(candidates: ReadonlyArray<Member>): Member {
    const n = candidates.length
    const now = performance.now()
    const start = this.cursor++ % n
    for (let i = 0; i < n; i++) {
      const m = candidates[(start + i) % n]!
      if (!m.stalled(now, STALL_MS)) return m
    }
    return candidates[start]!
  }
}

/** A member with requests running and none finished for this long gets no new reads while another can take them. */
const STALL_MS = 500

/** SQLSTATEs after which a read may run again on another member: recovery conflicts and shutdowns. */
const RETRY_STATES = new Set(["40001", "40P01", "57P01", "57P02", "57P03", "57P04"])

/**
 * Whether a read that failed on a replica may run again elsewhere: the
 * server went away or refused the session, or cancelled the read for a
 * recovery conflict. A replica writes nothing, so running a read twice is
 * harmless.
 */
export const retryableOnReplica = (e: unknown): boolean => {
  const tag = (e as { readonly _tag?: string } | undefined)?._tag
  if (tag === "PostgresConnectionError" || tag === "ConnectionDoesNotExistError" || tag === "PoolClosedError") return true
  return Errors.isPostgresError(e) && (e.sqlstate.startsWith("08") || RETRY_STATES.has(e.sqlstate))
}

/** A replica refused a statement as a write (`25006`): it belongs on the primary. */
export const refusedAsWrite = (e: unknown): boolean => Errors.isPostgresError(e) && e.sqlstate === "25006"

/** The member's server went away or would not take a session: worth a probe round now. */
export const lostServer = (e: unknown): boolean => retryableOnReplica(e) || refusedAsWrite(e)
