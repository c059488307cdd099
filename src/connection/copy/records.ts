/**
 * Encodes records (arrays of values, one per column) for COPY FROM STDIN:
 * PostgreSQL's binary COPY format when every column's codec has a binary
 * form, else the text format (tab-separated, `\N` for NULL, backslash
 * escapes) through the codecs' text form.
 *
 * Rows are written straight into a buffer that already holds the CopyData
 * message header; every ~64 KiB it goes to the socket as is (no copy) and
 * comes back to a small pool once written, so a COPY of any size allocates
 * a handful of buffers. The common built-in types (ints, floats, bool,
 * text, timestamps, jsonb) are written in place without allocating; every
 * other value goes through its codec.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../../Errors.js"
import { EncodeError, type Codec } from "../../types/Codec.js"
import { encodeTimestamp } from "../../types/datetime.js"
import { encodeBool, encodeFloat4, encodeFloat8, encodeInt2, encodeInt4, encodeInt8 } from "../../types/numbers.js"
import { TypeRegistry } from "../../types/Registry.js"
import { encodeString } from "../../types/text.js"
import { isWellFormed } from "../sqltext.js"
import * as Raw from "../../protocol/buffer.js"

/** The binary and text forms a registry codec may carry besides `encode`. */
interface CodecForms {
  readonly encodeBinary?: ((value: unknown) => string | Uint8Array) | undefined
  readonly formatText?: ((value: unknown) => string) | undefined
}

/** One target column: its name and codec. */
export interface RecordColumn {
  readonly name: string
  readonly codec: Codec
}

/** A flush is due once this many bytes are encoded. */
export const FLUSH_AT = 64 * 1024

/** `PGCOPY\n\377\r\n\0`, flags 0, header extension length 0. */
const BINARY_HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00,
  0, 0, 0, 0,
  0, 0, 0, 0
])

type FieldWriter = (e: RecordEncoder, value: unknown) => void

const binaryOf = (codec: Codec): ((value: unknown) => string | Uint8Array) | undefined => {
  const forms = codec as Codec & CodecForms
  return forms.encodeBinary ?? (codec.format === 1 ? codec.encode : undefined)
}

const textOf = (codec: Codec): ((value: unknown) => string) | undefined => {
  const forms = codec as Codec & CodecForms
  if (forms.formatText !== undefined) return forms.formatText
  if (codec.format === 0) {
    const encode = codec.encode
    return (value) => {
      const out = encode(value)
      return typeof out === "string" ? out : Buffer.from(out).toString("utf8")
    }
  }
  return undefined
}

/** True when every column can be sent in the binary COPY format. */
export const canUseBinary = (columns: ReadonlyArray<RecordColumn>): boolean =>
  columns.every((c) => binaryOf(c.codec) !== undefined)

/** The first column that has neither a binary nor a text form, if any. */
export const unencodable = (columns: ReadonlyArray<RecordColumn>): RecordColumn | undefined =>
  columns.find((c) => binaryOf(c.codec) === undefined && textOf(c.codec) === undefined)

/** A short description of a value; never throws (a hostile Proxy is described as such). */
const describe = (v: unknown): string => {
  try {
    if (v === null) return "null"
    if (typeof v === "string") return v.length > 40 ? `string "${v.slice(0, 40)}…"` : `string "${v}"`
    if (typeof v === "symbol") return "a symbol"
    if (typeof v === "object") return v.constructor?.name ? `${v.constructor.name} object` : "object"
    return `${typeof v} ${String(v)}`
  } catch {
    return `${typeof v} that could not be inspected (reading it threw)`
  }
}

const INT8_MIN = -(2n ** 63n)
const INT8_MAX = 2n ** 63n - 1n
const PG_EPOCH_MS = 946684800000
const TWO_32 = 4294967296

/** Bytes before the data: the CopyData message type and length. */
const MESSAGE_HEADER = 5

/** Encoding waits for the socket once this many buffers are in flight. */
const MAX_BUFFERS = 4

/** Encodes rows for one COPY, into ready-to-send CopyData messages. */
export class RecordEncoder {
  buf: Buffer = Buffer.allocUnsafe(FLUSH_AT * 2)
  pos = MESSAGE_HEADER
  /** index of the next row, over the whole COPY (for error messages) */
  row = 0
  private readonly writers: ReadonlyArray<FieldWriter>
  private readonly ncols: number
  /** buffers the socket is done with */
  private readonly free: Array<Buffer> = []
  /** buffers made so far (at most {@link MAX_BUFFERS} while they are in use) */
  private made = 1
  private freeWaiter: (() => void) | undefined = undefined

