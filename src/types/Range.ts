/**
 * The value of a PostgreSQL range (`int4range`, `tstzrange`, user ranges):
 * bounds, their inclusivity, and emptiness. A `null` bound is unbounded
 * (infinite) on that side.
 *
 * ```ts
 * new Range(1, 10)                 // [1,10)
 * new Range(1, 10, true, true)     // [1,10]
 * new Range(null, 5)               // (,5)
 * Range.empty()                    // empty
 * ```
 *
 * @since 0.1.0
 */
export class Range<A> {
  constructor(
    /** the lower bound, `null` when unbounded */
    readonly lower: A | null = null,
    /** the upper bound, `null` when unbounded */
    readonly upper: A | null = null,
    /** whether `lower` is included (`[`); default: true for a finite lower bound */
    readonly lowerInclusive: boolean = lower !== null,
    /** whether `upper` is included (`]`); default false */
    readonly upperInclusive: boolean = false,
    /** whether the range is empty (then the bounds are `null`) */
    readonly empty: boolean = false
  ) {}

  /** The empty range. */
  static empty<A>(): Range<A> {
    return new Range<A>(null, null, false, false, true)
  }

  /** Range text with `String(bound)` bounds (`[1,10)`, `(,5]`, `empty`). */
  toString(): string {
    if (this.empty) return "empty"
    return `${this.lowerInclusive ? "[" : "("}${this.lower === null ? "" : String(this.lower)},${
      this.upper === null ? "" : String(this.upper)
    }${this.upperInclusive ? "]" : ")"}`
  }
}
