/**
 * The pool's engine, in plain callbacks: which connection serves whom.
 *
 * One FIFO queue holds every caller that could not be served at once —
 * exclusive borrowers (`acquire`) and pool-level queries waiting for a shared
 * connection ("lane") alike — each with its own deadline. Whatever frees
 * capacity (a release, a lane going quiet, a new connection, a connection
 * dying) serves the queue from its head, so nobody is overtaken and nobody
 * waits past its deadline.
 *
 * Live connections never exceed `maxSize`: a connection counts from before it
 * is opened until its server has closed it. When opening another connection
 * fails while the pool still has some, callers keep waiting for those and
 * growth backs off with jitter; only a pool with no connection at all passes
 * the connect error to the callers waiting for one.
 *
 * @internal
 */
import { type ConnectionImpl, ownListeners } from "../Connection.js"
import type { Session } from "../connection/Session.js"
import * as Reset from "../connection/reset.js"

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
  timer: ReturnType<typeof setTimeout> | undefined
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

/** Opens one connection (connect + init hook); returns an abort function. */
export type Opener = (generation: number, cb: (error: unknown, conn: ConnectionImpl | undefined) => void) => () => void

/** A lane whose server has not finished a request for this long counts as busy (ms). */
const STALL_MS = 2
/** A statement the server runs in less than this (ms, moving average) may be pipelined deeply. */
const FAST_MS = 1
/** Growth back-off after a failed connect while the pool has connections: first and largest delay (ms). */
const BACKOFF_MIN_MS = 50
const BACKOFF_MAX_MS = 5_000
/** The largest back-off while the server says "not now" (57P03): it is restarting, retry soon. */
const NOT_NOW_MAX_MS = 200

/** The engine. The Effect API in `Pool.ts` drives it. */
export class PoolCore {
  readonly slots = new Set<Slot>()
  /** idle slots, LIFO (the warmest on top) */
  private readonly idle: Array<Slot> = []
  readonly lanes: Array<Slot> = []
  private readonly queue: Array<Waiter> = []
  private queueHead = 0
  /** waiters still in the queue (not done) */
  waiting = 0
  opening = 0
  /** retired connections whose server has not closed them yet: they still count against maxSize */
  closingCount = 0
  private readonly aborts = new Set<() => void>()
  generation = 0
  closing = false
  closed = false
  private backoffMs = 0
  private failStreak = 0
  private healthTimer: ReturnType<typeof setInterval> | undefined
  private growBlockedUntil = 0
  private growTimer: ReturnType<typeof setTimeout> | undefined
  private sweepTimer: ReturnType<typeof setInterval> | undefined
  private pumping = false
  private repump = false
  /** server time per statement (ms), learnt from the lanes */
  private readonly timing = new Map<string, number>()
  /** counters for stats() */
  readonly counters = {
    acquires: 0,
    acquireTimeouts: 0,
    acquireWaitMs: 0,
    sharedQueries: 0,
    /** acquires that had to wait */
    emptyAcquires: 0,
    /** waiters that went away (interrupted) */
    canceledAcquires: 0,
    /** callers turned away by maxWaiting */
    exhausted: 0,
    /** total time connections were leased, ms */
    borrowedMs: 0,
    created: 0,
    retired: {} as Partial<Record<RetireReason, number>>
  }
  private readonly whenQuiet: Array<() => void> = []
  /** the termination listener added to every session */
  private readonly onSessionEnd = new Map<Session, () => void>()

  constructor(
    readonly config: CoreConfig,
    private readonly open: Opener,
    private readonly log: (message: string) => void
  ) {}

  // -------------------------------------------------------------------------
  // Counting
  // -------------------------------------------------------------------------

  /** Slots handed out (leased, lanes, resetting). */
  get borrowed(): number {
    return this.slots.size - this.idle.length
  }

  private hasRoom(): boolean {
    return this.slots.size + this.opening + this.closingCount < this.config.maxSize
  }

  /** True when a slot must not be handed out again. */
  spent(slot: Slot): boolean {
    const s = slot.session
    return (
      s.closed ||
      s.interrupted ||
      slot.generation !== this.generation ||
      s.queryCount >= this.config.maxQueries ||
      (slot.expiresAt > 0 && Date.now() >= slot.expiresAt)
    )
  }

