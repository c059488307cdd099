/**
 * Lanes: connections shared by pool-level queries, pipelined. What the
 * server time of each statement is (learnt from the lanes), and which lane
 * a query may join: a fast statement goes on the busiest lane that has room
 * and runs only fast statements; anything else needs a lane to itself, so a
 * slow statement never holds a fast one up.
 *
 * @internal
 */
import type { Slot } from "./slots.js"

/** A lane whose server has not finished a request for this long counts as busy (ms). */
const STALL_MS = 2
/** A statement the server runs in less than this (ms, moving average) may be pipelined deeply. */
const FAST_MS = 1

/** Server time per statement text (ms, a moving average). */
export class StatementTiming {
  private readonly ms = new Map<string, number>()

  /** True when the server is known to answer `sql` fast. */
  isFast(sql: string | undefined): boolean {
    if (sql === undefined) return false
    const ms = this.ms.get(sql)
    return ms !== undefined && ms < FAST_MS
  }

  /** Records one measurement of `sql`'s server time. */
  record(sql: string, ms: number): void {
    const known = this.ms.get(sql)
    if (known === undefined && this.ms.size > 2000) this.ms.clear()
    // quick to believe a statement is fast, slow to believe it turned slow: a measurement
    // includes the client's event-loop lag, which a loaded process adds to everything
    this.ms.set(sql, known === undefined ? ms : ms < known ? (ms + known) / 2 : known * 0.9 + ms * 0.1)
  }
}

/** The lane among `lanes` that may take one more query, or undefined (then an idle connection becomes a lane). */
export const pickLane = (lanes: ReadonlyArray<Slot>, fast: boolean, pipelineDepth: number): Slot | undefined => {
  let pick: Slot | undefined
  const now = fast ? performance.now() : 0
  for (let i = 0; i < lanes.length; i++) {
    const l = lanes[i]!
    if (l.draining || l.session.closed) continue
    if (l.inFlight === 0) {
      // work nobody waits for is still on its wire (an abandoned query, a statement being
      // prepared for a caller that gave up): the lane is on its way back, not reusable
      if (l.session.hasUserWork) continue
      if (!fast) return l
      if (pick === undefined) pick = l
      continue
    }
    if (!fast || l.slowInFlight > 0 || l.inFlight >= pipelineDepth) continue
    // the server has work of this lane and finished nothing for a while: something slow runs there
    if (l.session.inFlight > 0 && now - l.session.lastProgressAt >= STALL_MS) continue
    if (pick === undefined || l.inFlight > pick.inFlight) pick = l
  }
  return pick
}

/** The lane to ask to finish and come back when the pool is full and a caller waits: the least busy, unless one drains already. */
export const laneToDrain = (lanes: ReadonlyArray<Slot>): Slot | undefined => {
  let pick: Slot | undefined
  for (const l of lanes) {
    if (l.draining) return undefined // one is on its way back
    if (pick === undefined || l.inFlight < pick.inFlight) pick = l
  }
  return pick
}
