/**
 * Codecs for date, timestamp and timestamptz (time, timetz and interval
 * live in `time.ts`).
 *
 * Modes (`RegistryOptions.timestamps`):
 * - `"date"` (default): binary; a `Date`. `timestamp` (without time zone)
 *   is read as UTC wall-clock time; `date` is midnight UTC of that day.
 *   Sub-millisecond digits are truncated (floor).
 * - `"micros"`: binary; timestamp/timestamptz as a `bigint` of microseconds
 *   since the Unix epoch (exact); date stays a `Date`.
 * - `"string"`: text; the server's output (its DateStyle and TimeZone).
 *
 * In every mode `infinity` / `-infinity` decode to the numbers `Infinity` /
 * `-Infinity` (and those numbers encode to them). BC dates and years past
 * 2038 are exact (PostgreSQL and `Date` both use the proleptic Gregorian
 * calendar); values outside `Date`'s range (±275760 years) give an invalid
 * Date.
 *
 * @since 0.1.0
 */
import { fail } from "./internal/binary.js"
import { binary, text, type TypeCodec } from "./internal/kit.js"

/** How date/time values are decoded. */
export type TimestampMode = "date" | "string" | "micros"

/** 2000-01-01T00:00:00Z in ms since the Unix epoch. */
export const PG_EPOCH_MS = 946684800000
/** 2000-01-01 in days since the Unix epoch. */
export const PG_EPOCH_DAYS = 10957
const PG_EPOCH_MICROS = 946684800000000n
const DAY_MS = 86400000

const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)

// ---------------------------------------------------------------------------
// timestamp / timestamptz
// ---------------------------------------------------------------------------

/** Decodes a binary timestamp(tz) to a Date (or ±Infinity). */
export const decodeTimestampDate = (buf: Buffer, start: number): Date | number => {
  const hi = buf.readInt32BE(start)
  const lo = buf.readUInt32BE(start + 4)
  if (hi === 0x7fffffff && lo === 0xffffffff) return Infinity
  if (hi === -0x80000000 && lo === 0) return -Infinity
  // floor((hi * 2^32 + lo) / 1000) exactly: 2^32 = 4294967 * 1000 + 296
  return new Date(hi * 4294967 + Math.floor((hi * 296 + lo) / 1000) + PG_EPOCH_MS)
}

/** Decodes a binary timestamp(tz) to bigint microseconds since the Unix epoch (or ±Infinity). */
export const decodeTimestampMicros = (buf: Buffer, start: number): bigint | number => {
  const v = buf.readBigInt64BE(start)
  return v === INT64_MAX ? Infinity : v === INT64_MIN ? -Infinity : v + PG_EPOCH_MICROS
}

const TIMESTAMP_EXPECTED = "a valid Date, Infinity/-Infinity, or a bigint of microseconds since 1970-01-01"

/** Microseconds since 2000-01-01 for a timestamp parameter. */
const toPgMicros = (value: unknown): bigint | number => {
  if (value instanceof Date) {
    const ms = value.getTime()
    if (Number.isNaN(ms)) return fail(TIMESTAMP_EXPECTED, value)
    const rel = ms - PG_EPOCH_MS
    // exact in a double while |rel| * 1000 < 2^56 (rel * 1000 is a multiple of 8)
    return rel > -7e13 && rel < 7e13 ? rel * 1000 : BigInt(rel) * 1000n
  }
  if (value === Infinity) return INT64_MAX
  if (value === -Infinity) return INT64_MIN
  if (typeof value === "bigint") {
    const v = value - PG_EPOCH_MICROS
    return v > INT64_MIN && v < INT64_MAX ? v : fail(TIMESTAMP_EXPECTED, value)
  }
  return fail(TIMESTAMP_EXPECTED, value)
}

/** Encodes a timestamp(tz) parameter in binary. */
export const encodeTimestamp = (value: unknown): Uint8Array => {
  const v = toPgMicros(value)
  const out = Buffer.allocUnsafe(8)
  if (typeof v === "bigint") {
    out.writeBigInt64BE(v, 0)
  } else {
    const hi = Math.floor(v / 4294967296)
    out.writeInt32BE(hi, 0)
    out.writeUInt32BE(v - hi * 4294967296, 4)
  }
  return out
}

/** The text form of a timestamp parameter (ISO 8601, `infinity`, or a string as is). */
export const formatTimestamp = (value: unknown): string => {
  if (typeof value === "string") return value
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return fail(TIMESTAMP_EXPECTED, value)
    return isoString(value)
  }
  if (value === Infinity) return "infinity"
  if (value === -Infinity) return "-infinity"
  if (typeof value === "bigint") {
    const ms = value / 1000n - (value % 1000n < 0n ? 1n : 0n)
    const micros = Number(value - ms * 1000n)
    const iso = isoString(new Date(Number(ms)))
    return iso.slice(0, -1) + String(micros).padStart(3, "0") + "Z"
  }
  return fail(TIMESTAMP_EXPECTED + " or a string", value)
}

/** `toISOString`, with years before 1 AD written as `0044-…BC` (PostgreSQL rejects `-000043`). */
const isoString = (d: Date): string => {
  const y = d.getUTCFullYear()
  if (y > 0 && y < 10000) return d.toISOString()
  if (y >= 10000) return d.toISOString().slice(1)
  // year y <= 0 is (1 - y) BC
  return String(1 - y).padStart(4, "0") + d.toISOString().slice(7) + " BC"
}