  constructor(
    readonly columns: ReadonlyArray<RecordColumn>,
    readonly binary: boolean,
    registry: TypeRegistry
  ) {
    this.ncols = columns.length
    this.writers = columns.map((c) => (binary ? binaryWriter(c.codec, registry) : textWriter(c.codec)))
    if (binary) {
      BINARY_HEADER.copy(this.buf, MESSAGE_HEADER)
      this.pos += BINARY_HEADER.length
    }
  }

  /** Bytes of data buffered (not counting the message header). */
  get pending(): number {
    return this.pos - MESSAGE_HEADER
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n + FLUSH_AT))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** A length-prefixed UTF-8 field. */
  utf8Field(s: string): void {
    this.ensure(4 + s.length * 3)
    const p = this.pos
    const n = writeUtf8(this.buf, s, p + 4)
    writeInt32(this.buf, n, p)
    this.pos = p + 4 + n
  }

  /** A length-prefixed bytes field. */
  bytesField(b: Uint8Array): void {
    this.ensure(4 + b.length)
    const p = this.pos
    writeInt32(this.buf, b.length, p)
    this.buf.set(b, p + 4)
    this.pos = p + 4 + b.length
  }

  /** Text-format field: escaped UTF-8, no length. */
  textField(s: string): void {
    const t = NEEDS_ESCAPE.test(s) ? s.replace(ESCAPES, escapeChar) : s
    this.ensure(t.length * 3)
    this.pos += Raw.utf8Write(this.buf, t, this.pos)
  }

  /**
   * Encodes `rows[from..]` until about {@link FLUSH_AT} bytes are buffered
   * or the rows run out; returns the index of the next row. Throws a
   * `DataError` naming the row and column of a value that does not fit.
   */
  encode(rows: ReadonlyArray<unknown>, from: number): number {
    const n = rows.length
    const ncols = this.ncols
    const writers = this.writers
    const binary = this.binary
    let i = from
    while (i < n) {
      const row = rows[i]
      if (!Array.isArray(row) || row.length !== ncols) throw this.shapeError(row)
      let c = 0
      try {
        if (binary) {
          this.ensure(2)
          this.buf[this.pos] = ncols >>> 8
          this.buf[this.pos + 1] = ncols & 0xff
          this.pos += 2
          for (; c < ncols; c++) {
            const v = row[c]
            if (v === null || v === undefined) {
              this.ensure(4)
              writeInt32(this.buf, -1, this.pos)
              this.pos += 4
            } else writers[c]!(this, v)
          }
        } else {
          for (; c < ncols; c++) {
            const v = row[c]
            if (c > 0) {
              this.ensure(1)
              this.buf[this.pos++] = 0x09
            }
            if (v === null || v === undefined) {
              this.ensure(2)
              this.buf[this.pos++] = 0x5c
              this.buf[this.pos++] = 0x4e
            } else writers[c]!(this, v)
          }
          this.ensure(1)
          this.buf[this.pos++] = 0x0a
        }
      } catch (e) {
        throw this.valueError(e, c, row[c])
      }
      this.row++
      i++
      if (this.pos >= FLUSH_AT + MESSAGE_HEADER) break
    }
    return i
  }

  /**
   * The rows encoded so far as one CopyData message (empty when there are
   * none). The buffer belongs to the caller until it passes it back to
   * `release` (once the socket wrote it).
   */
  take(): Buffer {
    const n = this.pos
    if (n === MESSAGE_HEADER) return this.buf.subarray(0, 0)
    const buf = this.buf
    buf[0] = 0x64
    writeInt32(buf, n - 1, 1)
    const next = this.free.pop()
    if (next !== undefined) this.buf = next
    else {
      this.buf = Buffer.allocUnsafe(FLUSH_AT * 2)
      this.made++
    }
    this.pos = MESSAGE_HEADER
    return buf.subarray(0, n)
  }

  /** True when `take` can hand out a message without making another buffer beyond the pool's size. */
  get canTake(): boolean {
    return this.free.length > 0 || this.made < MAX_BUFFERS
  }

  /** Calls `f` once a buffer comes back (see `release`); replaces an earlier waiter. */
  onFree(f: () => void): void {
    if (this.canTake) f()
    else this.freeWaiter = f
  }

  /** Takes back a buffer from `take` that the socket is done with. */
  release(message: Buffer): void {
    if (message.length > 0) {
      // the whole allocation (take() handed out a view of its start)
      this.free.push(Buffer.from(message.buffer, message.byteOffset, message.buffer.byteLength - message.byteOffset))
    }
    const w = this.freeWaiter
    this.freeWaiter = undefined
    if (w !== undefined) w()
  }

  /** Appends the binary trailer (field count -1); returns the last message. */
  end(): Buffer {
    if (this.binary) {
      this.ensure(2)
      this.buf[this.pos++] = 0xff
      this.buf[this.pos++] = 0xff
    }
    return this.take()
  }

  private shapeError(row: unknown): Errors.DataError {
    const names = this.columns.map((c) => c.name).join(", ")
    const what = Array.isArray(row) ? `${row.length} value${row.length === 1 ? "" : "s"}` : describe(row)
    return new Errors.DataError({
      message: `record ${this.row} has ${what}, expected an array of ${this.ncols} value${this.ncols === 1 ? "" : "s"} (${names}); pass one value per column, in the order of \`columns\``,
      row: this.row,
      expected: `an array of ${this.ncols} values`,
      given: what
    })
  }

  private valueError(e: unknown, c: number, value: unknown): Errors.DataError {
    const col = this.columns[c]!
    const expected = e instanceof EncodeError ? e.expected : col.codec.name
    const given = e instanceof EncodeError ? e.given : describe(value)
    const why = e instanceof EncodeError ? `expected ${expected}, got ${given}` : `${e instanceof Error ? e.message : String(e)} (got ${given})`
    return new Errors.DataError({
      message: `invalid value in record ${this.row}, column "${col.name}" (type ${col.codec.name}): ${why}; fix the record or the column type`,
      row: this.row,
      column: col.name,
      expected,
      given
    })
  }
}