  /** Why a spent slot is retired. */
  private spentReason(slot: Slot): RetireReason {
    const s = slot.session
    if (s.closed) return "broken"
    if (s.interrupted) return "interrupted"
    if (slot.generation !== this.generation) return "expired"
    if (s.queryCount >= this.config.maxQueries) return "maxQueries"
    return "lifetime"
  }

  // -------------------------------------------------------------------------
  // Exclusive leases
  // -------------------------------------------------------------------------

  /** An idle slot at once, when nobody queues ahead (the fast path), else undefined. */
  take(): Slot | undefined {
    if (this.closing || this.waiting > 0) return undefined
    const slot = this.popIdle()
    if (slot !== undefined) this.lease(slot)
    return slot
  }

  private lease(slot: Slot): void {
    slot.state = SlotState.Leased
    slot.queriesAtLease = slot.session.queryCount
    slot.leasedAt = Date.now()
    this.counters.acquires++
  }

  /** Queues an exclusive borrower. */
  waitExclusive(deadline: number, onTimeout: () => unknown, cb: Waiter["cb"]): Waiter {
    return this.enqueue(false, undefined, deadline, onTimeout, cb)
  }

  /**
   * A lease ends. Anything it may have changed on the server is reset by a
   * query written now, ahead of whatever the next borrower sends (nobody
   * waits for it); a connection in an unknown state is retired instead.
   */
  release(slot: Slot, hook = false): boolean {
    if (slot.state !== SlotState.Leased) return false
    this.counters.borrowedMs += Date.now() - slot.leasedAt
    const s = slot.session
    if (s.closed) {
      this.remove(slot, "broken")
      return false
    }
    // a request still on the wire (a forked query outliving the lease): state unknown
    if (this.spent(slot) || s.inFlight > 0) {
      this.retire(slot, s.inFlight > 0 && !this.spent(slot) ? "interrupted" : this.spentReason(slot))
      return false
    }
    if (hook) {
      // the caller runs the user's reset hook, then calls finishReset
      slot.state = SlotState.Resetting
      return true
    }
    if (s.queryCount !== slot.queriesAtLease || s.txStatus !== 0x49) Reset.write(slot.session)
    this.toIdle(slot)
    return false
  }

  /** The user's reset hook ended: the slot goes back, or is retired when the hook failed. */
  finishReset(slot: Slot, ok: boolean): void {
    if (slot.state !== SlotState.Resetting) return
    if (slot.session.closed) this.remove(slot, "broken")
    else if (ok && !this.spent(slot) && slot.session.inFlight === 0) this.toIdle(slot)
    else this.retire(slot, "reset")
  }

  // -------------------------------------------------------------------------
  // Lanes: pool-level queries pipelined on shared connections
  // -------------------------------------------------------------------------

  private isFast(sql: string | undefined): boolean {
    if (sql === undefined) return false
    const ms = this.timing.get(sql)
    return ms !== undefined && ms < FAST_MS
  }

  /**
   * A lane for a pool-level query at once, or undefined. A fast statement
   * goes on the busiest lane that has room, runs only fast statements and
   * keeps moving; anything else needs a lane to itself, so a slow statement
   * never holds a fast one up.
   */
  tryLane(sql: string): Slot | undefined {
    if (this.closing || this.waiting > 0) return undefined
    const fast = this.isFast(sql)
    const lane = this.findLane(fast)
    if (lane !== undefined) this.onLane(lane, fast)
    this.lastFast = fast
    return lane
  }

  /** Whether the last `tryLane` placed its query as a fast one (read right after it). */
  lastFast = false

