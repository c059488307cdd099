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
import type { ConnectionImpl } from "../Connection.js"
import type { Session } from "../connection/Session.js"
import * as Reset from "../connection/reset.js"
import { DeadlineTimer } from "./deadlineTimer.js"
import * as TxStatus from "../connection/txStatus.js"
import { Backoff, MAX_MS as BACKOFF_MAX_MS } from "./backoff.js"
import { laneToDrain, pickLane, StatementTiming } from "./lanes.js"
import { type Attempt, Openings } from "./openings.js"
import { SlotTable } from "./slotTable.js"
import { type CoreConfig, type Opener, type Slot, SlotState, type Waiter } from "./slots.js"

export type { CoreConfig, Opener, RetireReason, Slot, Waiter } from "./slots.js"
export { SlotState } from "./slots.js"

/** The engine. The Effect API in `Pool.ts` drives it. */
export class PoolCore extends SlotTable {
  private readonly queue: Array<Waiter> = []
  private queueHead = 0
  /** waiters still in the queue (not done) */
  waiting = 0
  /** connection attempts in flight */
  private readonly openings = new Openings()
  private readonly backoff = new Backoff()
  private growTimer: ReturnType<typeof setTimeout> | undefined
  private pumping = false
  private repump = false
  /** server time per statement, learnt from the lanes */
  private readonly timing = new StatementTiming()

