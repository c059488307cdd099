/**
 * Incremental backend message reader.
 *
 * Socket chunks go in, whole messages come out as `(type, buf, start, end)`
 * views into the chunk: a message that lies inside one chunk is never copied.
 * Only a message split across chunks is assembled, into a buffer of exactly
 * its size, so a large row is copied once whatever the chunking.
 *
 * @since 0.1.0
 */
import * as Raw from "./buffer.js"

/** Receives each complete message: its type byte and its body `buf[start..end)`. */
export type MessageHandler = (type: number, buf: Buffer, start: number, end: number) => void

/** The stream is not the PostgreSQL protocol (bad length). */
export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message)
    this.name = "ProtocolViolation"
  }
}

/** The largest message accepted: PostgreSQL's own limit on a field is 1 GB. */
const MAX_MESSAGE = 0x40000000 + 1024

/** A partial message up to this size gets its whole buffer at once; a larger one grows as its bytes arrive. */
const PREALLOCATE_MAX = 1024 * 1024

/** @since 0.1.0 */
export class Reader {
  /** a partial message: its header, or its whole buffer while it fills */
  private partial: Buffer | null = null
  private partialFilled = 0
  /** the whole length of the partial message (type byte included); its buffer may still be smaller */
  private partialSize = 0

  constructor(private readonly onMessage: MessageHandler) {}

  /** Feeds one socket chunk; calls the handler for every message it completes. */
  feed(chunk: Buffer): void {
    let off = 0
    const len = chunk.length
    if (this.partial !== null) {
      off = this.fillPartial(chunk)
      if (off < 0) return
    }
    while (off + 5 <= len) {
      const type = chunk[off]!
      const size = chunk.readInt32BE(off + 1)
      if (size < 4 || size > MAX_MESSAGE) throw new ProtocolViolation(`invalid message length ${size} for message type 0x${type.toString(16)}`)
      const end = off + 1 + size
      if (end > len) break
      this.onMessage(type, chunk, off + 5, end)
      off = end
    }
    if (off < len) this.startPartial(chunk, off)
  }

  private startPartial(chunk: Buffer, off: number): void {
    const rest = chunk.length - off
    if (rest < 5) {
      // not even a header: keep the bytes in a small header buffer
      const header = Buffer.allocUnsafe(5)
      chunk.copy(header, 0, off)
      this.partial = header
      this.partialSize = 5
      this.partialFilled = rest
      return
    }
    const size = chunk.readInt32BE(off + 1)
    if (size < 4 || size > MAX_MESSAGE) throw new ProtocolViolation(`invalid message length ${size} for message type 0x${chunk[off]!.toString(16)}`)
    const whole = Buffer.allocUnsafe(initialCapacity(1 + size, rest))
    chunk.copy(whole, 0, off)
    this.partial = whole
    this.partialSize = 1 + size
    this.partialFilled = rest
  }

  /** Completes the partial message from `chunk`; returns where the chunk's own messages start, or -1. */
  private fillPartial(chunk: Buffer): number {
    let partial = this.partial!
    let off = 0
    if (this.partialSize === 5 && this.partialFilled < 5) {
      const need = 5 - this.partialFilled
      const n = Math.min(need, chunk.length)
      chunk.copy(partial, this.partialFilled, 0, n)
      this.partialFilled += n
      off = n
      if (this.partialFilled < 5) return -1
      const size = partial.readInt32BE(1)
      if (size < 4 || size > MAX_MESSAGE) throw new ProtocolViolation(`invalid message length ${size} for message type 0x${partial[0]!.toString(16)}`)
      const whole = Buffer.allocUnsafe(initialCapacity(1 + size, 5 + chunk.length - off))
      partial.copy(whole, 0, 0, 5)
      partial = this.partial = whole
      this.partialSize = 1 + size
    }
    const need = this.partialSize - this.partialFilled
    const available = chunk.length - off
    const take = Math.min(need, available)
    if (this.partialFilled + take > partial.length) partial = this.grow(this.partialFilled + take)
    chunk.copy(partial, this.partialFilled, off, off + take)
    this.partialFilled += take
    if (available < need) return -1
    this.partial = null
    this.partialFilled = 0
    this.partialSize = 0
    this.onMessage(partial[0]!, partial, 5, partial.length)
    return off + need
  }

