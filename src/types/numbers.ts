/**
 * Codecs for bool, the integer types, the OID family, float4/float8 and
 * numeric.
 *
 * @since 0.1.0
 */
import { fail, latin1, readInt64Number, TWO_32 } from "./internal/binary.js"
import { binary, text, withDecoder, type TypeCodec } from "./internal/kit.js"

const INTEGER = /^\s*[+-]?\d+\s*$/
const NUMERIC = /^\s*(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]?inf(?:inity)?)\s*$/i

// ---------------------------------------------------------------------------
// bool
// ---------------------------------------------------------------------------


/** A binary value of a fixed-width type arrived with another width: the stream is not what it claims. */
export const badWidth = (type: string, width: number, start: number, end: number): never => {
  throw new Error(`a binary ${type} value must be ${width} bytes, the server sent ${end - start}`)
}

/** bool: binary, one byte. */
export const bool = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeBool, encodeBool, { parseText: parseBool, formatText: formatBool })

/** Decodes a binary bool. */
export const decodeBool = (buf: Buffer, start: number, end: number): boolean => (end - start === 1 ? buf[start] !== 0 : badWidth("bool", 1, start, end))

const TRUE = Uint8Array.of(1)
const FALSE = Uint8Array.of(0)

/** Encodes a boolean as one byte. */
export const encodeBool = (value: unknown): Uint8Array =>
  value === true ? TRUE : value === false ? FALSE : fail("a boolean", value)

const parseBool = (s: string): boolean => s === "t" || s === "true"
const formatBool = (value: unknown): string =>
  value === true ? "t" : value === false ? "f" : fail("a boolean", value)

// ---------------------------------------------------------------------------
// integers
// ---------------------------------------------------------------------------

/**
 * Coerces an integer-like value (integer number, bigint or decimal string)
 * to a number within `[min, max]`, or throws `EncodeError`.
 */
export const toInteger = (value: unknown, min: number, max: number, expected: string): number => {
  let n: number
  if (typeof value === "number") {
    n = value
  } else if (typeof value === "bigint") {
    n = Number(value)
    if (BigInt(n) !== value) return fail(expected, value)
  } else if (typeof value === "string" && INTEGER.test(value)) {
    n = Number(value)
  } else {
    return fail(expected, value)
  }
  if (!Number.isInteger(n) || n < min || n > max) return fail(expected, value)
  return n
}

const INT2 = "an integer between -32768 and 32767"
const INT4 = "an integer between -2147483648 and 2147483647"
const INT8 = "an integer between -9223372036854775808 and 9223372036854775807 (bigint, safe-integer number or decimal string)"
const UINT4 = "an integer between 0 and 4294967295"

/** int2: binary, decoded to a number. */
export const int2 = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeInt2, encodeInt2, { parseText: Number, formatText: formatInt2 })

/** Decodes a binary int2. */
export const decodeInt2 = (buf: Buffer, start: number, end: number): number => (end - start === 2 ? buf.readInt16BE(start) : badWidth("int2", 2, start, end))

/** Encodes an int2. */
export const encodeInt2 = (value: unknown): Uint8Array => {
  const n = toInteger(value, -32768, 32767, INT2)
  const out = Buffer.allocUnsafe(2)
  out.writeInt16BE(n, 0)
  return out
}
const formatInt2 = (value: unknown): string => String(toInteger(value, -32768, 32767, INT2))

/** int4: binary, decoded to a number. */
export const int4 = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeInt4, encodeInt4, { parseText: Number, formatText: formatInt4 })

/** Decodes a binary int4. */
export const decodeInt4 = (buf: Buffer, start: number, end: number): number => (end - start === 4 ? buf.readInt32BE(start) : badWidth("int4", 4, start, end))

/** Encodes an int4. */
export const encodeInt4 = (value: unknown): Uint8Array => {
  const n = toInteger(value, -2147483648, 2147483647, INT4)
  const out = Buffer.allocUnsafe(4)
  out.writeInt32BE(n, 0)
  return out
}
const formatInt4 = (value: unknown): string => String(toInteger(value, -2147483648, 2147483647, INT4))

/** How int8 values are decoded. */
export type Int8Mode = "bigint" | "number" | "string"

const INT8_MIN = -(2n ** 63n)
const INT8_MAX = 2n ** 63n - 1n

/** Coerces an int8-like value to a bigint, or throws `EncodeError`. */
export const toBigInt = (value: unknown): bigint => {
  let b: bigint
  if (typeof value === "bigint") {
    b = value
  } else if (typeof value === "number") {
    if (!Number.isInteger(value)) return fail(INT8, value)
    b = BigInt(value)
  } else if (typeof value === "string" && INTEGER.test(value)) {
    b = BigInt(value.trim())
  } else {
    return fail(INT8, value)
  }
  if (b < INT8_MIN || b > INT8_MAX) return fail(INT8, value)
  return b
}