  constructor(
    config: CoreConfig,
    private readonly open: Opener,
    private readonly log: (message: string) => void
  ) {
    super(config)
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

  /**
   * For a caller that will not wait (a timeout of 0 or below): an idle slot
   * that can be handed out right now — nobody queues ahead and no ping is
   * due — else undefined (a slot due for a ping stays idle, untouched).
   */
  takeReady(): Slot | undefined {
    if (this.closing || this.waiting > 0) return undefined
    const slot = this.popIdle()
    if (slot === undefined) return undefined
    if (this.needsPing(slot)) {
      this.idle.push(slot)
      return undefined
    }
    this.lease(slot)
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
    if (this.spent(slot) || s.hasUserWork) {
      this.retireBusy(slot)
      return false
    }
    if (hook) {
      // the caller runs the user's reset hook, then calls finishReset
      slot.state = SlotState.Resetting
      return true
    }
    if (s.queryCount !== slot.queriesAtLease || s.txStatus !== TxStatus.IDLE) Reset.write(slot.session)
    this.toIdle(slot)
    return false
  }

  /** The user's reset hook ended: the slot goes back, or is retired when the hook failed. */
  finishReset(slot: Slot, ok: boolean): void {
    if (slot.state !== SlotState.Resetting) return
    if (slot.session.closed) this.remove(slot, "broken")
    else if (ok && !this.spent(slot) && !slot.session.hasUserWork) this.toIdle(slot)
    else this.retire(slot, "reset")
  }

  // -------------------------------------------------------------------------
  // Lanes: pool-level queries pipelined on shared connections
  // -------------------------------------------------------------------------

  private isFast(sql: string | undefined): boolean {
    return this.timing.isFast(sql)
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
    const pick = pickLane(this.lanes, fast, this.config.pipelineDepth)
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
    if (ms !== undefined) this.timing.record(sql, ms)
    if (slot.state !== SlotState.Lane) return
    if (slot.session.closed) {
      if (slot.inFlight === 0) this.returnLane(slot)
      return
    }
    if (slot.inFlight === 0) {
      if (slot.draining || this.closing || this.spent(slot) || slot.session.hasUserWork) this.returnLane(slot)
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
    if (this.spent(slot) || s.hasUserWork) {
      this.retireBusy(slot)
      return
    }
    if (s.queryCount !== slot.queriesAtLease || s.txStatus !== TxStatus.IDLE) Reset.write(slot.session)
    this.toIdle(slot)
  }

  // -------------------------------------------------------------------------
  // The queue
  // -------------------------------------------------------------------------

  private enqueue(shared: boolean, sql: string | undefined, deadline: number, onTimeout: () => unknown, cb: Waiter["cb"]): Waiter {
    const w: Waiter = { shared, sql, deadline, cb, onTimeout, done: false, granted: undefined, fast: false }
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
    this.deadlines.cover(deadline)
    if (deadline > 0) this.replaceStale(deadline)
    this.pump()
    return w
  }

  /** one timer for every waiter's deadline, armed for the earliest */
  private readonly deadlines = new DeadlineTimer(() => this.expireWaiters())

  /** Fails the waiters whose deadline passed; arms the timer for the next one. */
  private expireWaiters(): void {
    const now = performance.now()
    const expired: Array<Waiter> = []
    let next = Infinity
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const w = this.queue[i]!
      if (w.done || w.deadline <= 0) continue
      if (w.deadline <= now) expired.push(w)
      else if (w.deadline < next) next = w.deadline
    }
    this.deadlines.cover(next < Infinity ? next : 0)
    for (const w of expired) {
      if (w.done) continue
      this.drop(w)
      this.counters.acquireTimeouts++
      w.cb(w.onTimeout(), undefined, w)
    }
    if (expired.length > 0) this.shedOpens()
  }

  private drop(w: Waiter): void {
    w.done = true
    this.waiting--
    // nobody waits: a timer armed for nobody would keep the process alive until it fires
    if (this.waiting === 0 && this.deadlines.armed) this.deadlines.disarm()
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
      this.shedOpens()
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
    if (now >= this.backoff.blockedUntil) return true
    if (this.growTimer === undefined) {
      this.growTimer = setTimeout(() => {
        this.growTimer = undefined
        this.pump()
      }, this.backoff.blockedUntil - now)
    }
    return false
  }

  private drainOneLane(): void {
    const pick = laneToDrain(this.lanes)
    if (pick === undefined) return
    pick.draining = true
    if (pick.inFlight === 0) this.returnLane(pick)
  }

  protected toIdle(slot: Slot): void {
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
    const startedAt = performance.now()
    let attempt: Attempt | undefined = undefined
    let finished = false
    const done = (error: unknown, conn: ConnectionImpl | undefined) => {
      if (finished) {
        // abandoned (its place was given up), yet it connected in that instant: it must not outlive its place
        if (conn !== undefined) conn.session.destroy()
        return
      }
      finished = true
      if (attempt !== undefined) this.openings.delete(attempt)
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
      this.backoff.succeeded()
      this.openings.succeeded(performance.now() - startedAt)
      this.counters.created++
      this.adopt(conn, generation)
    }
    // what the attempt told of its progress: at its last address, answered by the server
    let last = false
    let heard = false
    const abort = this.open(generation, done, (progress) => {
      if (progress === "heard") heard = true
      else last = true
    })
    if (finished) return
    const a: Attempt = {
      startedAt,
      heard: () => heard,
      atLast: () => last,
      abort: () => {
        finished = true
        this.openings.delete(a)
        this.opening--
        abort()
      }
    }
    attempt = a
    this.openings.add(a)
  }

  /**
   * Abandons connection attempts nobody needs any more — beyond the waiters
   * left and what minSize needs — oldest first: a caller that gave up (its
   * timeout, an interrupt) takes its attempt with it, as asyncpg cancels
   * the connect with the acquire. On a black-holed network such an attempt
   * would hold its place until the connect timeout, long after the network
   * healed.
   */
  private shedOpens(): void {
    if (this.closing) return
    const need = this.waiting + Math.max(0, this.config.minSize - this.slots.size)
    if (this.openings.shed(this.opening - need)) this.checkQuiet()
  }

  /**
   * A new waiter with a deadline and no idle connection: the oldest attempt
   * in flight is abandoned for a fresh one, its own, when it has
   * run longer than the waiter's budget and much longer than a connect
   * takes here — a waiter counting on it would only time out. maxSize
   * holds: the old attempt's socket is destroyed before the new one starts.
   */
  private replaceStale(deadline: number): void {
    if (this.idle.length > 0) return
    const now = performance.now()
    const stale = this.openings.stale(deadline - now, now)
    if (stale === undefined || !this.mayGrow()) return
    stale.abort()
    this.startOpen()
  }

  private openFailed(error: unknown): void {
    // attempts cut short by close() say nothing about the server: no back-off, no warning
    if (this.closing) {
      this.checkQuiet()
      return
    }
    this.backoff.failed(error)
    const streak = this.backoff.failStreak
    if (streak === 5 || streak % 50 === 0) {
      this.log(
        `effect-pg: the pool could not open a connection ${streak} times in a row (it keeps trying, with back-off up to ${BACKOFF_MAX_MS} ms): ${error instanceof Error ? error.message : String(error)}`
      )
    }
    this.checkQuiet()
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

  /** A connect outside `startOpen` (the warm-up) took `ms`: how long a connect takes here. */
  connected(ms: number): void {
    this.openings.succeeded(ms)
  }

  /** Keeps minSize connections open, also after they died (with back-off while the server is down). */
  protected ensureMin(): void {
    if (this.closing) return
    while (this.slots.size + this.opening < this.config.minSize && this.hasRoom() && this.mayGrow(false)) this.startOpen()
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
    for (const attempt of this.openings.all()) attempt.abort()
    this.checkQuiet()
    for (const l of this.lanes) l.draining = true
    for (const l of [...this.lanes]) if (l.inFlight === 0) this.returnLane(l)
    this.closeIdle()
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

}