const NEEDS_ESCAPE = /[\\\t\n\r]/
const ESCAPES = /[\\\t\n\r]/g
const escapeChar = (ch: string): string => (ch === "\\" ? "\\\\" : ch === "\t" ? "\\t" : ch === "\n" ? "\\n" : "\\r")

/**
 * Writes `s` as UTF-8 at `p`; returns the byte count. Short ASCII strings
 * are copied by a loop, cheaper than a call into `utf8Write`.
 */
const writeUtf8 = (buf: Buffer, s: string, p: number): number => {
  const len = s.length
  if (len <= 48) {
    let j = 0
    for (; j < len; j++) {
      const c = s.charCodeAt(j)
      if (c >= 0x80) break
      buf[p + j] = c
    }
    if (j === len) return len
  }
  return Raw.utf8Write(buf, s, p)
}

const f64 = new Float64Array(1)
const f64Bytes = new Uint8Array(f64.buffer)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Writes a float8 big-endian at `p`. */
const writeFloat64 = (buf: Buffer, v: number, p: number): void => {
  f64[0] = v
  if (LITTLE_ENDIAN) {
    buf[p] = f64Bytes[7]!
    buf[p + 1] = f64Bytes[6]!
    buf[p + 2] = f64Bytes[5]!
    buf[p + 3] = f64Bytes[4]!
    buf[p + 4] = f64Bytes[3]!
    buf[p + 5] = f64Bytes[2]!
    buf[p + 6] = f64Bytes[1]!
    buf[p + 7] = f64Bytes[0]!
  } else buf.set(f64Bytes, p)
}

const writeInt32 = (buf: Buffer, n: number, p: number): void => {
  buf[p] = n >>> 24
  buf[p + 1] = n >>> 16
  buf[p + 2] = n >>> 8
  buf[p + 3] = n
}

// ---------------------------------------------------------------------------
// field writers
// ---------------------------------------------------------------------------

const textWriter = (codec: Codec): FieldWriter => {
  const format = textOf(codec)
  if (format === undefined) throw new TypeError(`type ${codec.name} has no text form`)
  return (e, v) => e.textField(format(v))
}

const genericBinary = (encode: (value: unknown) => string | Uint8Array): FieldWriter => (e, v) => {
  const out = encode(v)
  if (typeof out === "string") e.utf8Field(out)
  else e.bytesField(out)
}

let reference: TypeRegistry | undefined

