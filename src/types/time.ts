/**
 * Codecs for time, timetz and interval.
 *
 * time and timetz are strings (JS has no time-of-day type): text format, the
 * server's own output (`13:45:06.5`, `13:45:06+02`); their binary form is
 * decoded to the same text inside composites and ranges. interval is binary,
 * decoded to an {@link Interval}.
 *
 * @since 0.1.0
 */
import { fail, readInt64Number } from "./internal/binary.js"
import { binary, text, type TypeCodec } from "./internal/kit.js"
import { Interval } from "./Interval.js"

const TIME_EXPECTED = "a time string (HH:MM[:SS[.ffffff]])"

/** Formats microseconds since midnight as PostgreSQL prints a time. */
export const formatTimeOfDay = (us: number): string => {
  const h = Math.floor(us / 3600e6)
  us -= h * 3600e6
  const m = Math.floor(us / 60e6)
  us -= m * 60e6
  const s = Math.floor(us / 1e6)
  const f = us - s * 1e6
  const base = `${pad2(h)}:${pad2(m)}:${pad2(s)}`
  return f === 0 ? base : `${base}.${String(f).padStart(6, "0").replace(/0+$/, "")}`
}

const pad2 = (n: number): string => (n < 10 ? "0" + n : String(n))

/** Formats a UTC offset in seconds east as PostgreSQL does (`+02`, `-03:30`, `+01:02:03`). */
export const formatOffset = (east: number): string => {
  const sign = east < 0 ? "-" : "+"
  let a = Math.abs(east)
  const h = Math.floor(a / 3600)
  a -= h * 3600
  const m = Math.floor(a / 60)
  const s = a - m * 60
  return `${sign}${pad2(h)}${m !== 0 || s !== 0 ? ":" + pad2(m) : ""}${s !== 0 ? ":" + pad2(s) : ""}`
}

const TIME = /^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?\s*$/
const TIMETZ = /^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?\s*(?:([+-])(\d{1,2})(?::?(\d{2}))?(?::(\d{2}))?)\s*$/

const microsOf = (h: string, m: string, s: string | undefined, f: string | undefined): number =>
  ((Number(h) * 60 + Number(m)) * 60 + Number(s ?? 0)) * 1e6 + Number((f ?? "").padEnd(6, "0"))

/** Encodes a time string in binary (microseconds since midnight). */
export const encodeTimeBinary = (value: unknown): Uint8Array => {
  const m = typeof value === "string" ? TIME.exec(value) : null
  if (m === null) return fail(TIME_EXPECTED, value)
  const out = Buffer.allocUnsafe(8)
  out.writeBigInt64BE(BigInt(microsOf(m[1]!, m[2]!, m[3], m[4])), 0)
  return out
}

/** Encodes a timetz string in binary (microseconds, then the offset in seconds west). */
export const encodeTimetzBinary = (value: unknown): Uint8Array => {
  const m = typeof value === "string" ? TIMETZ.exec(value) : null
  if (m === null) return fail("a time string with an offset (HH:MM:SS+hh[:mm])", value)
  const east = (m[5] === "-" ? -1 : 1) * (Number(m[6]) * 3600 + Number(m[7] ?? 0) * 60 + Number(m[8] ?? 0))
  const out = Buffer.allocUnsafe(12)
  out.writeBigInt64BE(BigInt(microsOf(m[1]!, m[2]!, m[3], m[4])), 0)
  out.writeInt32BE(-east, 8)
  return out
}

const formatTime = (value: unknown): string => {
  if (typeof value === "string") return value
  return fail(TIME_EXPECTED, value)
}

/** time: text format (a string), binary form read in containers. */
export const time = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, formatTime, {
    decodeBinary: (buf, start) => formatTimeOfDay(readInt64Number(buf, start)),
    encodeBinary: encodeTimeBinary
  })

/** timetz: text format (a string), binary form read in containers. */
export const timetz = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, formatTime, {
    decodeBinary: (buf, start) => formatTimeOfDay(readInt64Number(buf, start)) + formatOffset(-buf.readInt32BE(start + 8)),
    encodeBinary: encodeTimetzBinary
  })

