/**
 * The lazy flush shared by every session of the process: messages written
 * lazily wait up to a millisecond on one timer, so the next request's flush
 * carries them in the same socket write (a pool's reset and the next
 * borrower's first query: one syscall instead of two).
 *
 * Internal: not exported by the package.
 */

/** Something with written messages to flush. */
export interface Flushable {
  flushNow(): void
}

/** Sessions with lazily written messages waiting for the shared timer. */
const waiting = new Set<Flushable>()

let timer: ReturnType<typeof setTimeout> | undefined = undefined

const flushWaiting = (): void => {
  timer = undefined
  const sessions = [...waiting]
  waiting.clear()
  for (const s of sessions) s.flushNow()
}

/** Flushes `session` on the shared timer (within about a millisecond). */
export const flushSoon = (session: Flushable): void => {
  waiting.add(session)
  timer ??= setTimeout(flushWaiting, 1)
}
