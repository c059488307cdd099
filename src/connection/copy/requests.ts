/**
 * The two COPY requests of the session engine, in plain callbacks:
 *
 * - {@link CopyIn}: `COPY ... FROM STDIN`, an exclusive request (no other
 *   request is written until its ReadyForQuery, since any non-COPY message
 *   would abort the copy); data goes out with `writeExclusive`, paced by the
 *   socket's drain; it ends with CopyDone, or CopyFail (the server rolls the
 *   whole COPY back).
 * - {@link CopyOut}: `COPY ... TO STDOUT`, an ordinary pipelined request
 *   whose CopyData is coalesced into ~64 KiB chunks and pushed to a
 *   consumer; when the consumer is full the socket stops being read until it
 *   asks for more.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../../Errors.js"
import * as Reader from "../../protocol/Reader.js"
import { serverError, type Request, type SessionError } from "../request.js"
import type { Session } from "../Session.js"

const B = Reader.Backend

/** How long an aborted COPY may take to end before the connection is closed. */
export const GRACE_MS = 5000

/** CopyData messages out are at most this big (bigger chunks are split). */
const MAX_MESSAGE = 256 * 1024

/** COPY TO data is delivered in chunks of about this size. */
export const OUT_CHUNK = 64 * 1024

const graceError = (session: Session, what: string) =>
  new Errors.PostgresConnectionError({
    message: `${what} did not end within ${GRACE_MS} ms; the connection was closed so it is never reused in an unknown state`,
    host: session.target.host,
    port: session.target.port,
    reason: "timeout"
  })

// ---------------------------------------------------------------------------
// COPY FROM STDIN
// ---------------------------------------------------------------------------

/** States of a {@link CopyIn}. */
export const InState = {
  /** Query sent, waiting for CopyInResponse */
  Sent: 0,
  /** the server takes CopyData */
  Copying: 1,
  /** CopyDone or CopyFail sent, waiting for ReadyForQuery */
  Ending: 2,
  /** ReadyForQuery arrived (or the connection died) */
  Settled: 3
} as const

/** A state of a {@link CopyIn}. */
export type InState = (typeof InState)[keyof typeof InState]

/** `COPY ... FROM STDIN`: one exclusive request. Call `start()` once. */
export class CopyIn implements Request {
  readonly exclusive = true
  readonly simple = true
  abandoned = false
  onSettled: (() => void) | undefined = undefined
  state: InState = InState.Sent
  /** the first error: the server's, or the connection's */
  error: SessionError | undefined = undefined
  /** the command tag, `COPY 1000` */
  status = ""
  /** 0 text, 1 binary (from CopyInResponse) */
  format = 0
  columnFormats: ReadonlyArray<number> = []
  private ended: "done" | "fail" | undefined = undefined
  private pendingFail: string | undefined = undefined
  private readonly readyWaiters = new Set<() => void>()
  private readonly settleWaiters = new Set<() => void>()

  constructor(
    readonly session: Session,
    readonly sql: string
  ) {}

  /** Sends the COPY over the simple protocol. */
  start(): void {
    this.session.sendRequest(this, (w) => w.query(this.sql))
  }

  handle(type: number, buf: Buffer, start: number, end: number): void {
    switch (type) {
      case B.CopyInResponse: {
        const r = Reader.parseCopyResponse(buf, start, end)
        this.format = r.format
        this.columnFormats = r.columnFormats
        if (this.pendingFail !== undefined) {
          const reason = this.pendingFail
          this.state = InState.Ending
          this.ended = "fail"
          this.session.writeExclusive((w) => w.copyFail(reason))
        } else {
          this.state = InState.Copying
        }
        wakeAll(this.readyWaiters)
        return
      }
      case B.ErrorResponse:
        this.error ??= serverError(buf, start, end, this.sql)
        return
      case B.CommandComplete:
        this.status = Reader.parseCommandComplete(buf, start, end)
        return
      case B.CopyOutResponse:
      case B.CopyBothResponse:
        this.error ??= new Errors.InterfaceError({
          message: "the statement given to a COPY FROM method is not a COPY FROM STDIN; use copyFromTable/copyFromQuery for COPY TO"
        })
        return
      default:
        return
    }
  }

  done(): void {
    this.settle()
  }

  fail(error: SessionError): void {
    this.error ??= error
    this.settle()
  }

  private settle(): void {
    this.state = InState.Settled
    wakeAll(this.readyWaiters)
    wakeAll(this.settleWaiters)
  }

  /** True when the COPY completed: CopyDone sent and ReadyForQuery without an error. */
  get succeeded(): boolean {
    return this.state === InState.Settled && this.ended === "done" && this.error === undefined
  }

