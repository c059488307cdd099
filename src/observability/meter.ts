/**
 * The hot-path half of the metrics: plain counters and fixed-bucket
 * histograms that a query or an acquire updates with a few arithmetic
 * operations (no Effect, no allocation). `metrics.ts` exposes them as Effect
 * metrics, read only when someone takes a snapshot.
 *
 * Internal: not exported by the package.
 */
import { errorClass } from "./attributes.js"

/** Bucket bounds of the duration histograms, in seconds (100 µs to 10 s). */
export const DURATION_BOUNDS: ReadonlyArray<number> = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]

/** What `Metric.HistogramState` holds: cumulative buckets, count, min, max, sum. */
export interface HistogramSnapshot {
  readonly buckets: ReadonlyArray<[number, number]>
  readonly count: number
  readonly min: number
  readonly max: number
  readonly sum: number
}

/** A histogram with fixed bounds; `observe` is a short linear scan and four updates. */
export class Histogram {
  private readonly counts: Uint32Array
  count = 0
  sum = 0
  min = Number.MAX_VALUE
  max = -Number.MAX_VALUE

  constructor(readonly bounds: ReadonlyArray<number>) {
    this.counts = new Uint32Array(bounds.length + 1)
  }

  /** Records one value. */
  observe(value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]!++
    this.count++
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }

  /** The state as Effect's histograms report it (buckets cumulative, the last bound's count excludes overflow). */
  snapshot(): HistogramSnapshot {
    const buckets: Array<[number, number]> = []
    let cumulated = 0
    for (let i = 0; i < this.bounds.length; i++) {
      cumulated += this.counts[i]!
      buckets.push([this.bounds[i]!, cumulated])
    }
    return { buckets, count: this.count, min: this.min, max: this.max, sum: this.sum }
  }
}

/**
 * The counters one pool keeps beyond its `stats()`: queries run on its
 * connections, their duration, their errors by SQLSTATE class (or client
 * error tag), and the time callers waited in its queue.
 */
export class PoolMeter {
  /** queries finished (successfully or not) on the pool's connections */
  queries = 0
  /** their duration from sending to the result, seconds */
  readonly queryDuration = new Histogram(DURATION_BOUNDS)
  /** time callers waited in the pool's queue for a connection, seconds (only callers that had to wait) */
  readonly acquireWait = new Histogram(DURATION_BOUNDS)
  /** failed queries by SQLSTATE class (`"23"`) or client error tag */
  readonly errors = new Map<string, number>()
  /** called the first time an error key is seen (metrics.ts registers a series for it) */
  onNewErrorKey: ((key: string) => void) | undefined = undefined

  /**
   * A query ended, with `error` when it failed. `sentAt` and `endedAt` are
   * the session's own performance.now() readings (request written,
   * ReadyForQuery received), so metering takes no clock reading of its
   * own; without `sentAt` (it failed before it was written) only the counts
   * move.
   */
  query(sentAt: number | undefined, endedAt: number, error: unknown): void {
    this.queries++
    // a session that broke ends its requests with no ReadyForQuery: then the clock is read here
    if (sentAt !== undefined) this.queryDuration.observe(((endedAt >= sentAt ? endedAt : performance.now()) - sentAt) / 1000)
    if (error !== undefined) this.failed(error)
  }

  /** A caller waited `ms` for a connection. */
  waited(ms: number): void {
    this.acquireWait.observe(ms / 1000)
  }

  private failed(error: unknown): void {
    const key = errorClass(error)
    const n = this.errors.get(key)
    this.errors.set(key, (n ?? 0) + 1)
    if (n === undefined && this.onNewErrorKey !== undefined) this.onNewErrorKey(key)
  }
}
