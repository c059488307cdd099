/**
 * The pool's table of connections: every slot it owns (idle, leased, lanes),
 * how a new one is taken in, the ones opening and closing, which count
 * against maxSize until their server has closed them, why they left, their
 * health (pings, probes when a server may have stopped answering) and when
 * the pool is quiet. The engine
 * (`core.ts`) decides who gets which slot.
 *
 * @internal
 */
import { type ConnectionImpl, ownListeners } from "../Connection.js"
import type { Session } from "../connection/Session.js"
import * as Health from "./health.js"
import { type CoreConfig, type RetireReason, type Slot, SlotState } from "./slots.js"

/** A connection given back with work on the wire, its server silent this long (ms), makes the pool probe the others. */
const PROBE_AFTER_MS = 250
/** The longest a probe's ping may take (ms). */
const PROBE_PING_MS = 500

/** The connections a pool owns and their bookkeeping. */
export abstract class SlotTable {
  readonly slots = new Set<Slot>()
  /** idle slots, LIFO (the warmest on top) */
  protected readonly idle: Array<Slot> = []
  readonly lanes: Array<Slot> = []
  opening = 0
  /** retired connections whose server has not closed them yet: they still count against maxSize */
  closingCount = 0
  generation = 0
  closing = false
  closed = false
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
  protected readonly whenQuiet: Array<() => void> = []
  /** sessions being closed gracefully (Terminate sent, waiting for the server to close) */
  protected readonly closingSessions = new Set<Session>()
  /** the termination listener added to every session */
  protected readonly onSessionEnd = new Map<Session, () => void>()

  constructor(readonly config: CoreConfig) {}

  protected sweepTimer: ReturnType<typeof setInterval> | undefined
  /** a probe of the idle connections runs (see probe) */
  private probing = false

  /** Serves the queue (the engine below). */
  abstract pump(): void
  /** Makes a slot idle and serves the queue with it (the engine below). */
  protected abstract toIdle(slot: Slot): void
  /** Opens connections up to minSize (the engine below). */
  protected abstract ensureMin(): void

  /** Slots handed out (leased, lanes, resetting). */
  get borrowed(): number {
    return this.slots.size - this.idle.length
  }