  /** Calls `f` once the server takes data (or the request settled). */
  onReady(f: () => void): void {
    if (this.state !== InState.Sent) f()
    else this.readyWaiters.add(f)
  }

  /** Calls `f` once settled (ReadyForQuery or a dead connection). */
  onSettle(f: () => void): void {
    if (this.state === InState.Settled) f()
    else this.settleWaiters.add(f)
  }

  /** Why no more data can be written now, or undefined while copying. */
  notWritable(): SessionError | undefined {
    if (this.state === InState.Copying) return undefined
    return (
      this.error ??
      new Errors.ProtocolError({ message: "the server ended the COPY before the client finished sending data" })
    )
  }

  /**
   * Writes chunks as CopyData messages, without copying them (the socket
   * keeps them until written: like `Writable.write`, a chunk must not be
   * changed after it is handed over). Returns true when the socket has room
   * for more, false when the caller should wait for {@link onWritable}, or
   * the error that ended the COPY.
   */
  write(chunks: ReadonlyArray<Uint8Array | string>): boolean | SessionError {
    const bad = this.notWritable()
    if (bad !== undefined) return bad
    const parts: Array<Uint8Array> = []
    for (let i = 0; i < chunks.length; i++) {
      const c: unknown = chunks[i]
      let bytes: Uint8Array
      if (typeof c === "string") bytes = Buffer.from(c, "utf8")
      else if (c instanceof Uint8Array) bytes = c
      else {
        return new Errors.InterfaceError({
          message: `the COPY source produced ${c === null ? "null" : typeof c === "object" ? `a ${c.constructor?.name ?? "object"}` : `a ${typeof c}`}; it must produce Uint8Array (Buffer) or string chunks`
        })
      }
      for (let at = 0; at < bytes.length; at += MAX_MESSAGE) {
        const piece = at === 0 && bytes.length <= MAX_MESSAGE ? bytes : bytes.subarray(at, at + MAX_MESSAGE)
        const header = Buffer.allocUnsafe(5)
        header[0] = 0x64
        header.writeInt32BE(piece.length + 4, 1)
        parts.push(header, piece)
      }
    }
    if (parts.length === 0) return true
    return this.session.writeExclusiveBuffers(parts)
  }

  /**
   * Writes one complete CopyData message as is (no copy); `written` runs
   * once the socket is done with it. Same results as {@link write}.
   */
  writeMessage(message: Uint8Array, written: () => void): boolean | SessionError {
    const bad = this.notWritable()
    if (bad !== undefined) return bad
    if (message.length === 0) return true
    return this.session.writeExclusiveBuffers([message], written)
  }

  /** Calls `f` once the socket drained, or the request settled. */
  onWritable(f: () => void): void {
    let called = false
    const once = () => {
      if (called) return
      called = true
      this.settleWaiters.delete(once)
      f()
    }
    if (this.state === InState.Settled) {
      once()
      return
    }
    this.settleWaiters.add(once)
    this.session.onDrain(once)
  }

  /** Sends CopyDone: the data is complete. */
  finish(): void {
    if (this.state !== InState.Copying) return
    this.state = InState.Ending
    this.ended = "done"
    this.session.writeExclusive((w) => w.copyDone())
  }

  /**
   * Ends the COPY without committing anything: CopyFail while copying (or as
   * soon as the server starts). Once CopyDone is sent there is nothing to
   * take back: it waits for the server (no cancel request, which could land
   * on the requests held behind the COPY). `settled` runs when the server is
   * done; after {@link GRACE_MS} the connection is closed instead.
   */
  abort(reason: string, settled: () => void): void {
    switch (this.state) {
      case InState.Settled:
        settled()
        return
      case InState.Sent:
        this.pendingFail = reason
        break
      case InState.Copying:
        this.state = InState.Ending
        this.ended = "fail"
        this.session.writeExclusive((w) => w.copyFail(reason))
        break
      case InState.Ending:
        break
    }
    const timer = setTimeout(() => this.session.destroy(graceError(this.session, "an aborted COPY FROM STDIN")), GRACE_MS)
    this.onSettle(() => {
      clearTimeout(timer)
      settled()
    })
  }
}

const wakeAll = (set: Set<() => void>): void => {
  if (set.size === 0) return
  const fs = [...set]
  set.clear()
  for (const f of fs) f()
}

// ---------------------------------------------------------------------------
// COPY TO STDOUT
// ---------------------------------------------------------------------------