const ISO_TIMESTAMP =
  /^(\d{4,})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?(?:([+-])(\d\d)(?::?(\d\d))?(?::(\d\d))?|Z)?( BC)?$/

/**
 * Microseconds since the Unix epoch of a timestamp/date in PostgreSQL's ISO
 * output (`2020-01-02 03:04:05.123456+01`, `0044-03-15 BC`), or ±Infinity,
 * or `undefined` when the text is not in that form (another DateStyle).
 */
export const parseIsoMicros = (text: string): bigint | number | undefined => {
  if (text === "infinity") return Infinity
  if (text === "-infinity") return -Infinity
  const m = ISO_TIMESTAMP.exec(text)
  if (m === null) return undefined
  let year = Number(m[1])
  if (m[12] !== undefined) year = 1 - year
  const offset = m[8] === undefined ? 0 : (m[8] === "-" ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0))
  // whole seconds stay below 2^53 for every year PostgreSQL accepts (5874897 AD: 1.9e14 s)
  const seconds =
    daysFromCivil(year, Number(m[2]), Number(m[3])) * 86400 + Number(m[4] ?? 0) * 3600 + Number(m[5] ?? 0) * 60 + Number(m[6] ?? 0) - offset
  return BigInt(seconds) * 1000000n + BigInt((m[7] ?? "").padEnd(6, "0"))
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (`year` 0 is 1 BC),
 * computed without `Date`, so exact for years outside `Date`'s ±275760
 * (PostgreSQL dates reach 5874897 AD, timestamps 294276 AD).
 */
export const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146097 + dayOfEra - 719468
}

const floorDiv1000 = (v: bigint): number => Number(v / 1000n - (v % 1000n < 0n ? 1n : 0n))

const timestampParser = (mode: TimestampMode) => (text: string): unknown => {
  const us = parseIsoMicros(text)
  if (us === undefined) {
    // another DateStyle (SET DateStyle = 'SQL, DMY'): the text is ambiguous (DMY/MDY, zone
    // abbreviations), and returning it as a string would change the value's type silently
    throw new Error(
      `date/time text ${JSON.stringify(text.slice(0, 80))} is not in the ISO DateStyle; effect-pg reads text-format dates and timestamps (inside text-format composites) only with DateStyle = 'ISO' (set at connect): do not change DateStyle, or cast the value to text`
    )
  }
  if (typeof us === "number") return us
  return mode === "micros" ? us : new Date(floorDiv1000(us))
}

/** timestamp / timestamptz codec for a mode. */
export const timestamp = (oid: number, name: string, mode: TimestampMode): TypeCodec =>
  mode === "string"
    ? text(oid, name, undefined, formatTimestamp)
    : binary(oid, name, mode === "micros" ? decodeTimestampMicros : decodeTimestampDate, encodeTimestamp, {
      formatText: formatTimestamp,
      parseText: timestampParser(mode)
    })

// ---------------------------------------------------------------------------
// date
// ---------------------------------------------------------------------------

/** Decodes a binary date to midnight UTC of that day (or ±Infinity). */
export const decodeDate = (buf: Buffer, start: number): Date | number => {
  const days = buf.readInt32BE(start)
  if (days === 0x7fffffff) return Infinity
  if (days === -0x80000000) return -Infinity
  return new Date((days + PG_EPOCH_DAYS) * DAY_MS)
}

const DATE_EXPECTED = "a valid Date (its UTC day is sent) or Infinity/-Infinity"

/** Encodes a date parameter: the UTC calendar day of a Date. */
export const encodeDate = (value: unknown): Uint8Array => {
  let days: number
  if (value instanceof Date) {
    const ms = value.getTime()
    if (Number.isNaN(ms)) return fail(DATE_EXPECTED, value)
    days = Math.floor(ms / DAY_MS) - PG_EPOCH_DAYS
  } else if (value === Infinity) {
    days = 0x7fffffff
  } else if (value === -Infinity) {
    days = -0x80000000
  } else {
    return fail(DATE_EXPECTED, value)
  }
  const out = Buffer.allocUnsafe(4)
  out.writeInt32BE(days, 0)
  return out
}

/** The text form of a date parameter (`YYYY-MM-DD`, `infinity`, or a string as is). */
export const formatDate = (value: unknown): string => {
  if (typeof value === "string") return value
  if (value === Infinity) return "infinity"
  if (value === -Infinity) return "-infinity"
  if (value instanceof Date && !Number.isNaN(value.getTime())) {
    const iso = isoString(value)
    return iso.endsWith(" BC") ? iso.slice(0, iso.indexOf("T")) + " BC" : iso.slice(0, iso.indexOf("T"))
  }
  return fail(DATE_EXPECTED + " or a string", value)
}

/** date codec for a mode (`micros` keeps dates as Date). */
export const date = (oid: number, name: string, mode: TimestampMode): TypeCodec =>
  mode === "string"
    ? text(oid, name, undefined, formatDate)
    : binary(oid, name, decodeDate, encodeDate, { formatText: formatDate, parseText: timestampParser("date") })
