/**
 * The set's topology and the health fiber that keeps it current: every
 * member is probed each interval (and at once when a request saw a member
 * fail), the writer is elected from the members that say they are primaries
 * (highest timeline first, so a promoted replica wins over an old primary
 * that came back), replicas are put in or taken out of rotation by
 * reachability and lag, and a member whose role changed gets its pool's
 * connections expired.
 */
import * as Effect from "effect/Effect"
import { PrimaryHistory } from "./lsn.js"
import type { Member } from "./member.js"

/** Timing of the health checks, in ms. */
export interface HealthConfig {
  readonly intervalMs: number
  readonly probeTimeoutMs: number
  /** 0: no limit */
  readonly maxLagMs: number
}

/** Kicks closer together than this are merged into one probe round. */
const MIN_GAP_MS = 50

/** The members, who writes and who reads, and the loop that keeps it so. */
export class Topology {
  writer: Member | undefined = undefined
  readonly history: PrimaryHistory
  private wake: (() => void) | undefined = undefined
  private kicked = false
  private lastCycle = 0
  private waiting: Array<() => void> = []
  cycles = 0
  /** the health fiber ended (the pool closed): nothing will probe again */
  stopped = false

  constructor(
    readonly members: ReadonlyArray<Member>,
    readonly config: HealthConfig
  ) {
    const span = Math.max(config.maxLagMs * 2, 10_000)
    this.history = new PrimaryHistory(Math.min(4096, Math.ceil(span / Math.max(1, config.intervalMs)) + 8))
  }

  /** One round: probe every member (in parallel, each within probeTimeout), open pools, elect, rotate. */
  cycle(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function* () {
      this.lastCycle = performance.now()
      const waiting = this.waiting
      this.waiting = []
      const before = yield* Effect.forEach(this.members, (m) => m.probe(this.config.probeTimeoutMs), { concurrency: "unbounded" })
      yield* Effect.forEach(this.members, (m) => (m.up ? m.ensurePool(this.config.probeTimeoutMs * 2) : Effect.void), {
        concurrency: "unbounded",
        discard: true
      })
      // a member that switched between primary and standby: its sessions were opened for the other role
      for (let i = 0; i < this.members.length; i++) {
        const m = this.members[i]!
        const was = before[i]!
        if (m.up && was !== "unknown" && was !== m.role && m.pool !== undefined) {
          yield* Effect.logWarning(`effect-pg: ${m.name} is now a ${m.role} (was a ${was}); its connections are replaced`)
          yield* m.pool.expireConnections()
        }
      }
      yield* this.elect()
      this.rotate()
      this.cycles++
      for (const done of waiting) done()
    })
  }

  /** Chooses the writer: an up primary with a pool, highest timeline, then the current writer, then configuration order. */
  private elect(): Effect.Effect<void> {
    const candidates = this.members.filter((m) => m.up && m.role === "primary" && m.pool !== undefined)
    candidates.sort((a, b) => b.timeline - a.timeline || Number(b === this.writer) - Number(a === this.writer) || a.index - b.index)
    const next = candidates[0]
    const prev = this.writer
    this.writer = next
    if (next !== undefined) this.history.add({ at: next.probedAt, lsn: next.lsn ?? 0n })
    if (prev === next) return Effect.void
    if (prev === undefined) {
      // at start nothing to say; after an outage, say where writes go again
      return this.cycles === 0 || next === undefined ? Effect.void : Effect.logWarning(`effect-pg: writes go to ${next.name} (timeline ${next.timeline})`)
    }
    this.history.clear()
    if (next !== undefined) this.history.add({ at: next.probedAt, lsn: next.lsn ?? 0n })
    const message =
      next === undefined
        ? `effect-pg: no member of the replicated pool is a reachable primary (was ${prev.name}); writes fail until one is`
        : `effect-pg: writes now go to ${next.name} (timeline ${next.timeline}; was ${prev.name})`
    // the old writer's sessions may write to a server that is no longer the primary
    return Effect.andThen(Effect.logWarning(message), prev.pool !== undefined ? prev.pool.expireConnections() : Effect.void)
  }

  /** Replicas in rotation: up standbys with a pool, within maxReplicaLag of the writer. */
  private rotate(): void {
    for (const m of this.members) {
      if (m.role === "standby" && m.up && m.lsn !== undefined) m.lagMs = this.history.lagMs(m.lsn, m.probedAt)
      else if (m.role !== "standby") m.lagMs = m.up ? 0 : undefined
      const lagOk = this.config.maxLagMs === 0 || m.lagMs === undefined || m.lagMs <= this.config.maxLagMs
      m.inRotation = m.up && m.role === "standby" && m.pool !== undefined && lagOk
    }
  }

  /** Asks for a probe round now (merged with others within 50 ms). */
  kick(): void {
    this.kicked = true
    const wake = this.wake
    if (wake !== undefined) {
      this.wake = undefined
      wake()
    }
  }

  /** Waits for the end of a probe round that starts after this call (at once when the health fiber has stopped). */
  refresh(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      if (this.stopped) return resume(Effect.void)
      const done = () => resume(Effect.void)
      this.waiting.push(done)
      this.kick()
      return Effect.sync(() => {
        this.waiting = this.waiting.filter((w) => w !== done)
      })
    })
  }

  /** Sleeps until the next round is due: the interval, or a kick (not sooner than 50 ms after the last round). */
  private pause(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const fire = () => {
        this.wake = undefined
        if (timer !== undefined) clearTimeout(timer)
        const gap = this.lastCycle + MIN_GAP_MS - performance.now()
        if (gap > 0) timer = setTimeout(() => resume(Effect.void), gap)
        else resume(Effect.void)
      }
      if (this.kicked) fire()
      else {
        timer = setTimeout(fire, this.config.intervalMs)
        this.wake = fire
      }
      return Effect.sync(() => {
        this.wake = undefined
        if (timer !== undefined) clearTimeout(timer)
      })
    })
  }

  /** The health fiber's body: a round, a pause, forever (interrupted with the pool's scope). */
  loop(): Effect.Effect<never> {
    const stop = Effect.sync(() => {
      this.stopped = true
      const waiting = this.waiting
      this.waiting = []
      for (const done of waiting) done()
    })
    return Effect.ensuring(Effect.forever(
      Effect.andThen(
        Effect.suspend(() => this.pause()),
        Effect.suspend(() => {
          this.kicked = false
          return this.cycle()
        })
      )
    ), stop)
  }

  /** One line per member, for errors. */
  describe(): ReadonlyArray<string> {
    return this.members.map((m) => m.describe())
  }
}