  /** Grows the buffer of a large partial message to hold at least `min` bytes (doubling, capped at its size). */
  private grow(min: number): Buffer {
    const old = this.partial!
    const bigger = Buffer.allocUnsafe(Math.min(this.partialSize, Math.max(min, old.length * 2)))
    old.copy(bigger, 0, 0, this.partialFilled)
    this.partial = bigger
    return bigger
  }
}

/**
 * The first buffer of a partial message of `total` bytes when `have` have
 * arrived: the whole message when it is small (one copy, the common case);
 * for a large one only what has arrived, doubling as more comes, so a
 * declared length the peer never sends (a hostile or broken server saying
 * "1 GB follows") costs nothing until the bytes are really there.
 */
const initialCapacity = (total: number, have: number): number =>
  total <= PREALLOCATE_MAX ? total : Math.min(total, Math.max(have, PREALLOCATE_MAX))

// ---------------------------------------------------------------------------
// Backend message types
// ---------------------------------------------------------------------------

/** Backend message type bytes. */
export const Backend = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54 // T
} as const

/** 1 at the type bytes of {@link Backend}. */
const KNOWN_BACKEND = (() => {
  const t = new Uint8Array(256)
  for (const code of Object.values(Backend)) t[code] = 1
  return t
})()

/** Whether `type` is a backend message type of protocol 3.0: anything else is a protocol violation. */
export const isBackendType = (type: number): boolean => KNOWN_BACKEND[type] === 1

// ---------------------------------------------------------------------------
// Message body parsers (pure; each reads one body `buf[start..end)`)
// ---------------------------------------------------------------------------

/** Reads a NUL-terminated string at `at`; returns it and the offset after the NUL. */
const cstringAt = (buf: Buffer, at: number, end: number): [string, number] => {
  const nul = buf.indexOf(0, at)
  if (nul < 0 || nul >= end) throw new ProtocolViolation("unterminated string in message")
  return [Raw.utf8Slice(buf, at, nul), nul + 1]
}

/** One column of a RowDescription. */
export interface FieldDescription {
  readonly name: string
  readonly tableOid: number
  readonly columnAttr: number
  readonly typeOid: number
  readonly typeSize: number
  readonly typeModifier: number
  readonly format: number
}

/** RowDescription body → its fields. */
export const parseRowDescription = (buf: Buffer, start: number, end: number): Array<FieldDescription> => {
  // counts are unsigned 16-bit on the wire (up to 65535)
  const count = buf.readUInt16BE(start)
  const fields = new Array<FieldDescription>(count)
  let at = start + 2
  for (let i = 0; i < count; i++) {
    const [name, next] = cstringAt(buf, at, end)
    at = next
    if (at + 18 > end) throw new ProtocolViolation("truncated RowDescription")
    fields[i] = {
      name,
      tableOid: buf.readUInt32BE(at),
      columnAttr: buf.readInt16BE(at + 4),
      typeOid: buf.readUInt32BE(at + 6),
      typeSize: buf.readInt16BE(at + 10),
      typeModifier: buf.readInt32BE(at + 12),
      format: buf.readInt16BE(at + 16)
    }
    at += 18
  }
  return fields
}

/** ParameterDescription body → parameter type OIDs. */
export const parseParameterDescription = (buf: Buffer, start: number, end: number): Array<number> => {
  // unsigned: a statement may have up to 65535 parameters
  const count = buf.readUInt16BE(start)
  if (start + 2 + count * 4 > end) throw new ProtocolViolation("truncated ParameterDescription")
  const oids = new Array<number>(count)
  for (let i = 0; i < count; i++) oids[i] = buf.readUInt32BE(start + 2 + i * 4)
  return oids
}