/** Encodes an int8 (bigint, integer number or decimal string). */
export const encodeInt8 = (value: unknown): Uint8Array => {
  const out = Buffer.allocUnsafe(8)
  out.writeBigInt64BE(toBigInt(value), 0)
  return out
}
const formatInt8 = (value: unknown): string => toBigInt(value).toString()

/** Decodes a binary int8 to a bigint. */
export const decodeInt8BigInt = (buf: Buffer, start: number, end: number): bigint =>
  end - start === 8 ? buf.readBigInt64BE(start) : badWidth("int8", 8, start, end)

/** Decodes a binary int8 to a number (rounded beyond 2^53). */
export const decodeInt8Number = (buf: Buffer, start: number, end: number): number =>
  end - start === 8 ? readInt64Number(buf, start) : badWidth("int8", 8, start, end)

/**
 * int8: binary for `bigint` (default) and `number` modes; text for `string`
 * mode (the server's decimal text is the value).
 */
export const int8 = (oid: number, name: string, mode: Int8Mode): TypeCodec =>
  mode === "string"
    ? text(oid, name, undefined, formatInt8, {
      decodeBinary: (buf, start) => buf.readBigInt64BE(start).toString(),
      encodeBinary: encodeInt8
    })
    : mode === "number"
      ? binary(oid, name, decodeInt8Number, encodeInt8, { parseText: Number, formatText: formatInt8 })
      : binary(oid, name, decodeInt8BigInt, encodeInt8, { parseText: BigInt, formatText: formatInt8 })

// ---------------------------------------------------------------------------
// OID family (oid, xid, cid, regclass, regtype, ...): unsigned 32-bit
// ---------------------------------------------------------------------------

/**
 * oid and the `reg*` / xid / cid types: binary, decoded to a number (the
 * OID, not the name: `regclass` values come back as numbers).
 */
export const uint4 = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeUint4, encodeUint4, { parseText: parseUint4, formatText: formatUint4 })

/** Decodes a binary unsigned int4. */
export const decodeUint4 = (buf: Buffer, start: number, end: number): number => (end - start === 4 ? buf.readUInt32BE(start) : badWidth("oid", 4, start, end))

/** Encodes an unsigned int4. */
export const encodeUint4 = (value: unknown): Uint8Array => {
  const n = toInteger(value, 0, TWO_32 - 1, UINT4)
  const out = Buffer.allocUnsafe(4)
  out.writeUInt32BE(n, 0)
  return out
}
const formatUint4 = (value: unknown): string => String(toInteger(value, 0, TWO_32 - 1, UINT4))
const parseUint4 = (s: string): unknown => (INTEGER.test(s) ? Number(s) : s)

/** xid8: binary unsigned int64, decoded to a bigint. */
export const xid8 = (oid: number, name: string): TypeCodec =>
  binary(oid, name, (buf, start) => buf.readBigUInt64BE(start), encodeXid8, {
    parseText: BigInt,
    formatText: (v) => String(toUint64(v))
  })

const toUint64 = (value: unknown): bigint => {
  const b = typeof value === "bigint"
    ? value
    : typeof value === "number" && Number.isInteger(value)
      ? BigInt(value)
      : typeof value === "string" && INTEGER.test(value)
        ? BigInt(value.trim())
        : fail("an unsigned 64-bit integer", value)
  return b < 0n || b >= 2n ** 64n ? fail("an unsigned 64-bit integer", value) : b
}
const encodeXid8 = (value: unknown): Uint8Array => {
  const out = Buffer.allocUnsafe(8)
  out.writeBigUInt64BE(toUint64(value), 0)
  return out
}

// ---------------------------------------------------------------------------
// floats
// ---------------------------------------------------------------------------

const FLOAT = "a number (or a bigint or numeric string)"

const FLOAT8_RANGE = "a number within float8 range (a bigint or numeric string beyond ±1.8e308, or a nonzero one below 4.9e-324, would change value)"
const FLOAT4_RANGE = "a number within float4 range (beyond ±3.4e38 it would become ±Infinity, a nonzero value below 1.4e-45 would become 0; Infinity, -Infinity and NaN themselves are accepted)"

/** True when numeric text has a nonzero digit before its exponent (so it is not zero). */
const NONZERO_TEXT = /^[^eE]*[1-9]/

/**
 * Coerces a number, bigint or numeric string to a number, or throws
 * `EncodeError`. A bigint or string whose value is beyond float8 range
 * (`"1e309"`, `2n ** 1100n`) or nonzero and below it (`"1e-400"`) is refused
 * rather than stored as ±Infinity or 0; explicit `Infinity`/`NaN` pass.
 */