  protected hasRoom(): boolean {
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
  protected spentReason(slot: Slot): RetireReason {
    const s = slot.session
    if (s.closed) return "broken"
    if (s.interrupted) return "interrupted"
    if (slot.generation !== this.generation) return "expired"
    if (s.queryCount >= this.config.maxQueries) return "maxQueries"
    return "lifetime"
  }

  protected popIdle(): Slot | undefined {
    while (this.idle.length > 0) {
      const slot = this.idle.pop()!
      if (!this.spent(slot)) return slot
      if (slot.session.closed) this.remove(slot, "broken")
      else this.retire(slot, this.spentReason(slot))
    }
    return undefined
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
      answeredAt: 0,
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
  protected remove(slot: Slot, reason: RetireReason): void {
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

  protected closeSession(session: Session): void {
    if (session.closed) return
    this.closingCount++
    this.finishClose(session)
  }

  protected finishClose(session: Session): void {
    this.closingSessions.add(session)
    session.close(() => {
      this.closingSessions.delete(session)
      this.closingCount--
      this.checkQuiet()
      if (!this.closing) this.pump()
    }, this.config.closeTimeoutMs)
  }

  /** Closes what is idle (and, when closing, what comes back). */
  closeIdle(): void {
    for (const slot of this.idle.splice(0)) {
      slot.state = SlotState.Leased
      this.retire(slot, "closed")
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

  protected checkQuiet(): void {
    if (this.closing && this.idle.length > 0) this.closeIdle()
    if (this.whenQuiet.length > 0 && this.isQuiet()) {
      for (const f of this.whenQuiet.splice(0)) f()
    }
  }

  /** Idle connections above minSize close after the inactive lifetime. */
  protected scheduleSweep(): void {
    const idle = this.config.idleLifetimeMs
    const life = this.config.maxLifetimeMs
    if ((idle <= 0 && life <= 0) || this.sweepTimer !== undefined) return
    const every = Math.min(idle > 0 ? idle / 2 : Infinity, life > 0 ? life / 4 : Infinity, 1000)
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(10, every))
    this.sweepTimer.unref()
  }

  protected sweep(): void {
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

  /**
   * Retires a slot that comes back with work still on the wire (its caller
   * was interrupted or timed out). When the server has sent nothing for a
   * while, it (or the network) may have stopped answering: the pool probes.
   */
  protected retireBusy(slot: Slot): void {
    const s = slot.session
    const silentMs = performance.now() - s.lastProgressAt
    this.retire(slot, s.inFlight > 0 && !this.spent(slot) ? "interrupted" : this.spentReason(slot))
    if (s.inFlight > 0 && silentMs >= PROBE_AFTER_MS) this.probe()
  }

  /**
   * Pings every idle connection at once, with a short deadline. When one
   * does not answer, the server (or the network to it) is gone: connections
   * still closing gracefully that have heard nothing from their server since
   * are destroyed, so their places free at once and replacements (a failover
   * host list walks on to the next server) open without waiting out
   * closeTimeout. On a live server this costs one empty query per idle
   * connection.
   */
  protected probe(): void {
    if (this.probing || this.closing) return
    this.probing = true
    const started = performance.now()
    let dead = false
    const done = () => {
      this.probing = false
      if (!dead) return
      for (const session of [...this.closingSessions]) if (session.lastProgressAt < started) session.destroy()
    }
    const slots = this.idle.splice(0)
    let left = slots.length
    if (left === 0) {
      // nothing idle to ask (a live server's slow statement looks the same): nothing to conclude
      this.probing = false
      return
    }
    for (const slot of slots) {
      slot.state = SlotState.Resetting
      Health.ping(slot, Math.min(this.config.pingTimeoutMs, PROBE_PING_MS), (ok) => {
        if (!ok) dead = true
        this.pinged(slot, ok)
        if (--left === 0) done()
      })
    }
  }

  /** A ping of an idle slot (health check or probe) ended. */
  protected pinged(slot: Slot, ok: boolean): void {
    if (slot.state !== SlotState.Resetting) return
    if (ok && !this.spent(slot)) {
      slot.answeredAt = Date.now()
      slot.state = SlotState.Idle
      this.idle.push(slot)
      this.pump()
    } else if (slot.session.closed) this.remove(slot, "health")
    else this.retire(slot, "health")
  }

  protected checkHealth(): void {
    if (this.closing) return
    this.pingStale()
    this.ensureMin()
  }

  protected healthTimer: ReturnType<typeof setInterval> | undefined

  /** Every healthCheckPeriod, idle connections idle longer than pingIdleThreshold are pinged; dead ones are replaced. */
  protected scheduleHealth(): void {
    const period = this.config.healthCheckMs
    if (period <= 0 || this.healthTimer !== undefined) return
    this.healthTimer = setInterval(() => this.checkHealth(), period)
    this.healthTimer.unref()
  }

  /** True when `slot` has been idle long enough that it is pinged before it is handed out. */
  needsPing(slot: Slot): boolean {
    return Health.needsPing(slot, this.config.pingIdleMs)
  }

  /** Pings `slot` (see health.ts). */
  ping(slot: Slot, timeoutMs: number, cb: (ok: boolean) => void): void {
    Health.ping(slot, timeoutMs, cb)
  }

  /**
   * Pings, all at once and in the background, every idle connection due for
   * a ping (pingTimeout each): those that answer go back idle, dead ones are
   * replaced. A caller that found one stale connection asks for this, so on a
   * dead network it does not try the others one after another.
   */
  pingStale(): void {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const slot = this.idle[i]!
      if (!Health.needsPing(slot, this.config.pingIdleMs)) continue
      this.idle.splice(i, 1)
      this.pingLater(slot)
    }
  }

  /** Pings a slot taken out of idle in the background: it goes back idle when it answers, else it is replaced. */
  pingLater(slot: Slot): void {
    slot.state = SlotState.Resetting
    Health.ping(slot, this.config.pingTimeoutMs, (ok) => this.pinged(slot, ok))
  }
}
