/**
 * Range and multirange codecs: binary when the subtype has a binary form,
 * text otherwise. Ranges decode to {@link Range}, multiranges to arrays of
 * `Range`. Parameters may be `[lower, upper]` tuples, so arrays of ranges
 * are one-dimensional (a nested JS array is a range, not a dimension).
 *
 * @since 0.1.0
 */
import { fail, utf8, Writer } from "./internal/binary.js"
import { make, type Decoder, type Encoder, type TypeCodec } from "./internal/kit.js"
import { quoteElement } from "./array.js"
import { Range } from "./Range.js"

const EMPTY = 0x01
const LB_INC = 0x02
const UB_INC = 0x04
const LB_INF = 0x08
const UB_INF = 0x10

/** Decodes a binary range with `decodeBound` for its bounds. */
export const decodeRangeBinary = (buf: Buffer, start: number, decodeBound: Decoder): Range<unknown> => {
  const flags = buf[start]!
  if (flags & EMPTY) return new Range(null, null, false, false, true)
  let pos = start + 1
  let lower: unknown = null
  let upper: unknown = null
  if (!(flags & LB_INF)) {
    const len = buf.readInt32BE(pos)
    lower = decodeBound(buf, pos + 4, pos + 4 + len)
    pos += 4 + len
  }
  if (!(flags & UB_INF)) {
    const len = buf.readInt32BE(pos)
    upper = decodeBound(buf, pos + 4, pos + 4 + len)
  }
  return new Range(lower, upper, (flags & LB_INC) !== 0, (flags & UB_INC) !== 0, false)
}

const RANGE_EXPECTED = "a Range, { lower, upper, lowerInclusive?, upperInclusive?, empty? } or [lower, upper]"

interface RangeLike {
  readonly lower: unknown
  readonly upper: unknown
  readonly lowerInclusive: boolean
  readonly upperInclusive: boolean
  readonly empty: boolean
}

/** Reads a range parameter: a Range, a range-shaped object, or a `[lower, upper]` tuple (`[)` bounds). */
export const toRangeLike = (value: unknown): RangeLike => {
  if (value instanceof Range) return value
  if (Array.isArray(value) && value.length === 2) {
    const lower = value[0] ?? null
    const upper = value[1] ?? null
    return { lower, upper, lowerInclusive: lower !== null, upperInclusive: false, empty: false }
  }
  if (typeof value === "object" && value !== null && ("lower" in value || "upper" in value || "empty" in value)) {
    const v = value as Partial<Record<keyof RangeLike, unknown>>
    const lower = v.lower ?? null
    const upper = v.upper ?? null
    return {
      lower,
      upper,
      lowerInclusive: v.lowerInclusive === undefined ? lower !== null : v.lowerInclusive === true,
      upperInclusive: v.upperInclusive === true,
      empty: v.empty === true
    }
  }
  return fail(RANGE_EXPECTED, value)
}

/** Writes a range parameter in binary with `encodeBound` for its bounds. */
export const writeRangeBinary = (w: Writer, value: unknown, encodeBound: Encoder): void => {
  const r = toRangeLike(value)
  if (r.empty) {
    w.uint8(EMPTY)
    return
  }
  const lowerInf = r.lower === null
  const upperInf = r.upper === null
  w.uint8(
    (lowerInf ? LB_INF : r.lowerInclusive ? LB_INC : 0) | (upperInf ? UB_INF : r.upperInclusive ? UB_INC : 0)
  )
  if (!lowerInf) w.lengthPrefixed(encodeBound(r.lower))
  if (!upperInf) w.lengthPrefixed(encodeBound(r.upper))
}

/** Parses range text (`[1,10)`, `(,"a b"]`, `empty`), bounds through `parseBound`. */
export const parseRangeText = (text: string, parseBound: (s: string) => unknown): Range<unknown> => {
  const s = text.trim()
  if (s.toLowerCase() === "empty") return Range.empty()
  const cursor = { pos: 1 }
  const lower = readBound(s, cursor)
  cursor.pos++ // ","
  const upper = readBound(s, cursor)
  return new Range(
    lower === null ? null : parseBound(lower),
    upper === null ? null : parseBound(upper),
    s.charCodeAt(0) === 91,
    s.charCodeAt(s.length - 1) === 93,
    false
  )
}

/** Reads one bound (quoted or not) up to `,`, `]` or `)`; `null` when empty (unbounded). */
const readBound = (s: string, cursor: { pos: number }): string | null => {
  let i = cursor.pos
  let out = ""
  let any = false
  let quoted = false
  for (; i < s.length; i++) {
    const c = s[i]!
    if (quoted) {
      if (c === "\\") out += s[++i] ?? ""
      else if (c === '"') {
        if (s[i + 1] === '"') out += '"', i++
        else quoted = false
      } else out += c
    } else if (c === '"') {
      quoted = true
      any = true
    } else if (c === "," || c === "]" || c === ")") {
      break
    } else if (c === "\\") {
      out += s[++i] ?? ""
      any = true
    } else {
      out += c
      any = true
    }
  }
  cursor.pos = i
  return any ? out : null
}

