/**
 * Read-your-writes bookkeeping: a token per caller (the innermost
 * `ReplicatedPool.session(...)`, else the whole pool) that remembers when the
 * caller's last write finished and, once known, a primary WAL position that
 * covers it. Reads of the caller go to members that have replayed that
 * position, else to the primary.
 */
import * as Context from "effect/Context"
import type { PrimaryHistory } from "./lsn.js"

/** One caller's last write. */
export interface Token {
  /** when the last write finished (performance.now()); undefined: no write yet */
  wroteAt: number | undefined
  /** a primary WAL position sampled after that write: covers its commit */
  lsn: bigint | undefined
  /**
   * Connections the caller holds on the primary (`acquire`, `withConnection`,
   * read-write `transaction`): what it committed there is recorded only when
   * the connection is given back, so meanwhile its reads go to the primary.
   */
  leases: number
}

/** A read-your-writes scope: one token per replicated pool it touches. */
export interface Session {
  readonly tokens: Map<object, Token>
}

/** The session of the running fiber (inherited by its children); none outside `session(...)`. */
export const CurrentSession = Context.Reference<Session | undefined>("effect-pg/ReplicatedPool/Session", {
  defaultValue: () => undefined
})

/** A new token: nothing written yet. */
export const emptyToken = (): Token => ({ wroteAt: undefined, lsn: undefined, leases: 0 })

/** The caller's token of `pool`: its session's (made on first use), else the pool-wide one. */
export const tokenOf = (session: Session | undefined, pool: object, poolWide: Token): Token => {
  if (session === undefined) return poolWide
  let t = session.tokens.get(pool)
  if (t === undefined) {
    t = emptyToken()
    session.tokens.set(pool, t)
  }
  return t
}

/** Records that a write of the caller just finished (its position is looked up from the next primary sample). */
export const noteWrite = (token: Token): void => {
  token.wroteAt = performance.now()
  token.lsn = undefined
}

/**
 * What a read of this caller needs: `"any"` (no write, or the window has
 * passed), `"primary"` (the caller holds a connection on the primary, no
 * covering WAL position known yet, or inside the window), or a WAL position
 * a replica must have replayed.
 */
export const readNeeds = (
  token: Token,
  mode: "off" | "lsn" | number,
  history: PrimaryHistory
): "any" | "primary" | bigint => {
  if (mode === "off") return "any"
  // a write lease still open may have committed already: only the primary surely has it
  if (token.leases > 0) return "primary"
  if (token.wroteAt === undefined) return "any"
  if (typeof mode === "number") return performance.now() - token.wroteAt < mode ? "primary" : "any"
  if (token.lsn === undefined) {
    const sample = history.firstSentAfter(token.wroteAt)
    if (sample === undefined) return "primary"
    token.lsn = sample.lsn
  }
  return token.lsn
}