export const toFloat = (value: unknown): number => {
  if (typeof value === "number") return value
  if (typeof value === "bigint") {
    const n = Number(value)
    return Number.isFinite(n) ? n : fail(FLOAT8_RANGE, value)
  }
  if (typeof value === "string" && NUMERIC.test(value)) {
    const n = parseFloatText(value)
    if (n === Infinity || n === -Infinity) return /inf/i.test(value) ? n : fail(FLOAT8_RANGE, value)
    if (n === 0 && NONZERO_TEXT.test(value)) return fail(FLOAT8_RANGE, value)
    return n
  }
  return fail(FLOAT, value)
}

/**
 * `toFloat`, then checked against float4's range: a finite value that would
 * round to ±Infinity or a nonzero one that would round to 0 throws
 * `EncodeError` (PostgreSQL refuses such float4 input as out of range).
 */
export const toFloat4 = (value: unknown): number => {
  const n = toFloat(value)
  const f = Math.fround(n)
  if ((f === Infinity || f === -Infinity) && Number.isFinite(n)) return fail(FLOAT4_RANGE, value)
  if (f === 0 && n !== 0) return fail(FLOAT4_RANGE, value)
  return n
}

/** Parses float text as PostgreSQL prints it (`NaN`, `Infinity`, `-Infinity`, decimals). */
export const parseFloatText = (s: string): number => {
  const n = Number(s)
  if (!Number.isNaN(n) || /^\s*nan\s*$/i.test(s)) return n
  const t = s.trim().toLowerCase()
  return t === "inf" || t === "+inf" || t === "+infinity" ? Infinity : t === "-inf" || t === "-infinity" ? -Infinity : n
}

const formatFloat = (value: unknown): string => String(toFloat(value))
const formatFloat4 = (value: unknown): string => String(toFloat4(value))

/** Parses float4 text to the float32 value it stands for (as the binary form decodes). */
export const parseFloat4Text = (s: string): number => Math.fround(parseFloatText(s))

/**
 * float4: binary, decoded to the exact float32 value as a number (so 0.1
 * comes back as 0.10000000149011612; `Math.fround` gives the same value).
 * The text form (in text-format containers) decodes to the same value.
 */
export const float4 = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeFloat4, encodeFloat4, { parseText: parseFloat4Text, formatText: formatFloat4 })

/** Decodes a binary float4. */
export const decodeFloat4 = (buf: Buffer, start: number, end: number): number => (end - start === 4 ? buf.readFloatBE(start) : badWidth("float4", 4, start, end))

/** Encodes a float4. */
export const encodeFloat4 = (value: unknown): Uint8Array => {
  const out = Buffer.allocUnsafe(4)
  out.writeFloatBE(toFloat4(value), 0)
  return out
}

/** float8: binary, decoded to a number (NaN, ±Infinity included). */
export const float8 = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeFloat8, encodeFloat8, { parseText: parseFloatText, formatText: formatFloat })

/** Decodes a binary float8. */
export const decodeFloat8 = (buf: Buffer, start: number, end: number): number => (end - start === 8 ? buf.readDoubleBE(start) : badWidth("float8", 8, start, end))

/** Encodes a float8. */
export const encodeFloat8 = (value: unknown): Uint8Array => {
  const out = Buffer.allocUnsafe(8)
  out.writeDoubleBE(toFloat(value), 0)
  return out
}

// ---------------------------------------------------------------------------
// numeric
// ---------------------------------------------------------------------------

/** How numeric values are decoded. */
export type NumericMode = "string" | "number"

const NUMERIC_EXPECTED = "a numeric string, a number or a bigint"

/**
 * The text form of a numeric parameter: decimal strings (validated), numbers
 * (`NaN`, `Infinity` included), bigints.
 */
export const formatNumeric = (value: unknown): string => {
  if (typeof value === "string") return NUMERIC.test(value) ? value : fail(NUMERIC_EXPECTED, value)
  if (typeof value === "number") return String(value)
  if (typeof value === "bigint") return value.toString()
  return fail(NUMERIC_EXPECTED, value)
}

/** Decodes numeric text to a string (ASCII only: latin1 is the fast path). */
export const decodeNumericString = (buf: Buffer, start: number, end: number): string => latin1(buf, start, end)

/** Decodes numeric text to a number (rounded; `NaN`/`Infinity` kept). */
export const decodeNumericNumber = (buf: Buffer, start: number, end: number): number =>
  Number(latin1(buf, start, end))

/**
 * numeric: text format (the server's decimal text is the value; decoding it
 * is a slice), as a string (default, exact) or a number (rounded).
 */
