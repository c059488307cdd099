/**
 * WAL positions (LSNs) and replication lag in time: the primary's position
 * is sampled with a local timestamp at every probe, so a replica's lag is how
 * long ago the primary first had WAL the replica has not replayed yet. That
 * stays right when the primary is idle (where `now() -
 * pg_last_xact_replay_timestamp()` grows without bound) and when the
 * replica's WAL receiver is cut off (where receive and replay positions agree
 * and look caught up).
 */

/** Parses `16/B374D848` into a bigint; undefined for null or garbage. */
export const parseLsn = (text: unknown): bigint | undefined => {
  if (typeof text !== "string") return undefined
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text)
  if (m === null) return undefined
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`)
}

/** Formats a bigint LSN as PostgreSQL does (`16/B374D848`). */
export const formatLsn = (lsn: bigint): string =>
  `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`

/** One sample of the primary's WAL position; `at` is when the probe was sent (performance.now()). */
export interface Sample {
  readonly at: number
  readonly lsn: bigint
}

/** The primary's recent WAL positions, oldest first, bounded in count. */
export class PrimaryHistory {
  private readonly samples: Array<Sample> = []

  constructor(private readonly capacity: number) {}

  /** Records a sample (ignored when it goes backwards: a new primary on another timeline resets the history). */
  add(sample: Sample): void {
    const last = this.samples[this.samples.length - 1]
    if (last !== undefined && sample.lsn < last.lsn) this.samples.length = 0
    this.samples.push(sample)
    if (this.samples.length > this.capacity) this.samples.splice(0, this.samples.length - this.capacity)
  }

  /** Forgets every sample (the writer changed). */
  clear(): void {
    this.samples.length = 0
  }

  /** The first sample sent at or after `t`: its LSN covers every commit acknowledged before `t`. */
  firstSentAfter(t: number): Sample | undefined {
    for (const s of this.samples) if (s.at >= t) return s
    return undefined
  }

  /**
   * How far behind a replica that had replayed `replay` when probed at `at`
   * is, in ms: from the first primary sample with WAL beyond `replay` to
   * `at`. 0 when caught up; undefined without samples.
   */
  lagMs(replay: bigint, at: number): number | undefined {
    if (this.samples.length === 0) return undefined
    for (const s of this.samples) if (s.lsn > replay) return Math.max(0, at - s.at)
    return 0
  }
}
