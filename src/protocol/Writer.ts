/**
 * Frontend message writer: every message the client sends, written into one
 * growable buffer and handed to the socket once per batch.
 *
 * The writer works like a slab: `take()` returns a view of the bytes written
 * since the last `take()` and keeps writing after them, so a batch handed to
 * the socket is never copied and never overwritten. When the slab is full a
 * new one is allocated; the old one stays alive until the socket is done.
 *
 * @since 0.1.0
 */

import * as Raw from "./buffer.js"

const MIN_SLAB = 64 * 1024

/** A parameter value as it goes on the wire: text, binary bytes, or SQL NULL. */
export type WireValue = string | Uint8Array | null

/** The protocol's largest count of parameters (and formats) in one message: unsigned 16-bit. */
export const MAX_COUNT = 0xffff

/**
 * Throws a RangeError for a count that does not fit the protocol's uint16
 * (the session refuses such requests with an InterfaceError before writing,
 * so this is a last guard against silently wrapping 65536 to 0).
 */
const checkCount = (n: number, what: string): void => {
  if (!(n >= 0 && n <= MAX_COUNT)) throw new RangeError(`a message can carry at most ${MAX_COUNT} ${what}, got ${n}`)
}

/** @since 0.1.0 */
export class Writer {
  private buf: Buffer = Buffer.allocUnsafe(MIN_SLAB)
  /** start of the batch not yet taken */
  private start = 0
  /** end of the bytes written */
  private pos = 0

  /** Bytes written and not yet taken. */
  get pending(): number {
    return this.pos - this.start
  }

