/**
 * One timer for many deadlines: armed for the earliest, re-armed by its
 * owner when it fires. The pool's waiters share one (a setTimeout and a
 * clearTimeout per acquire that waited, each with a duration of its own,
 * were most of a wait's cost).
 *
 * Internal: not exported by the package.
 */

/** The longest delay a Node timer takes (about 24.8 days); a longer one fires after 1 ms. */
export const MAX_DELAY_MS = 2 ** 31 - 1

/** A timer's delay for a deadline `ms` away: whole ms, 0 or more, at most {@link MAX_DELAY_MS}. */
export const delayOf = (ms: number): number => Math.min(MAX_DELAY_MS, Math.max(0, Math.ceil(ms)))

/** A timer armed for the earliest of the deadlines given to it (performance.now() times). */
export class DeadlineTimer {
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** when it fires, Infinity when it is not armed */
  private at = Infinity

  constructor(private readonly fire: () => void) {}

  /** Makes sure the timer fires by `deadline` (0 = no deadline). */
  cover(deadline: number): void {
    if (deadline > 0 && deadline < this.at) this.arm(deadline)
  }

  /** Whether it is armed. */
  get armed(): boolean {
    return this.timer !== undefined
  }

  /** Stops it (nothing left to time). */
  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.at = Infinity
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.at = at
    // Node fires a timer beyond MAX_DELAY_MS after 1 ms: a far deadline wakes early, finds nothing due and re-arms
    this.timer = setTimeout(this.onFire, delayOf(at - performance.now()))
  }

  private onFire = (): void => {
    this.timer = undefined
    this.at = Infinity
    this.fire()
  }
}
