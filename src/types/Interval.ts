/**
 * The value of a PostgreSQL `interval`: months, days and microseconds, kept
 * apart as the server keeps them (a month is not a fixed number of days, a
 * day is not always 24 hours across a DST change).
 *
 * @since 0.1.0
 */
export class Interval {
  constructor(
    /** whole months (years × 12 + months) */
    readonly months: number = 0,
    /** whole days */
    readonly days: number = 0,
    /** microseconds (hours, minutes, seconds); exact up to 2^53 µs (285 years) */
    readonly microseconds: number = 0
  ) {}

  /** An interval from named parts (all optional, may be negative or fractional seconds). */
  static from(parts: {
    readonly years?: number
    readonly months?: number
    readonly days?: number
    readonly hours?: number
    readonly minutes?: number
    readonly seconds?: number
    readonly milliseconds?: number
    readonly microseconds?: number
  }): Interval {
    return new Interval(
      (parts.years ?? 0) * 12 + (parts.months ?? 0),
      parts.days ?? 0,
      Math.round(
        ((parts.hours ?? 0) * 3600 + (parts.minutes ?? 0) * 60 + (parts.seconds ?? 0)) * 1e6 +
          (parts.milliseconds ?? 0) * 1e3 +
          (parts.microseconds ?? 0)
      )
    )
  }

  /** ISO 8601 duration, as PostgreSQL's `iso_8601` IntervalStyle prints it (`P1Y2M3DT4H5M6.5S`, `PT0S`). */
  toISOString(): string {
    const years = Math.trunc(this.months / 12)
    const months = this.months % 12
    let us = this.microseconds
    const hours = Math.trunc(us / 3600e6)
    us -= hours * 3600e6
    const minutes = Math.trunc(us / 60e6)
    us -= minutes * 60e6
    let out = "P"
    if (years !== 0) out += `${years}Y`
    if (months !== 0) out += `${months}M`
    if (this.days !== 0) out += `${this.days}D`
    if (hours !== 0 || minutes !== 0 || us !== 0) {
      out += "T"
      if (hours !== 0) out += `${hours}H`
      if (minutes !== 0) out += `${minutes}M`
      if (us !== 0) out += `${formatSeconds(us)}S`
    }
    return out === "P" ? "PT0S" : out
  }

  /** `toISOString()`: the text PostgreSQL accepts as interval input. */
  toString(): string {
    return this.toISOString()
  }

  /** `toISOString()`, so `JSON.stringify` gives the ISO form. */
  toJSON(): string {
    return this.toISOString()
  }
}

/** Seconds with up to six fraction digits, trailing zeros dropped. */
const formatSeconds = (us: number): string => {
  const sign = us < 0 ? "-" : ""
  const abs = Math.abs(us)
  const whole = Math.trunc(abs / 1e6)
  const frac = abs - whole * 1e6
  return frac === 0 ? `${sign}${whole}` : `${sign}${whole}.${String(frac).padStart(6, "0").replace(/0+$/, "")}`
}