/** `COPY ... TO STDOUT`: one pipelined request. Set `push`/`onEnd`, then `start()`. */
export class CopyOut implements Request {
  readonly simple = true
  abandoned = false
  onSettled: (() => void) | undefined = undefined
  /** settled: no more data will be pushed */
  finished = false
  error: SessionError | undefined = undefined
  status = ""
  /** 0 text, 1 binary (from CopyOutResponse) */
  format = 0
  /**
   * Receives the data in chunks of about {@link OUT_CHUNK} bytes (fresh
   * buffers, the consumer may keep them). Returning false stops reading the
   * socket until `resume()`.
   */
  push: (chunk: Uint8Array) => boolean = () => true
  /** Called once, when the request settled (see `failure()`, `status`). */
  onEnd: () => void = () => {}
  private pieces: Array<Buffer> = []
  private piecesBytes = 0
  private flushScheduled = false
  private paused = false
  private discard = false
  private timer: NodeJS.Timeout | undefined = undefined
  private timedOutMs = 0
  private ended = false
  private abandoning = false
  private abandonWaiters: Array<() => void> = []

  constructor(
    readonly session: Session,
    readonly sql: string,
    /** cancel on the server and fail with `CommandTimeoutError` after this long (0: never) */
    readonly timeoutMs: number
  ) {}

  /** Sends the COPY over the simple protocol and starts the timeout. */
  start(): void {
    this.session.sendRequest(this, (w) => w.query(this.sql))
    if (this.timeoutMs > 0 && !this.finished) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.timedOutMs = this.timeoutMs
        this.abandonNow(undefined)
      }, this.timeoutMs)
    }
  }

  handle(type: number, buf: Buffer, start: number, end: number): void {
    if (type === B.CopyData) {
      if (this.discard) return
      this.pieces.push(buf.subarray(start, end))
      this.piecesBytes += end - start
      if (this.piecesBytes >= OUT_CHUNK) this.flush()
      else if (!this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(this.flushTick)
      }
      return
    }
    switch (type) {
      case B.CopyOutResponse:
        this.format = buf[start]!
        return
      case B.CopyDone:
        this.flush()
        return
      case B.CommandComplete:
        this.status = Reader.parseCommandComplete(buf, start, end)
        return
      case B.ErrorResponse:
        this.error ??= serverError(buf, start, end, this.sql)
        return
      case B.CopyInResponse:
        // not a COPY TO (a script smuggled into the query): refuse the copy-in so the connection stays usable
        this.error ??= new Errors.InterfaceError({
          message: "the query given to copyFromQuery started a COPY FROM STDIN; pass a single SELECT/VALUES/TABLE query"
        })
        this.session.writeExclusive((w) => w.copyFail("COPY FROM STDIN is not allowed in copyFromQuery"))
        return
      default:
        return
    }
  }

  private flushTick = (): void => {
    this.flushScheduled = false
    this.flush()
  }

  private flush(): void {
    if (this.piecesBytes === 0 || this.discard) return
    const pieces = this.pieces
    const chunk = Buffer.concat(pieces, this.piecesBytes)
    this.pieces = []
    this.piecesBytes = 0
    if (!this.push(chunk) && !this.paused && !this.finished) {
      this.paused = true
      this.session.pauseReading()
    }
  }

  /** The consumer has room again: read the socket. */
  resume(): void {
    if (this.paused) {
      this.paused = false
      this.session.resumeReading()
    }
  }

  done(): void {
    this.flush()
    this.end()
  }

  fail(error: SessionError): void {
    this.error ??= error
    this.flush()
    this.end()
  }

  private end(): void {
    if (this.ended) return
    this.ended = true
    this.finished = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.resume()
    this.onEnd()
  }

  /** The error the COPY ended with (a timeout becomes `CommandTimeoutError`), or undefined. */
  failure(): SessionError | Errors.CommandTimeoutError | undefined {
    if (this.timedOutMs > 0) {
      return new Errors.CommandTimeoutError({
        message: `the COPY did not finish within ${this.timedOutMs} ms and was cancelled; raise the timeout or copy less`,
        timeoutMs: this.timedOutMs,
        query: this.sql
      })
    }
    return this.error
  }

  /**
   * The consumer went away (or the timeout fired): drop the rest of the
   * data, cancel the COPY on the server (the engine's `abandon`: at once
   * when it is running, else when it starts) and call `settled` when its
   * ReadyForQuery arrived; `onEnd` runs after it. The connection is closed
   * if that takes longer than {@link GRACE_MS}.
   */
  abandonNow(settled: (() => void) | undefined): void {
    if (this.finished) {
      settled?.()
      return
    }
    if (settled !== undefined) this.abandonWaiters.push(settled)
    if (this.abandoning) return
    this.abandoning = true
    // drop what is still coming so the server reaches the cancel even if the consumer stalls
    this.discard = true
    this.pieces = []
    this.piecesBytes = 0
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.resume()
    this.session.abandon(this, () => {
      this.finished = true
      const waiters = this.abandonWaiters
      this.abandonWaiters = []
      for (const w of waiters) w()
      this.end()
    }, GRACE_MS)
  }
}
