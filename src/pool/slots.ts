/**
 * The pool's vocabulary: a slot (one connection the pool owns, and where it
 * is), a waiter (a caller in the queue), the engine's settings and the
 * reasons a connection leaves.
 *
 * @internal
 */
import type { ConnectionImpl } from "../Connection.js"
import type { Session } from "../connection/Session.js"
import type { Progress } from "../connection/connectProgress.js"

/** Why a connection left the pool (stats, logs). */
export type RetireReason =
  | "idle"
  | "maxQueries"
  | "expired"
  | "lifetime"
  | "broken"
  | "interrupted"
  | "reset"
  | "closed"
  | "hook"
  | "health"
  | "resize"

/** One connection the pool owns. */
export interface Slot {
  readonly conn: ConnectionImpl
  readonly session: Session
  readonly generation: number
  readonly createdAt: number
  /** retire when handed back (or found idle) after this time (Date.now(); 0 = never): maxLifetime with jitter */
  readonly expiresAt: number
  /** when it last became idle (Date.now()) */
  idleSince: number
  /** when it last answered a ping while idle (Date.now(); 0 = never): no new ping is due before pingIdleThreshold from then */
  answeredAt: number
  /** when its current lease began (Date.now()) */
  leasedAt: number
  state: SlotState
  /** pool-level queries in flight, while a lane */
  inFlight: number
  /** of those, how many run a statement not known to be fast */
  slowInFlight: number
  /** a lane that takes no more queries and goes back to idle when they are done */
  draining: boolean
  /** session.queryCount when it was handed out: a lease that ran nothing needs no reset */
  queriesAtLease: number
}

/** Where a slot is. */
export const enum SlotState {
  Idle = 0,
  Leased = 1,
  Lane = 2,
  /** its reset (user hook) runs; comes back idle or is retired */
  Resetting = 3,
  Gone = 4
}

/** A caller in the queue. */
export interface Waiter {
  /** true: a pool-level query that may share a lane */
  readonly shared: boolean
  readonly sql: string | undefined
  /** a deadline (performance.now() time) or 0 */
  readonly deadline: number
  /** called once: with the slot, or an error */
  readonly cb: (error: unknown, slot: Slot | undefined, waiter: Waiter) => void
  readonly onTimeout: () => unknown
  done: boolean
  /** the slot handed over (so a caller interrupted at that moment can give it back) */
  granted: Slot | undefined
  /** for shared: whether it went onto the lane as a fast statement */
  fast: boolean
}

/** Settings the engine needs. */
export interface CoreConfig {
  minSize: number
  maxSize: number
  readonly maxQueries: number
  /** callers allowed to wait at once (0 = no limit) */
  readonly maxWaiting: number
  /** absolute age after which a connection is retired (ms; 0 = never) */
  readonly maxLifetimeMs: number
  /** up to this fraction of maxLifetime is added at random per connection, so a fleet does not reconnect at once */
  readonly lifetimeJitter: number
  /** an idle connection older than this is pinged before it is handed out (ms; 0 = never) */
  readonly pingIdleMs: number
  /** how long a ping may take before the connection is taken for dead (ms) */
  readonly pingTimeoutMs: number
  /** idle connections are pinged this often (ms; 0 = never) */
  readonly healthCheckMs: number
  /** idle connections above minSize close after this long (ms; 0 = never) */
  readonly idleLifetimeMs: number
  /** fast pool-level queries in flight on one lane (pipelineDepth) */
  readonly pipelineDepth: number
  /** how long closing one connection may take before its socket is destroyed (ms) */
  readonly closeTimeoutMs: number
}

/**
 * Opens one connection (connect + init hook); returns an abort function.
 * `onProgress` hears when the attempt is at its last address and when the
 * server first answers it.
 */
export type Opener = (
  generation: number,
  cb: (error: unknown, conn: ConnectionImpl | undefined) => void,
  onProgress: (progress: Progress) => void
) => () => void

