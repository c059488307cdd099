/**
 * Connection attempts in flight: when each started, how to abandon it, and
 * how long a connect to this server takes when it works. The engine
 * (`core.ts`) abandons attempts nobody needs any more, and replaces attempts
 * that have been silent too long for a new waiter to count on (a network
 * partition: the attempt's socket is black-holed and would hold its place
 * until the connect timeout, long after the network healed).
 *
 * @internal
 */

/** One connection attempt in flight. */
export interface Attempt {
  /** performance.now() when it started */
  readonly startedAt: number
  /** whether the server has answered it yet (a black-holed attempt never is; a slow server's is) */
  readonly heard: () => boolean
  /** whether it is at the last address it will try (earlier ones move on at their connect_timeout) */
  readonly atLast: () => boolean
  /** destroys its socket; its callback is not called after this */
  readonly abort: () => void
}

/** An attempt is taken for dead only when it has run this many times longer than a recent connect took. */
const SLOW_FACTOR = 4

/** How fast the memory of a slow connect fades: each success keeps this share of the slowest so far. */
const DECAY = 0.5

/** The attempts in flight, oldest first. */
export class Openings {
  private readonly live = new Set<Attempt>()
  /** a recent slow successful connect, ms (decaying: a slow one is remembered for a few connects) */
  private slowMs = 0

  /** Attempts in flight. */
  get size(): number {
    return this.live.size
  }

  add(attempt: Attempt): void {
    this.live.add(attempt)
  }

  /** Forgets an attempt that ended (opened, failed or abandoned). */
  delete(attempt: Attempt): void {
    this.live.delete(attempt)
  }

  /** An attempt succeeded after `ms`: remembered, so a slow but live server's attempts are not taken for dead. */
  succeeded(ms: number): void {
    this.slowMs = Math.max(ms, this.slowMs * DECAY)
  }

  /**
   * Abandons up to `excess` attempts the server has not answered, oldest
   * first (one it answered will connect, and serve the next caller); true
   * when it abandoned any.
   */
  shed(excess: number): boolean {
    let shed = 0
    while (shed < excess) {
      const silent = this.oldestSilent()
      if (silent === undefined) break
      silent.abort()
      shed++
    }
    return shed > 0
  }

  /** The oldest attempt in flight the server has not answered yet, if any. */
  oldestSilent(): Attempt | undefined {
    for (const a of this.live) if (!a.heard()) return a
    return undefined
  }

  /**
   * The oldest attempt that a waiter with `budgetMs` to wait cannot count
   * on: the server has not answered it, it is at the last address it will
   * try (a host list still walked moves on by itself at connect_timeout: a
   * fresh attempt would start again at the first host), and it has been in
   * flight longer than that budget and much longer than a recent connect
   * took; undefined when there is none. An attempt the server answered is never given up:
   * a slow server under load would otherwise never get a connection up for
   * callers with short timeouts.
   */
  stale(budgetMs: number, now: number): Attempt | undefined {
    const oldest = this.oldestSilent()
    // still walking its host list: replacing it would start the walk again at the first host
    if (oldest === undefined || !oldest.atLast()) return undefined
    const age = now - oldest.startedAt
    return age >= budgetMs && age >= SLOW_FACTOR * this.slowMs ? oldest : undefined
  }

  /** Every attempt in flight (a copy). */
  all(): Array<Attempt> {
    return [...this.live]
  }
}
