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

  /**
   * Whether every value in this range is also in `other` (asyncpg's
   * `issubset`): the empty range is in every range, no non-empty range is in
   * the empty one. Bounds compare as numbers, bigints, strings or Dates.
   */
  isSubset(other: Range<A>): boolean {
    if (this.empty) return true
    if (other.empty) return false
    return startsWithin(this, other) && endsWithin(this, other)
  }

  /** Whether `other` is a subset of this range (asyncpg's `issuperset`). */
  isSuperset(other: Range<A>): boolean {
    return other.isSubset(this)
  }

  /** Range text with `String(bound)` bounds (`[1,10)`, `(,5]`, `empty`). */
  toString(): string {
    if (this.empty) return "empty"
    return `${this.lowerInclusive ? "[" : "("}${this.lower === null ? "" : String(this.lower)},${
      this.upper === null ? "" : String(this.upper)
    }${this.upperInclusive ? "]" : ")"}`
  }
}

/** -1, 0 or 1 as `a` is before, at or after `b` (Dates by their time). */
const order = (a: unknown, b: unknown): number => {
  const x = a instanceof Date ? a.getTime() : a
  const y = b instanceof Date ? b.getTime() : b
  return (x as number) < (y as number) ? -1 : (x as number) > (y as number) ? 1 : 0
}

/** Whether `inner`'s lower end is not below `outer`'s (an unbounded outer end holds anything). */
const startsWithin = <A>(inner: Range<A>, outer: Range<A>): boolean => {
  if (outer.lower === null) return true
  if (inner.lower === null) return false
  const c = order(inner.lower, outer.lower)
  // at the same bound, an exclusive outer end holds only an exclusive inner one
  return c > 0 || (c === 0 && (outer.lowerInclusive || !inner.lowerInclusive))
}

/** Whether `inner`'s upper end is not beyond `outer`'s. */
const endsWithin = <A>(inner: Range<A>, outer: Range<A>): boolean => {
  if (outer.upper === null) return true
  if (inner.upper === null) return false
  const c = order(inner.upper, outer.upper)
  return c < 0 || (c === 0 && (outer.upperInclusive || !inner.upperInclusive))
}