export const numeric = (oid: number, name: string, mode: NumericMode): TypeCodec =>
  mode === "number"
    ? withDecoder(
      text(oid, name, Number, formatNumeric, {
        decodeBinary: (buf, start, end) => Number(decodeNumericBinary(buf, start, end)),
        encodeBinary: encodeNumericBinary
      }),
      decodeNumericNumber
    )
    : withDecoder(
      text(oid, name, undefined, formatNumeric, { decodeBinary: decodeNumericBinary, encodeBinary: encodeNumericBinary }),
      decodeNumericString
    )

const NUMERIC_NAN = 0xc000
const NUMERIC_PINF = 0xd000
const NUMERIC_NINF = 0xf000
const NUMERIC_NEG = 0x4000

/**
 * Decodes a binary numeric (base-10000 digits) to its decimal string, as the
 * server prints it (`dscale` fraction digits).
 */
export const decodeNumericBinary = (buf: Buffer, start: number, _end?: number): string => {
  const ndigits = buf.readUInt16BE(start)
  const weight = buf.readInt16BE(start + 2)
  const sign = buf.readUInt16BE(start + 4)
  const dscale = buf.readUInt16BE(start + 6)
  if (sign === NUMERIC_NAN) return "NaN"
  if (sign === NUMERIC_PINF) return "Infinity"
  if (sign === NUMERIC_NINF) return "-Infinity"
  const digits = start + 8
  let out = sign === NUMERIC_NEG ? "-" : ""
  if (weight < 0 || ndigits === 0) {
    out += "0"
  } else {
    for (let i = 0; i <= weight; i++) {
      const d = i < ndigits ? buf.readUInt16BE(digits + i * 2) : 0
      out += i === 0 ? String(d) : String(d).padStart(4, "0")
    }
  }
  if (dscale > 0) {
    let frac = ""
    for (let i = weight + 1; frac.length < dscale; i++) {
      const d = i >= 0 && i < ndigits ? buf.readUInt16BE(digits + i * 2) : 0
      frac += String(d).padStart(4, "0")
    }
    out += "." + frac.slice(0, dscale)
  }
  return out
}

/** Encodes a numeric parameter (decimal string, number or bigint) in binary. */
export const encodeNumericBinary = (value: unknown): Uint8Array => {
  const s = formatNumeric(value).trim()
  const lower = s.toLowerCase()
  const special = lower === "nan"
    ? NUMERIC_NAN
    : lower === "infinity" || lower === "inf" || lower === "+infinity" || lower === "+inf"
      ? NUMERIC_PINF
      : lower === "-infinity" || lower === "-inf"
        ? NUMERIC_NINF
        : -1
  if (special !== -1) {
    const out = Buffer.alloc(8)
    out.writeUInt16BE(special, 4)
    return out
  }
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(s)!
  const negative = m[1] === "-"
  let intPart = m[2]!
  let fracPart = m[3] ?? ""
  const exp = m[4] === undefined ? 0 : Number(m[4])
  if (exp > 0) {
    fracPart = fracPart.padEnd(exp, "0")
    intPart += fracPart.slice(0, exp)
    fracPart = fracPart.slice(exp)
  } else if (exp < 0) {
    intPart = intPart.padStart(-exp, "0")
    fracPart = intPart.slice(intPart.length + exp) + fracPart
    intPart = intPart.slice(0, intPart.length + exp)
  }
  const dscale = fracPart.length
  intPart = intPart.replace(/^0+/, "")
  // group into base-10000 digits aligned on the decimal point
  const intPadded = intPart.padStart(Math.ceil(intPart.length / 4) * 4, "0")
  const fracPadded = fracPart.padEnd(Math.ceil(fracPart.length / 4) * 4, "0")
  const groups: Array<number> = []
  for (let i = 0; i < intPadded.length; i += 4) groups.push(Number(intPadded.slice(i, i + 4)))
  for (let i = 0; i < fracPadded.length; i += 4) groups.push(Number(fracPadded.slice(i, i + 4)))
  let weight = intPadded.length / 4 - 1
  let first = 0
  while (first < groups.length && groups[first] === 0) first++, weight--
  let last = groups.length
  while (last > first && groups[last - 1] === 0) last--
  const ndigits = last - first
  if (ndigits === 0) weight = 0
  const out = Buffer.allocUnsafe(8 + ndigits * 2)
  out.writeUInt16BE(ndigits, 0)
  out.writeInt16BE(weight, 2)
  out.writeUInt16BE(ndigits !== 0 && negative ? NUMERIC_NEG : 0, 4)
  out.writeUInt16BE(dscale, 6)
  for (let i = 0; i < ndigits; i++) out.writeUInt16BE(groups[first + i]!, 8 + i * 2)
  return out
}