  private findLane(fast: boolean): Slot | undefined {
    const lanes = this.lanes
    let pick: Slot | undefined
    const now = fast ? performance.now() : 0
    for (let i = 0; i < lanes.length; i++) {
      const l = lanes[i]!
      if (l.draining || l.session.closed) continue
      if (l.inFlight === 0) {
        if (!fast) return l
        if (pick === undefined) pick = l
        continue
      }
      if (!fast || l.slowInFlight > 0 || l.inFlight >= this.config.pipelineDepth) continue
      // the server has work of this lane and finished nothing for a while: something slow runs there
      if (l.session.inFlight > 0 && now - l.session.lastProgressAt >= STALL_MS) continue
      if (pick === undefined || l.inFlight > pick.inFlight) pick = l
    }
    if (pick !== undefined) return pick
    const slot = this.popIdle()
    if (slot === undefined) return undefined
    slot.state = SlotState.Lane
    slot.draining = false
    slot.queriesAtLease = slot.session.queryCount
    this.lanes.push(slot)
    return slot
  }

  private onLane(slot: Slot, fast: boolean): void {
    slot.inFlight++
    if (!fast) slot.slowInFlight++
    this.counters.sharedQueries++
    // queries assigned but not yet sent count too: maxQueries holds under bursts
    if (slot.session.queryCount + slot.inFlight >= this.config.maxQueries) slot.draining = true
  }

  /** Queues a pool-level query for a lane. */
  waitLane(sql: string, deadline: number, onTimeout: () => unknown, cb: Waiter["cb"]): Waiter {
    return this.enqueue(true, sql, deadline, onTimeout, cb)
  }

  /** A pool-level query on `slot` finished. */
  laneDone(slot: Slot, sql: string, fast: boolean): void {
    slot.inFlight--
    if (!fast) slot.slowInFlight--
    const ms = slot.session.statementServerMs(sql)
    if (ms !== undefined) {
      const known = this.timing.get(sql)
      if (known === undefined && this.timing.size > 2000) this.timing.clear()
      // quick to believe a statement is fast, slow to believe it turned slow: a measurement
      // includes the client's event-loop lag, which a loaded process adds to everything
      this.timing.set(sql, known === undefined ? ms : ms < known ? (ms + known) / 2 : known * 0.9 + ms * 0.1)
    }
    if (slot.state !== SlotState.Lane) return
    if (slot.session.closed) {
      if (slot.inFlight === 0) this.returnLane(slot)
      return
    }
    if (slot.inFlight === 0) {
      if (slot.draining || this.closing || this.spent(slot)) this.returnLane(slot)
      else if (this.waiting > 0) {
        // the queue first: a waiting pool-level query may take this lane as it is
        this.pump()
        if (slot.state === SlotState.Lane && slot.inFlight === 0 && this.waiting > 0) this.returnLane(slot)
      } else {
        // keep it for the next burst; hand it back if nobody uses it this turn
        setImmediate(() => {
          if (slot.state === SlotState.Lane && slot.inFlight === 0) this.returnLane(slot)
        })
      }
    } else if (this.waiting > 0) this.pump()
  }

  private returnLane(slot: Slot): void {
    const i = this.lanes.indexOf(slot)
    if (i >= 0) this.lanes.splice(i, 1)
    slot.draining = false
    const s = slot.session
    if (s.closed) {
      this.remove(slot, "broken")
      return
    }
    if (this.spent(slot) || s.inFlight > 0) {
      this.retire(slot, s.inFlight > 0 && !this.spent(slot) ? "interrupted" : this.spentReason(slot))
      return
    }
    if (s.queryCount !== slot.queriesAtLease || s.txStatus !== 0x49) Reset.write(slot.session)
    this.toIdle(slot)
  }

  // -------------------------------------------------------------------------
  // The queue
  // -------------------------------------------------------------------------

  private enqueue(shared: boolean, sql: string | undefined, deadline: number, onTimeout: () => unknown, cb: Waiter["cb"]): Waiter {
    const w: Waiter = { shared, sql, deadline, cb, onTimeout, timer: undefined, done: false, granted: undefined, fast: false }
    if (this.closing) {
      w.done = true
      cb(this.closedError(), undefined, w)
      return w
    }
    if (this.config.maxWaiting > 0 && this.waiting >= this.config.maxWaiting) {
      w.done = true
      this.counters.exhausted++
      cb(this.exhaustedError(), undefined, w)
      return w
    }
    this.queue.push(w)
    this.waiting++
    if (deadline > 0) {
      w.timer = setTimeout(() => {
        if (w.done) return
        this.drop(w)
        this.counters.acquireTimeouts++
        w.cb(w.onTimeout(), undefined, w)
      }, Math.max(0, deadline - performance.now()))
    }
    this.pump()
    return w
  }