// ---------------------------------------------------------------------------
// interval
// ---------------------------------------------------------------------------

/** Decodes a binary interval. */
export const decodeInterval = (buf: Buffer, start: number): Interval =>
  new Interval(buf.readInt32BE(start + 12), buf.readInt32BE(start + 8), readInt64Number(buf, start))

const INTERVAL_EXPECTED = "an Interval or { months, days, microseconds } of integers"

const intField = (v: unknown, value: unknown): number =>
  v === undefined ? 0 : typeof v === "number" && Number.isInteger(v) ? v : fail(INTERVAL_EXPECTED, value)

/** Encodes an Interval (or an object with integer `months`, `days`, `microseconds`). */
export const encodeInterval = (value: unknown): Uint8Array => {
  if (typeof value !== "object" || value === null) return fail(INTERVAL_EXPECTED, value)
  const v = value as { months?: unknown; days?: unknown; microseconds?: unknown }
  const months = intField(v.months, value)
  const days = intField(v.days, value)
  const us = typeof v.microseconds === "bigint" ? v.microseconds : BigInt(intField(v.microseconds, value))
  const out = Buffer.allocUnsafe(16)
  out.writeBigInt64BE(us, 0)
  out.writeInt32BE(days, 8)
  out.writeInt32BE(months, 12)
  return out
}

const formatInterval = (value: unknown): string => {
  if (typeof value === "string") return value
  if (value instanceof Interval) return value.toISOString()
  encodeInterval(value)
  const v = value as { months?: number; days?: number; microseconds?: number }
  return new Interval(v.months ?? 0, v.days ?? 0, v.microseconds ?? 0).toISOString()
}

const POSTGRES_INTERVAL =
  /^(?:([+-]?\d+) years? ?)?(?:([+-]?\d+) mons? ?)?(?:([+-]?\d+) days? ?)?(?:([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?$/
const ISO_INTERVAL =
  /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d{1,6}))?S)?)?$/

const fraction = (f: string | undefined): number => (f === undefined ? 0 : Number(f.padEnd(6, "0")))

/**
 * Parses interval text in the `postgres` IntervalStyle (the default:
 * `1 year 2 mons -3 days +04:05:06.789`) or `iso_8601` (`P1Y2M-3DT4H5M6.789S`)
 * to the same {@link Interval} the binary form decodes to. Other styles
 * (`sql_standard`, `postgres_verbose`) throw: they are ambiguous or lossy.
 */
export const parseIntervalText = (text: string): Interval => {
  let m = POSTGRES_INTERVAL.exec(text)
  if (m !== null && text !== "") {
    const months = Number(m[1] ?? 0) * 12 + Number(m[2] ?? 0)
    const sign = m[4] === "-" ? -1 : 1
    const us = m[5] === undefined ? 0 : sign * ((Number(m[5]) * 3600 + Number(m[6]) * 60 + Number(m[7])) * 1e6 + fraction(m[8]))
    return new Interval(months, Number(m[3] ?? 0), us)
  }
  m = ISO_INTERVAL.exec(text)
  if (m !== null && text !== "P") {
    const months = Number(m[1] ?? 0) * 12 + Number(m[2] ?? 0)
    const seconds = m[7] === undefined ? 0 : (m[6] === "-" ? -1 : 1) * (Number(m[7]) * 1e6 + fraction(m[8]))
    const us = Number(m[4] ?? 0) * 3600e6 + Number(m[5] ?? 0) * 60e6 + seconds
    return new Interval(months, Number(m[3] ?? 0), us)
  }
  throw new Error(
    `interval text ${JSON.stringify(text.slice(0, 80))} is not in the postgres or iso_8601 IntervalStyle; keep IntervalStyle = 'postgres' (the default) to read intervals in text-format values`
  )
}

/** interval: binary, decoded to an {@link Interval} (its text form, in text containers, to the same). */
export const interval = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeInterval, encodeInterval, { formatText: formatInterval, parseText: parseIntervalText })
