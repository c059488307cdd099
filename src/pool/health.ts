/**
 * Health of pool connections: whether one sat idle long enough to be pinged
 * before it is handed out, and the ping itself (an empty query with a
 * deadline; a connection that does not answer is destroyed).
 *
 * @internal
 */
import type { Slot } from "./slots.js"

/** True when `slot` has been idle, with no ping answered, at least `pingIdleMs` (0 disables pings). */
export const needsPing = (slot: Slot, pingIdleMs: number): boolean =>
  pingIdleMs > 0 && Date.now() - Math.max(slot.idleSince, slot.answeredAt) >= pingIdleMs

/**
 * Sends an empty query; `cb(true)` when the server answered within
 * `timeoutMs`. A connection that does not answer is destroyed (its place
 * frees at once). The ping does not count toward maxQueries.
 */
export const ping = (slot: Slot, timeoutMs: number, cb: (ok: boolean) => void): void => {
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