  private drop(w: Waiter): void {
    w.done = true
    this.waiting--
    if (w.timer !== undefined) clearTimeout(w.timer)
    // compact the head
    while (this.queueHead < this.queue.length && this.queue[this.queueHead]!.done) this.queueHead++
    if (this.queueHead > 256 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead)
      this.queueHead = 0
    }
  }

  /** The caller of `w` went away (interrupted). A slot handed over in that instant goes back. */
  cancel(w: Waiter): void {
    if (!w.done) {
      this.counters.canceledAcquires++
      this.drop(w)
      this.pump()
      return
    }
    const slot = w.granted
    if (slot === undefined) return
    w.granted = undefined
    if (w.shared) this.laneDone(slot, w.sql!, w.fast)
    else this.release(slot)
  }

  private grant(w: Waiter, slot: Slot): void {
    this.counters.emptyAcquires++
    this.drop(w)
    w.granted = slot
    w.cb(undefined, slot, w)
  }

  /** The caller consumed its grant (it can no longer be given back by `cancel`). */
  consumed(w: Waiter): void {
    w.granted = undefined
  }

  /** Serves the queue from its head; grows the pool for what is left. */
  pump(): void {
    if (this.pumping) {
      this.repump = true
      return
    }
    this.pumping = true
    try {
      do {
        this.repump = false
        this.serve()
      } while (this.repump)
    } finally {
      this.pumping = false
    }
  }

  private serve(): void {
    while (this.queueHead < this.queue.length) {
      const w = this.queue[this.queueHead]!
      if (w.done) {
        this.queueHead++
        continue
      }
      if (w.shared) {
        const fast = this.isFast(w.sql)
        const lane = this.findLane(fast)
        if (lane === undefined) break
        w.fast = fast
        this.onLane(lane, fast)
        this.grant(w, lane)
      } else {
        const slot = this.popIdle()
        if (slot === undefined) break
        this.lease(slot)
        this.grant(w, slot)
      }
    }
    if (this.waiting === 0 || this.closing) {
      this.ensureMin()
      return
    }
    // grow for the waiters no opening connection is meant for
    let needed = this.waiting - this.opening
    while (needed > 0 && this.hasRoom() && this.mayGrow()) {
      this.startOpen()
      needed--
    }
    // nothing opening can serve the head: ask a lane to finish and come back
    if (this.opening === 0 && !this.hasRoom()) this.drainOneLane()
  }

  private mayGrow(forWaiters = true): boolean {
    // with no connection at all, callers get a fresh attempt (no back-off): a failed one fails them
    if (forWaiters && this.slots.size === 0) return true
    const now = Date.now()
    if (now >= this.growBlockedUntil) return true
    if (this.growTimer === undefined) {
      this.growTimer = setTimeout(() => {
        this.growTimer = undefined
        this.pump()
      }, this.growBlockedUntil - now)
    }
    return false
  }

  private drainOneLane(): void {
    let pick: Slot | undefined
    for (const l of this.lanes) {
      if (l.draining) return // one is on its way back
      if (pick === undefined || l.inFlight < pick.inFlight) pick = l
    }
    if (pick === undefined) return
    pick.draining = true
    if (pick.inFlight === 0) this.returnLane(pick)
  }

  private popIdle(): Slot | undefined {
    while (this.idle.length > 0) {
      const slot = this.idle.pop()!
      if (!this.spent(slot)) return slot
      if (slot.session.closed) this.remove(slot, "broken")
      else this.retire(slot, this.spentReason(slot))
    }
    return undefined
  }

  private toIdle(slot: Slot): void {
    if (this.slots.size > this.config.maxSize) {
      // the pool was resized down: this one goes
      slot.state = SlotState.Leased
      this.retire(slot, "resize")
      return
    }
    slot.state = SlotState.Idle
    slot.idleSince = Date.now()
    this.idle.push(slot)
    this.checkQuiet()
    this.pump()
  }

  // -------------------------------------------------------------------------
  // Opening and closing connections
  // -------------------------------------------------------------------------

  private startOpen(): void {
    this.opening++
    const generation = this.generation
    let abort: (() => void) | undefined = undefined
    let finished = false
    const done = (error: unknown, conn: ConnectionImpl | undefined) => {
      if (finished) return
      finished = true
      if (abort !== undefined) this.aborts.delete(abort)
      this.opening--
      if (error !== undefined || conn === undefined) {
        this.openFailed(error)
        return
      }
      if (this.closing) {
        this.closeSession(conn.session)
        this.checkQuiet()
        return
      }
      // the server answers again: growth need not wait out the back-off of the outage
      this.backoffMs = 0
      this.failStreak = 0
      this.growBlockedUntil = 0
      this.counters.created++
      this.adopt(conn, generation)
    }
    abort = this.open(generation, done)
    if (!finished) this.aborts.add(abort)
  }

  private openFailed(error: unknown): void {
    this.failStreak++
    if (this.failStreak === 5 || this.failStreak % 50 === 0) {
      this.log(
        `effect-pg: the pool could not open a connection ${this.failStreak} times in a row (it keeps trying, with back-off up to ${BACKOFF_MAX_MS} ms): ${error instanceof Error ? error.message : String(error)}`
      )
    }
    this.checkQuiet()
    if (this.closing) return
    // "not now" (57P03: the server is starting up or shutting down): a restart takes moments, so
    // the floor's refill retries soon rather than after a long back-off
    const cap = (error as { sqlstate?: string } | undefined)?.sqlstate === "57P03" ? NOT_NOW_MAX_MS : BACKOFF_MAX_MS
    // attempts that failed together (one burst) grow the back-off once, not once each
    const now = Date.now()
    if (now >= this.growBlockedUntil) {
      this.backoffMs = this.backoffMs === 0 ? BACKOFF_MIN_MS : Math.min(cap, this.backoffMs * 2)
      // full jitter: instances that failed together do not retry together
      this.growBlockedUntil = now + this.backoffMs / 2 + Math.random() * (this.backoffMs / 2)
    }
    if (this.slots.size === 0) {
      // nothing can serve the waiters: they get the reason now (a later caller makes a new attempt)
      this.failWaiters(error)
    }
    this.pump()
  }

  private failWaiters(error: unknown): void {
    while (this.queueHead < this.queue.length) {
      const w = this.queue[this.queueHead]!
      if (!w.done) {
        this.drop(w)
        w.cb(error, undefined, w)
      } else this.queueHead++
    }
  }

  /** Takes a freshly opened connection into the pool, idle. */
  adopt(conn: ConnectionImpl, generation: number, serve = true): void {
    const session = conn.session
    const now = Date.now()
    const life = this.config.maxLifetimeMs
    const slot: Slot = {
      conn,
      session,
      generation,
      createdAt: now,
      expiresAt: life > 0 ? now + life + Math.random() * life * this.config.lifetimeJitter : 0,
      idleSince: now,
      leasedAt: now,
      state: SlotState.Idle,
      inFlight: 0,
      slowInFlight: 0,
      draining: false,
      queriesAtLease: session.queryCount
    }
    this.slots.add(slot)
    if (session.closed) {
      this.remove(slot, "broken")
      return
    }
    // a connection that dies (server restart, terminate, conn.terminate()) frees its place at once
    const onEnd = () => {
      if (slot.state === SlotState.Idle) {
        const i = this.idle.indexOf(slot)
        if (i >= 0) this.idle.splice(i, 1)
      }
      if (slot.state !== SlotState.Lane || slot.inFlight === 0) this.remove(slot, "broken")
    }
    this.onSessionEnd.set(session, onEnd)
    ownListeners.add(onEnd)
    session.terminationListeners.add(onEnd)
    this.scheduleSweep()
    this.scheduleHealth()
    if (serve) this.toIdle(slot)
    else {
      slot.state = SlotState.Idle
      this.idle.push(slot)
    }
  }

  /** Forgets a slot whose session is gone. */
  private remove(slot: Slot, reason: RetireReason): void {
    if (slot.state === SlotState.Gone) return
    if (slot.state === SlotState.Idle) {
      const i = this.idle.indexOf(slot)
      if (i >= 0) this.idle.splice(i, 1)
    }
    if (slot.state === SlotState.Lane) {
      const i = this.lanes.indexOf(slot)
      if (i >= 0) this.lanes.splice(i, 1)
    }
    slot.state = SlotState.Gone
    this.slots.delete(slot)
    const onEnd = this.onSessionEnd.get(slot.session)
    if (onEnd !== undefined) {
      slot.session.terminationListeners.delete(onEnd)
      this.onSessionEnd.delete(slot.session)
    }
    this.counters.retired[reason] = (this.counters.retired[reason] ?? 0) + 1
    this.checkQuiet()
    if (!this.closing) this.pump()
  }

  /** Closes a slot's session (Terminate, bounded); its place stays taken until the server has closed it. */
  retire(slot: Slot, reason: RetireReason): void {
    if (slot.state === SlotState.Gone) return
    const session = slot.session
    // counted as closing before it stops counting as live: maxSize holds throughout
    const live = !session.closed
    if (live) this.closingCount++
    this.remove(slot, reason)
    if (live) this.finishClose(session)
  }

  private closeSession(session: Session): void {
    if (session.closed) return
    this.closingCount++
    this.finishClose(session)
  }

  private finishClose(session: Session): void {
    session.close(() => {
      this.closingCount--
      this.checkQuiet()
      if (!this.closing) this.pump()
    }, this.config.closeTimeoutMs)
  }

  /** Keeps minSize connections open, also after they died (with back-off while the server is down). */
  private ensureMin(): void {
    if (this.closing) return
    while (this.slots.size + this.opening < this.config.minSize && this.hasRoom() && this.mayGrow(false)) this.startOpen()
  }

  /** Idle connections above minSize close after the inactive lifetime. */
  private scheduleSweep(): void {
    const idle = this.config.idleLifetimeMs
    const life = this.config.maxLifetimeMs
    if ((idle <= 0 && life <= 0) || this.sweepTimer !== undefined) return
    const every = Math.min(idle > 0 ? idle / 2 : Infinity, life > 0 ? life / 4 : Infinity, 1000)
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(10, every))
    this.sweepTimer.unref()
  }

  private sweep(): void {
    // past their lifetime (or otherwise spent): retired while idle, not only when handed back
    for (const slot of [...this.idle]) {
      if (!this.spent(slot)) continue
      this.idle.splice(this.idle.indexOf(slot), 1)
      slot.state = SlotState.Leased
      this.retire(slot, this.spentReason(slot))
    }
    if (this.config.idleLifetimeMs <= 0) {
      this.ensureMin()
      return
    }
    const cutoff = Date.now() - this.config.idleLifetimeMs
    // the coldest are at the bottom of the LIFO
    while (this.idle.length > 0 && this.slots.size > this.config.minSize && this.idle[0]!.idleSince < cutoff) {
      const slot = this.idle.shift()!
      slot.state = SlotState.Leased // so retire does not look for it in idle
      this.retire(slot, "idle")
    }
    if (this.slots.size === 0 && this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer)
      this.sweepTimer = undefined
    }
    // a pool whose floor broke (connections died while nobody asked) refills
    this.ensureMin()
  }

  // -------------------------------------------------------------------------
  // Health
  // -------------------------------------------------------------------------

  /** True when `slot` has been idle long enough that it is pinged before it is handed out. */
  needsPing(slot: Slot): boolean {
    return this.config.pingIdleMs > 0 && Date.now() - slot.idleSince >= this.config.pingIdleMs
  }

  /**
   * Sends an empty query; `cb(true)` when the server answered within
   * `timeoutMs`. A connection that does not answer is destroyed (its place
   * frees at once).
   */
  ping(slot: Slot, timeoutMs: number, cb: (ok: boolean) => void): void {
    const s = slot.session
    let done = false
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      cb(ok)
    }
    const timer = setTimeout(() => {
      s.destroy()
      finish(false)
    }, timeoutMs)
    const queries = s.queryCount
    s.simpleQuery("", (err) => finish(err === undefined && !s.closed))
    s.queryCount = queries
  }

  /** Every healthCheckPeriod, idle connections idle longer than pingIdleThreshold are pinged; dead ones are replaced. */
  private scheduleHealth(): void {
    const period = this.config.healthCheckMs
    if (period <= 0 || this.healthTimer !== undefined) return
    this.healthTimer = setInterval(() => this.checkHealth(), period)
    this.healthTimer.unref()
  }

  private checkHealth(): void {
    if (this.closing) return
    for (const slot of [...this.idle]) {
      if (!this.needsPing(slot)) continue
      const i = this.idle.indexOf(slot)
      if (i < 0) continue
      this.idle.splice(i, 1)
      slot.state = SlotState.Resetting
      this.ping(slot, this.config.pingTimeoutMs, (ok) => {
        if (slot.state !== SlotState.Resetting) return
        if (ok && !this.spent(slot)) {
          slot.state = SlotState.Idle
          this.idle.push(slot)
          this.pump()
        } else if (slot.session.closed) this.remove(slot, "health")
        else this.retire(slot, "health")
      })
    }
    this.ensureMin()
  }

  /** New sizes at run time: growth up to the new max, extra connections retired as they come back. */
  resize(minSize: number, maxSize: number): void {
    this.config.minSize = minSize
    this.config.maxSize = maxSize
    while (this.slots.size > maxSize && this.idle.length > 0) {
      const slot = this.idle.shift()!
      slot.state = SlotState.Leased
      this.retire(slot, "resize")
    }
    this.pump()
  }

  // -------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------

  closedError: () => unknown = () => new Error("pool closed")
  exhaustedError: () => unknown = () => new Error("pool exhausted")

  /** Retires idle connections now; borrowed ones are retired when they come back. */
  expire(): void {
    this.generation++
    for (const slot of this.idle.splice(0)) {
      slot.state = SlotState.Leased
      this.retire(slot, "expired")
    }
    for (const l of this.lanes) l.draining = true
    for (const l of [...this.lanes]) if (l.inFlight === 0) this.returnLane(l)
    this.pump()
  }

  /** Stops handing out connections: waiters fail, lanes drain, idle connections close. */
  beginClose(): void {
    if (this.closing) return
    this.closing = true
    const error = this.closedError()
    this.failWaiters(error)
    if (this.growTimer !== undefined) clearTimeout(this.growTimer)
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer)
    this.sweepTimer = undefined
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer)
    this.healthTimer = undefined
    for (const abort of [...this.aborts]) abort()
    for (const l of this.lanes) l.draining = true
    for (const l of [...this.lanes]) if (l.inFlight === 0) this.returnLane(l)
    this.closeIdle()
  }

  /** Closes what is idle (and, when closing, what comes back). */
  closeIdle(): void {
    for (const slot of this.idle.splice(0)) {
      slot.state = SlotState.Leased
      this.retire(slot, "closed")
    }
  }

  /** Destroys the sessions of lanes with queries still running (close() ran out of time for them). */
  abortLanes(error: Parameters<Session["destroy"]>[0]): void {
    for (const l of [...this.lanes]) if (l.inFlight > 0) l.session.destroy(error)
  }

  /** Destroys every connection now, borrowed ones included. */
  terminate(): void {
    this.beginClose()
    this.closed = true
    for (const slot of [...this.slots]) {
      this.remove(slot, "closed")
      slot.session.destroy()
    }
  }

  /** Nothing borrowed, opening or closing any more. */
  isQuiet(): boolean {
    return this.slots.size - this.idle.length === 0 && this.opening === 0 && this.closingCount === 0
  }

  /** Calls `f` once the pool is quiet (see isQuiet); returns a function that forgets it. */
  onQuiet(f: () => void): () => void {
    if (this.isQuiet()) {
      f()
      return () => {}
    }
    this.whenQuiet.push(f)
    return () => {
      const i = this.whenQuiet.indexOf(f)
      if (i >= 0) this.whenQuiet.splice(i, 1)
    }
  }

  private checkQuiet(): void {
    if (this.closing && this.idle.length > 0) this.closeIdle()
    if (this.whenQuiet.length > 0 && this.isQuiet()) {
      for (const f of this.whenQuiet.splice(0)) f()
    }
  }
}