/** Formats a range parameter as text, bounds through `formatBound`. */
export const formatRangeText = (value: unknown, formatBound: (v: unknown) => string): string => {
  const r = toRangeLike(value)
  if (r.empty) return "empty"
  return `${r.lower !== null && r.lowerInclusive ? "[" : "("}${r.lower === null ? "" : quoteElement(formatBound(r.lower))},${
    r.upper === null ? "" : quoteElement(formatBound(r.upper))
  }${r.upper !== null && r.upperInclusive ? "]" : ")"}`
}

/** The codec of a range type over `subtype`: binary when the subtype has a binary form. */
export const rangeCodec = (oid: number, name: string, subtype: TypeCodec): TypeCodec => {
  const parseBound = subtype.parseText ?? ((s: string) => s)
  const formatBound = subtype.formatText
  const parseText = (text: string) => parseRangeText(text, parseBound)
  const formatText = formatBound === undefined
    ? undefined
    : (value: unknown) => formatRangeText(value, formatBound)
  const decodeBound = subtype.decodeBinary
  const encodeBound = subtype.encodeBinary
  if (decodeBound !== undefined && encodeBound !== undefined) {
    return make(
      oid,
      name,
      1,
      (buf, start) => decodeRangeBinary(buf, start, decodeBound),
      (value) => {
        const w = new Writer(32)
        writeRangeBinary(w, value, encodeBound)
        return w.finish()
      },
      { parseText, formatText, arrayValues: true }
    )
  }
  const format = formatText ?? ((value: unknown) => fail(`a range of a type with a text form (${subtype.name})`, value))
  return make(oid, name, 0, (buf, start, end) => parseText(utf8(buf, start, end)), format, { parseText, formatText: format, arrayValues: true })
}

// ---------------------------------------------------------------------------
// multiranges
// ---------------------------------------------------------------------------

/** Decodes a binary multirange to an array of ranges. */
export const decodeMultirangeBinary = (buf: Buffer, start: number, decodeBound: Decoder): Array<Range<unknown>> => {
  const n = buf.readInt32BE(start)
  const out = new Array<Range<unknown>>(n)
  let pos = start + 4
  for (let i = 0; i < n; i++) {
    const len = buf.readInt32BE(pos)
    out[i] = decodeRangeBinary(buf, pos + 4, decodeBound)
    pos += 4 + len
  }
  return out
}

/** Parses multirange text (`{[1,3), [5,7)}`). */
export const parseMultirangeText = (text: string, parseBound: (s: string) => unknown): Array<Range<unknown>> => {
  const out: Array<Range<unknown>> = []
  const s = text.trim()
  let i = 1
  while (i < s.length - 1) {
    const c = s[i]!
    if (c === "[" || c === "(") {
      let j = i + 1
      let quoted = false
      for (; j < s.length; j++) {
        const d = s[j]!
        if (d === "\\") j++
        else if (d === '"') quoted = !quoted
        else if (!quoted && (d === "]" || d === ")")) break
      }
      out.push(parseRangeText(s.slice(i, j + 1), parseBound))
      i = j + 1
    } else if (s.startsWith("empty", i)) {
      out.push(Range.empty())
      i += 5
    } else {
      i++
    }
  }
  return out
}

/** The codec of a multirange type over `subtype`. */
export const multirangeCodec = (oid: number, name: string, subtype: TypeCodec): TypeCodec => {
  const parseBound = subtype.parseText ?? ((s: string) => s)
  const formatBound = subtype.formatText
  const parseText = (text: string) => parseMultirangeText(text, parseBound)
  const formatText = formatBound === undefined
    ? undefined
    : (value: unknown) =>
      Array.isArray(value)
        ? `{${value.map((r) => formatRangeText(r, formatBound)).join(",")}}`
        : fail("an array of ranges", value)
  const decodeBound = subtype.decodeBinary
  const encodeBound = subtype.encodeBinary
  if (decodeBound !== undefined && encodeBound !== undefined) {
    return make(
      oid,
      name,
      1,
      (buf, start) => decodeMultirangeBinary(buf, start, decodeBound),
      (value) => {
        if (!Array.isArray(value)) return fail("an array of ranges", value)
        const w = new Writer(64)
        w.int32(value.length)
        for (const r of value) {
          const at = w.pos
          w.int32(0)
          writeRangeBinary(w, r, encodeBound)
          w.buf.writeInt32BE(w.pos - at - 4, at)
        }
        return w.finish()
      },
      { parseText, formatText, arrayValues: true }
    )
  }
  const format = formatText ?? ((value: unknown) => fail(`ranges of a type with a text form (${subtype.name})`, value))
  return make(oid, name, 0, (buf, start, end) => parseText(utf8(buf, start, end)), format, { parseText, formatText: format, arrayValues: true })
}