/** The built-in jsonb codec for these options, to recognise an untouched jsonb column. */
const builtinJsonb = (registry: TypeRegistry): Codec | undefined => {
  if (registry.options.json !== (reference ??= new TypeRegistry()).options.json) return undefined
  return new TypeRegistry(registry.options).get(3802)
}

/** The writer of one column: a fast path for common built-ins, the codec otherwise. */
const binaryWriter = (codec: Codec, registry: TypeRegistry): FieldWriter => {
  const encode = binaryOf(codec)!
  const generic = genericBinary(encode)
  switch (encode) {
    case encodeInt4:
      return (e, v) => {
        if (typeof v === "number" && (v | 0) === v) {
          e.ensure(8)
          const b = e.buf
          const p = e.pos
          writeInt32(b, 4, p)
          writeInt32(b, v, p + 4)
          e.pos = p + 8
        } else generic(e, v)
      }
    case encodeInt2:
      return (e, v) => {
        if (typeof v === "number" && (v | 0) === v && v >= -32768 && v <= 32767) {
          e.ensure(6)
          const b = e.buf
          const p = e.pos
          writeInt32(b, 2, p)
          b[p + 4] = v >>> 8
          b[p + 5] = v
          e.pos = p + 6
        } else generic(e, v)
      }
    case encodeInt8:
      return (e, v) => {
        if (typeof v === "number" && Number.isSafeInteger(v)) {
          e.ensure(12)
          const hi = Math.floor(v / TWO_32)
          writeInt32(e.buf, 8, e.pos)
          writeInt32(e.buf, hi, e.pos + 4)
          writeInt32(e.buf, v - hi * TWO_32, e.pos + 8)
          e.pos += 12
        } else if (typeof v === "bigint" && v >= INT8_MIN && v <= INT8_MAX) {
          e.ensure(12)
          writeInt32(e.buf, 8, e.pos)
          e.buf.writeBigInt64BE(v, e.pos + 4)
          e.pos += 12
        } else generic(e, v)
      }
    case encodeFloat8:
      return (e, v) => {
        if (typeof v === "number") {
          e.ensure(12)
          writeInt32(e.buf, 8, e.pos)
          writeFloat64(e.buf, v, e.pos + 4)
          e.pos += 12
        } else generic(e, v)
      }
    case encodeFloat4:
      return (e, v) => {
        if (typeof v === "number") {
          e.ensure(8)
          writeInt32(e.buf, 4, e.pos)
          e.buf.writeFloatBE(v, e.pos + 4)
          e.pos += 8
        } else generic(e, v)
      }
    case encodeBool:
      return (e, v) => {
        if (typeof v === "boolean") {
          e.ensure(5)
          writeInt32(e.buf, 1, e.pos)
          e.buf[e.pos + 4] = v ? 1 : 0
          e.pos += 5
        } else generic(e, v)
      }
    case encodeString:
      return (e, v) => {
        // a lone surrogate goes to the codec, which refuses it (UTF-8 cannot carry it)
        if (typeof v === "string" && isWellFormed(v)) e.utf8Field(v)
        else generic(e, v)
      }
    case encodeTimestamp:
      return (e, v) => {
        if (v instanceof Date) {
          const rel = v.getTime() - PG_EPOCH_MS
          // exact while |rel| * 1000 < 2^53
          if (rel > -9e12 && rel < 9e12) {
            const micros = rel * 1000
            const hi = Math.floor(micros / TWO_32)
            e.ensure(12)
            writeInt32(e.buf, 8, e.pos)
            writeInt32(e.buf, hi, e.pos + 4)
            writeInt32(e.buf, micros - hi * TWO_32, e.pos + 8)
            e.pos += 12
            return
          }
        }
        generic(e, v)
      }
    default: {
      const jsonb = codec.oid === 3802 ? builtinJsonb(registry) : undefined
      const formatText = (codec as Codec & CodecForms).formatText
      if (jsonb !== undefined && codec === jsonb && formatText !== undefined) {
        // version byte 1 + the JSON text, written in place
        return (e, v) => {
          const s = formatText(v)
          e.ensure(5 + s.length * 3)
          const p = e.pos
          const n = writeUtf8(e.buf, s, p + 5)
          writeInt32(e.buf, n + 1, p)
          e.buf[p + 4] = 1
          e.pos = p + 5 + n
        }
      }
      return generic
    }
  }
}
