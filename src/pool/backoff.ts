/**
 * The pool's growth back-off while connects fail: exponential with full
 * jitter, grown once per burst of failures (attempts that failed together do
 * not compound), capped lower while the server says "not now" (57P03: a
 * restart takes moments), cleared by the first success.
 *
 * @internal
 */

/** First back-off after a failed connect (ms). */
const MIN_MS = 50
/** The largest back-off (ms). */
export const MAX_MS = 5_000
/** The largest back-off while the server says "not now" (57P03): it is restarting, retry soon. */
const NOT_NOW_MAX_MS = 200

/** Back-off state of one pool. */
export class Backoff {
  private delayMs = 0
  /** failed connects in a row */
  failStreak = 0
  /** growth waits until this time (Date.now()) */
  blockedUntil = 0

  /** A connect failed with `error`: grows the back-off, once per burst. */
  failed(error: unknown): void {
    this.failStreak++
    const cap = (error as { sqlstate?: string } | undefined)?.sqlstate === "57P03" ? NOT_NOW_MAX_MS : MAX_MS
    const now = Date.now()
    if (now >= this.blockedUntil) {
      this.delayMs = this.delayMs === 0 ? MIN_MS : Math.min(cap, this.delayMs * 2)
      // full jitter: instances that failed together do not retry together
      this.blockedUntil = now + this.delayMs / 2 + Math.random() * (this.delayMs / 2)
    }
  }

  /** A connect succeeded: the server answers again, growth need not wait out the outage's back-off. */
  succeeded(): void {
    this.delayMs = 0
    this.failStreak = 0
    this.blockedUntil = 0
  }
}