  /** The bytes written since the last call, ready for `socket.write`. */
  take(): Buffer {
    const out = this.buf.subarray(this.start, this.pos)
    this.start = this.pos
    if (this.buf.length - this.pos < 1024) {
      this.buf = Buffer.allocUnsafe(MIN_SLAB)
      this.start = this.pos = 0
    }
    return out
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const size = Math.max(MIN_SLAB, (this.pos - this.start + n) * 2)
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, this.start, this.pos)
    this.pos -= this.start
    this.start = 0
    this.buf = next
  }

  private byte(b: number): void {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  private int16(n: number): void {
    this.ensure(2)
    this.buf.writeInt16BE(n, this.pos)
    this.pos += 2
  }

  /** A count on the wire: unsigned 16-bit (checked by `checkCount` before the message begins). */
  private count16(n: number): void {
    this.ensure(2)
    this.buf.writeUInt16BE(n, this.pos)
    this.pos += 2
  }

  private int32(n: number): void {
    this.ensure(4)
    this.buf.writeInt32BE(n, this.pos)
    this.pos += 4
  }

  /** A NUL-terminated UTF-8 string. */
  private cstring(s: string): void {
    const max = s.length * 3 + 1
    this.ensure(max)
    this.pos += Raw.utf8Write(this.buf, s, this.pos)
    this.buf[this.pos++] = 0
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /**
   * Starts a message with a type byte; returns where its length goes,
   * relative to the batch start (`ensure` may move the batch to a new slab).
   */
  private begin(type: number): number {
    this.ensure(5)
    this.buf[this.pos] = type
    const at = this.pos + 1 - this.start
    this.pos += 5
    return at
  }

  /** Writes the length of the message begun at `at`. */
  private end(at: number): void {
    const abs = this.start + at
    this.buf.writeInt32BE(this.pos - abs, abs)
  }

  /** StartupMessage (protocol 3.0) with the given parameters. */
  startup(params: Readonly<Record<string, string>>): this {
    this.ensure(8)
    const at = this.pos - this.start
    this.pos += 4
    this.int32(196608)
    for (const key of Object.keys(params)) {
      this.cstring(key)
      this.cstring(params[key]!)
    }
    this.byte(0)
    this.buf.writeInt32BE(this.pos - this.start - at, this.start + at)
    return this
  }

  /** SSLRequest. */
  sslRequest(): this {
    this.int32(8)
    this.int32(80877103)
    return this
  }

  /** CancelRequest, sent on a fresh socket. */
  cancelRequest(processId: number, secretKey: number): this {
    this.int32(16)
    this.int32(80877102)
    this.int32(processId)
    this.int32(secretKey)
    return this
  }

  /** PasswordMessage (cleartext or md5). */
  password(password: string): this {
    const at = this.begin(0x70)
    this.cstring(password)
    this.end(at)
    return this
  }

  /** SASLInitialResponse. */
  saslInitialResponse(mechanism: string, data: string): this {
    const at = this.begin(0x70)
    this.cstring(mechanism)
    const bytes = Buffer.from(data, "utf8")
    this.int32(bytes.length)
    this.bytes(bytes)
    this.end(at)
    return this
  }

  /** SASLResponse. */
  saslResponse(data: string): this {
    const at = this.begin(0x70)
    this.bytes(Buffer.from(data, "utf8"))
    this.end(at)
    return this
  }

  /** Query (simple protocol). */
  query(sql: string): this {
    const at = this.begin(0x51)
    this.cstring(sql)
    this.end(at)
    return this
  }

  /** Parse: prepare `sql` as statement `name` ("" = unnamed). */
  parse(name: string, sql: string, paramTypes: ReadonlyArray<number> = []): this {
    checkCount(paramTypes.length, "parameter types")
    const at = this.begin(0x50)
    this.cstring(name)
    this.cstring(sql)
    this.count16(paramTypes.length)
    for (let i = 0; i < paramTypes.length; i++) this.int32(paramTypes[i]!)
    this.end(at)
    return this
  }

  /**
   * Bind `statement` to `portal`. `paramFormats` and `resultFormats` follow
   * the protocol: empty = all text, one code = all the same, else per column.
   */
  bind(
    portal: string,
    statement: string,
    paramFormats: ReadonlyArray<number>,
    values: ReadonlyArray<WireValue>,
    resultFormats: ReadonlyArray<number>
  ): this {
    // never wrap a count, and never leave half a message behind: check first
    checkCount(values.length, "parameters")
    checkCount(paramFormats.length, "parameter formats")
    checkCount(resultFormats.length, "result formats")
    const at = this.begin(0x42)
    this.cstring(portal)
    this.cstring(statement)
    this.count16(paramFormats.length)
    for (let i = 0; i < paramFormats.length; i++) this.int16(paramFormats[i]!)
    this.count16(values.length)
    for (let i = 0; i < values.length; i++) {
      const v = values[i]
      if (v === null || v === undefined) {
        this.int32(-1)
      } else if (typeof v === "string") {
        this.ensure(4 + v.length * 3)
        const lenAt = this.pos
        this.pos += 4
        const n = Raw.utf8Write(this.buf, v, this.pos)
        this.buf.writeInt32BE(n, lenAt)
        this.pos += n
      } else {
        this.int32(v.length)
        this.bytes(v)
      }
    }
    this.count16(resultFormats.length)
    for (let i = 0; i < resultFormats.length; i++) this.int16(resultFormats[i]!)
    this.end(at)
    return this
  }

  /** Describe a statement ("S") or portal ("P"). */
  describe(kind: "S" | "P", name: string): this {
    const at = this.begin(0x44)
    this.byte(kind.charCodeAt(0))
    this.cstring(name)
    this.end(at)
    return this
  }

  /** Execute `portal`, at most `maxRows` rows (0 = all). */
  execute(portal: string, maxRows = 0): this {
    const at = this.begin(0x45)
    this.cstring(portal)
    this.int32(maxRows)
    this.end(at)
    return this
  }

  /** Close a statement ("S") or portal ("P"). */
  close(kind: "S" | "P", name: string): this {
    const at = this.begin(0x43)
    this.byte(kind.charCodeAt(0))
    this.cstring(name)
    this.end(at)
    return this
  }

  /** Sync: ends an extended-protocol request; the server answers ReadyForQuery. */
  sync(): this {
    this.ensure(5)
    this.buf[this.pos] = 0x53
    this.buf.writeInt32BE(4, this.pos + 1)
    this.pos += 5
    return this
  }

  /**
   * Complete messages encoded earlier (by another Writer's `take`), copied
   * as they are: a request sent many times over encodes once.
   */
  raw(messages: Uint8Array): this {
    this.bytes(messages)
    return this
  }

  /** Flush: asks the server to send what it has without ending the request. */
  flush(): this {
    this.ensure(5)
    this.buf[this.pos] = 0x48
    this.buf.writeInt32BE(4, this.pos + 1)
    this.pos += 5
    return this
  }

  /** CopyData. */
  copyData(chunk: Uint8Array): this {
    this.ensure(5 + chunk.length)
    this.buf[this.pos] = 0x64
    this.buf.writeInt32BE(4 + chunk.length, this.pos + 1)
    this.pos += 5
    this.bytes(chunk)
    return this
  }

  /** CopyDone. */
  copyDone(): this {
    this.ensure(5)
    this.buf[this.pos] = 0x63
    this.buf.writeInt32BE(4, this.pos + 1)
    this.pos += 5
    return this
  }

  /** CopyFail with a reason the server puts in its error. */
  copyFail(reason: string): this {
    const at = this.begin(0x66)
    this.cstring(reason)
    this.end(at)
    return this
  }

  /** Terminate. */
  terminate(): this {
    this.ensure(5)
    this.buf[this.pos] = 0x58
    this.buf.writeInt32BE(4, this.pos + 1)
    this.pos += 5
    return this
  }
}
