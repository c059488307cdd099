/**
 * Byte-level helpers shared by the codecs: fast slices, 64-bit reads without
 * BigInt, a small growable writer for encoders, and value descriptions for
 * `EncodeError`.
 *
 * Internal: not exported by the package.
 */
import * as Raw from "../../protocol/buffer.js"
import { EncodeError } from "../Codec.js"

/** UTF-8 text of `buf[start..end)` without the encoding switch of `toString`. */
export const utf8 = Raw.utf8Slice

/** Latin-1 (one char per byte) text of `buf[start..end)`: for ASCII-only payloads. */
export const latin1 = Raw.latin1Slice

/** Lower-case hex of `buf[start..end)`. */
export const hex = Raw.hexSlice

/** 2^32 */
export const TWO_32 = 4294967296

/**
 * A signed 64-bit big-endian integer as a number (exact up to 2^53 in
 * magnitude, rounded beyond).
 */
export const readInt64Number = (buf: Buffer, pos: number): number =>
  buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4)

/** True when the 8 bytes at `pos` are int64 max (PostgreSQL's `+infinity`). */
export const isInt64Max = (buf: Buffer, pos: number): boolean =>
  buf.readInt32BE(pos) === 0x7fffffff && buf.readUInt32BE(pos + 4) === 0xffffffff

/** True when the 8 bytes at `pos` are int64 min (PostgreSQL's `-infinity`). */
export const isInt64Min = (buf: Buffer, pos: number): boolean =>
  buf.readInt32BE(pos) === -0x80000000 && buf.readUInt32BE(pos + 4) === 0

/**
 * `floor(int64 / 1000)` computed exactly from the two 32-bit halves (no
 * BigInt): microseconds to milliseconds over the whole int64 range.
 */
export const readInt64FloorDiv1000 = (buf: Buffer, pos: number): number => {
  // v = hi * 2^32 + lo = hi * 4294967000 + (hi * 296 + lo)
  const hi = buf.readInt32BE(pos)
  const lo = buf.readUInt32BE(pos + 4)
  const rest = hi * 296 + lo
  return hi * 4294967 + Math.floor(rest / 1000)
}

/** Writes a signed 64-bit integer given as a number (must be an integer within int64). */
export const writeInt64Number = (buf: Buffer, value: number, pos: number): void => {
  const hi = Math.floor(value / TWO_32)
  buf.writeInt32BE(hi, pos)
  buf.writeUInt32BE(value - hi * TWO_32, pos + 4)
}

/** A fresh buffer holding one big-endian int64. */
export const int64Bytes = (value: bigint): Buffer => {
  const out = Buffer.allocUnsafe(8)
  out.writeBigInt64BE(value, 0)
  return out
}

/**
 * A growable byte writer for encoders of containers (arrays, records,
 * ranges). Not used on the decode path.
 */
export class Writer {
  buf: Buffer
  pos = 0
  constructor(size = 64) {
    this.buf = Buffer.allocUnsafe(size)
  }
  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
      this.buf.copy(next, 0, 0, this.pos)
      this.buf = next
    }
  }
  /** Appends a signed 32-bit integer. */
  int32(v: number): void {
    this.ensure(4)
    this.buf.writeInt32BE(v, this.pos)
    this.pos += 4
  }
  /** Appends a signed 16-bit integer. */
  int16(v: number): void {
    this.ensure(2)
    this.buf.writeInt16BE(v, this.pos)
    this.pos += 2
  }
  /** Appends one byte. */
  uint8(v: number): void {
    this.ensure(1)
    this.buf[this.pos++] = v
  }
  /** Appends a float8. */
  float64(v: number): void {
    this.ensure(8)
    this.buf.writeDoubleBE(v, this.pos)
    this.pos += 8
  }
  /** Appends raw bytes. */
  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }
  /** Appends a string as UTF-8. */
  utf8(s: string): void {
    const n = Buffer.byteLength(s, "utf8")
    this.ensure(n)
    this.buf.write(s, this.pos, n, "utf8")
    this.pos += n
  }
  /** Appends an int32 length followed by the value (a string stands for its UTF-8 bytes). */
  lengthPrefixed(v: Uint8Array | string): void {
    if (typeof v === "string") {
      const n = Buffer.byteLength(v, "utf8")
      this.ensure(4 + n)
      this.buf.writeInt32BE(n, this.pos)
      this.buf.write(v, this.pos + 4, n, "utf8")
      this.pos += 4 + n
    } else {
      this.ensure(4 + v.length)
      this.buf.writeInt32BE(v.length, this.pos)
      this.buf.set(v, this.pos + 4)
      this.pos += 4 + v.length
    }
  }
  /** The bytes written so far. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

/**
 * A short description of a value for `EncodeError.given`. Never throws: a
 * value whose inspection throws (a Proxy with throwing traps, a revoked
 * Proxy, a throwing `constructor` getter) is described as such.
 */
export const describe = (value: unknown): string => {
  try {
    return describeUnsafe(value)
  } catch {
    return `${typeof value === "function" ? "a function" : "an object"} that could not be inspected (reading it threw)`
  }
}

const describeUnsafe = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`
    case "number":
    case "boolean":
      return `the ${typeof value} ${String(value)}`
    case "bigint":
      return `the bigint ${value}n`
    case "undefined":
      return "undefined"
    case "symbol":
      return "a symbol"
    case "function":
      return "a function"
    default:
      if (value === null) return "null"
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? "an invalid Date" : "a Date"
      if (value instanceof Uint8Array) return `a ${value.constructor.name} of ${value.length} bytes`
      if (Array.isArray(value)) return `an array of ${value.length} elements`
      return `an object (${(value as object).constructor?.name ?? "null prototype"})`
  }
}

/** Throws an `EncodeError` for `value`. */
export const fail = (expected: string, value: unknown): never => {
  throw new EncodeError(expected, describe(value))
}