/** ErrorResponse / NoticeResponse body → field code → value. */
export const parseErrorFields = (buf: Buffer, start: number, end: number): Map<string, string> => {
  const fields = new Map<string, string>()
  let at = start
  while (at < end && buf[at] !== 0) {
    const code = String.fromCharCode(buf[at]!)
    const [value, next] = cstringAt(buf, at + 1, end)
    fields.set(code, value)
    at = next
  }
  return fields
}

/** CommandComplete body → the command tag ("INSERT 0 1"). */
export const parseCommandComplete = (buf: Buffer, start: number, end: number): string =>
  cstringAt(buf, start, end)[0]

/** ParameterStatus body → [name, value]. */
export const parseParameterStatus = (buf: Buffer, start: number, end: number): [string, string] => {
  const [name, next] = cstringAt(buf, start, end)
  const [value] = cstringAt(buf, next, end)
  return [name, value]
}

/** NotificationResponse body. */
export interface Notification {
  readonly processId: number
  readonly channel: string
  readonly payload: string
}

/** NotificationResponse body → the notification. */
export const parseNotification = (buf: Buffer, start: number, end: number): Notification => {
  const processId = buf.readInt32BE(start)
  const [channel, next] = cstringAt(buf, start + 4, end)
  const [payload] = cstringAt(buf, next, end)
  return { processId, channel, payload }
}

/** CopyInResponse / CopyOutResponse body. */
export interface CopyResponse {
  /** 0 text, 1 binary */
  readonly format: number
  readonly columnFormats: ReadonlyArray<number>
}

/** CopyIn/Out/BothResponse body → overall and per-column formats. */
export const parseCopyResponse = (buf: Buffer, start: number, end: number): CopyResponse => {
  const format = buf[start]!
  const count = buf.readUInt16BE(start + 1)
  if (start + 3 + count * 2 > end) throw new ProtocolViolation("truncated CopyResponse")
  const columnFormats = new Array<number>(count)
  for (let i = 0; i < count; i++) columnFormats[i] = buf.readInt16BE(start + 3 + i * 2)
  return { format, columnFormats }
}

/** Authentication request, by its code. */
export type AuthRequest =
  | { readonly kind: "ok" }
  | { readonly kind: "cleartext" }
  | { readonly kind: "md5"; readonly salt: Buffer }
  | { readonly kind: "sasl"; readonly mechanisms: ReadonlyArray<string> }
  | { readonly kind: "sasl-continue"; readonly data: string }
  | { readonly kind: "sasl-final"; readonly data: string }
  | { readonly kind: "unsupported"; readonly code: number }

/** Authentication body → the request. */
export const parseAuthentication = (buf: Buffer, start: number, end: number): AuthRequest => {
  const code = buf.readInt32BE(start)
  switch (code) {
    case 0:
      return { kind: "ok" }
    case 3:
      return { kind: "cleartext" }
    case 5:
      return { kind: "md5", salt: Buffer.from(buf.subarray(start + 4, start + 8)) }
    case 10: {
      const mechanisms: Array<string> = []
      let at = start + 4
      while (at < end && buf[at] !== 0) {
        const [m, next] = cstringAt(buf, at, end)
        mechanisms.push(m)
        at = next
      }
      return { kind: "sasl", mechanisms }
    }
    case 11:
      return { kind: "sasl-continue", data: Raw.utf8Slice(buf, start + 4, end) }
    case 12:
      return { kind: "sasl-final", data: Raw.utf8Slice(buf, start + 4, end) }
    default:
      return { kind: "unsupported", code }
  }
}

/** BackendKeyData body → process id and secret key. */
export const parseBackendKeyData = (buf: Buffer, start: number): { processId: number; secretKey: number } => ({
  processId: buf.readInt32BE(start),
  secretKey: buf.readInt32BE(start + 4)
})
