/**
 * The wire of one server session, in plain callbacks: socket events, the
 * dispatch of backend messages, the pipelined request queue, writes and
 * flushes (lazy writes share one timer), close/destroy, and when to send a
 * cancel. Nothing here allocates an Effect.
 *
 * Every request written to the socket ends with exactly one Sync (or is a
 * simple Query), so the server answers each with exactly one ReadyForQuery:
 * replies are matched to requests by order alone.
 *
 * Internal: not exported by the package.
 */
import * as net from "node:net"
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import { Writer } from "../protocol/Writer.js"
import { checkStatementText, copyRefused } from "./sqltext.js"
import * as Scram from "../protocol/scram.js"
import * as PgRecord from "../Record.js"
import { TypeRegistry } from "../types/Registry.js"
import * as Cancel from "./cancel.js"
import { connectionError, describeAddress } from "./socket.js"
import type { ResolvedConnectOptions } from "./options.js"
import type { LoggedQuery } from "./query.js"
import { errorFromFields, type Callback, type NoticeListener, type NotificationListener, type Request, type SessionError, type TerminationListener } from "./request.js"
import * as TxStatus from "./txStatus.js"


export const B = Reader.Backend

/** Settings of a session beyond where to connect. */
export interface SessionOptions {
  readonly statementCacheSize: number
  readonly maxCacheableStatementSize: number
  /** ms; 0 = forever */
  readonly maxCachedStatementLifetime: number
  readonly recordFactory: PgRecord.RecordFactory<unknown> | undefined
  readonly registry: TypeRegistry
  /**
   * false: never keep a named statement on the server between requests; each
   * query runs the unnamed statement, Parse to Execute under one Sync (for
   * poolers such as PgBouncer in transaction mode). Implied by a
   * `statementCacheSize` of 0. Default true.
   */
  readonly prepare?: boolean
}

/** Sessions with lazily written messages waiting for the shared flush timer. */
const lazySessions = new Set<Wire>()

let lazyTimer: ReturnType<typeof setTimeout> | undefined = undefined

const flushLazySessions = (): void => {
  lazyTimer = undefined
  const sessions = [...lazySessions]
  lazySessions.clear()
  Wire.flushLazy(sessions)
}

/** Backend message types of protocol 3.0: anything else is a protocol violation. */
const KNOWN_BACKEND = (() => {
  const t = new Uint8Array(256)
  for (const code of Object.values(B)) t[code] = 1
  return t
})()

/** Functions whose effect outlives the query: a pool must reset after them. */
export const SESSION_FUNCTIONS = /pg_advisory_(?:xact_)?lock|pg_advisory_lock|set_config|pg_try_advisory_lock|dblink_connect/i

/** Command tags that change session state (cheap: most tags fail the first test). */
export const changesSession = (tag: string): boolean => {
  switch (tag.charCodeAt(0)) {
    case 0x53: // S
      return tag === "SET"
    case 0x52: // R
      return tag === "RESET"
    case 0x4c: // L
      return tag === "LISTEN"
    case 0x55: // U
      return tag === "UNLISTEN"
    case 0x44: // D
      return tag === "DECLARE CURSOR" || tag === "DEALLOCATE" || tag === "DEALLOCATE ALL"
    case 0x50: // P
      return tag === "PREPARE"
    default:
      return false
  }
}

/** CopyBothResponse (replication) outside a replication connection: nothing can answer it. */
export const copyBothError = (): SessionError =>
  new Errors.ProtocolError({
    message: "the server started a COPY BOTH (replication) exchange, which effect-pg does not support; the connection was closed"
  })

export const safeCall = (f: () => void): void => {
  try {
    f()
  } catch (e) {
    // a user callback threw: report it, never let it break the protocol state
    queueMicrotask(() => {
      throw e
    })
  }
}

/**
 * The wire of one session: socket events, message dispatch, the pipelined
 * request queue, writes and flushes, close/destroy and cancellation. The
 * statement cache and execution are layered on it (`StatementCache`, then
 * `Session`).
 */
export class Wire {
  readonly parameters = new Map<string, string>()
  processId = 0
  /** @internal set by the startup (BackendKeyData) */
  secretKey = 0
  /** I idle, T in transaction, E failed transaction */
  txStatus = TxStatus.IDLE
  closed = false
  protected closeError: SessionError | undefined
  protected readonly queue: Array<Request> = []
  protected queueHead = 0
  /** @internal */
  readonly writer = new Writer()
  protected flushScheduled = false
  /** requests waiting for an exclusive request to finish before they are written */
  protected held: Array<() => void> | undefined
  protected readonly reader: Reader.Reader
  readonly noticeListeners = new Set<NoticeListener>()
  readonly notificationListeners = new Set<NotificationListener>()
  readonly terminationListeners = new Set<TerminationListener>()
  /** where this session is connected, for messages and cancel requests */
  readonly target: ResolvedConnectOptions["addresses"][number]
  /**
   * How the server authenticated us: `"none"` (trust, peer, cert: no
   * password asked), `"password"` (cleartext), `"md5"`, `"SCRAM-SHA-256"` or
   * `"SCRAM-SHA-256-PLUS"` (with tls-server-end-point channel binding).
   */
  authMethod: "none" | "password" | "md5" | Scram.ScramMechanism | undefined = undefined
  protected cancelInFlight = false
  /** close() sent Terminate: the server closing the socket is expected */
  protected closingGracefully = false
  /** the request a CancelRequest was sent for, until its ReadyForQuery */
  protected cancelTarget: Request | undefined
  /** finishes the cancel in flight once both its socket and its target are done */
  protected cancelSettle: (() => void) | undefined
  /**
   * Set when a command may have changed session state that a pool's reset
   * must clear (SET, LISTEN, cursors, advisory locks); cleared by the reset.
   */
  stateDirty = false
  /**
   * When the server last finished a request (or was handed one while idle),
   * from performance.now(): a pool reads it to tell a pipeline that moves
   * from one stuck behind a slow query.
   */
  lastProgressAt = 0
  /** queries run (Execute batches and simple queries): the pool's maxQueries */
  queryCount = 0
  /** a query was abandoned (interrupted or timed out): a pool discards the session */
  interrupted = false
  /** the last command tag received; "" again after each ReadyForQuery (query loggers read it) */
  lastStatus = ""
  /** query loggers (`Connection.addQueryLogger`); `undefined` when none, so the hot path pays one check */
  queryLoggers: Set<(entry: LoggedQuery) => void> | undefined = undefined
  /** keep each NoticeResponse on the request that caused it (`Request.notices`), for Effect's logger */
  collectNotices = false
  /** set by `setRegistry` (reloadSchemaState): replaces `settings.registry` */
  protected registryOverride: TypeRegistry | undefined = undefined

  /** @internal use `Startup.connect` */
  constructor(
    /** @internal */
    public socket: net.Socket,
    readonly options: ResolvedConnectOptions,
    readonly settings: SessionOptions,
    address: ResolvedConnectOptions["addresses"][number]
  ) {
    this.target = address
    this.reader = new Reader.Reader((type, buf, start, end) => this.onMessage(type, buf, start, end))
    this.attach(socket)
  }

  /** Server version as a number (150004 for 15.4). */
  get serverVersionNum(): number {
    const v = this.parameters.get("server_version") ?? "0"
    const m = /^(\d+)(?:\.(\d+))?/.exec(v)
    if (!m) return 0
    const major = Number(m[1])
    return major >= 10 ? major * 10000 + Number(m[2] ?? 0) : major * 10000 + Number(m[2] ?? 0) * 100
  }

  get registry(): TypeRegistry {
    return this.registryOverride ?? this.settings.registry
  }

  /** Replaces the type registry (forgets introspected types); cached statements keep their codecs until cleared. */
  setRegistry(registry: TypeRegistry): void {
    this.registryOverride = registry
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.queue.length - this.queueHead
  }

  protected attach(socket: net.Socket): void {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on("data", this.onData)
    socket.on("error", this.onSocketError)
    socket.on("close", this.onSocketClose)
  }

  protected onData = (chunk: Buffer): void => {
    try {
      this.reader.feed(chunk)
    } catch (e) {
      this.destroy(
        new Errors.ProtocolError({
          message: `the server sent something that is not the PostgreSQL protocol (${e instanceof Error ? e.message : String(e)}); the connection was closed`,
          cause: e
        })
      )
    }
  }

  protected onSocketError = (err: Error & { code?: string }): void => {
    this.destroy(connectionError(this.target, err, "the connection to the server failed"))
  }

  protected onSocketClose = (): void => {
    if (this.closingGracefully) {
      this.destroy()
      return
    }
    if (!this.closed) {
      this.destroy(
        new Errors.PostgresConnectionError({
          message: `the server at ${describeAddress(this.target)} closed the connection unexpectedly${this.inFlight > 0 ? " while a query was running" : ""}; the connection is gone, open a new one`,
          host: this.target.host,
          port: this.target.port,
          reason: "reset"
        })
      )
    }
  }

  // -------------------------------------------------------------------------
  // The queue
  // -------------------------------------------------------------------------

  /** @internal */
  enqueue(request: Request): void {
    this.queue.push(request)
  }

  protected get head(): Request | undefined {
    return this.queue[this.queueHead]
  }

  protected shift(): Request | undefined {
    const r = this.queue[this.queueHead]
    if (r === undefined) return undefined
    this.queue[this.queueHead++] = undefined as unknown as Request
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead)
      this.queueHead = 0
    }
    return r
  }

  /** Writes the batch now (startup, auth, cancel paths). */
  /** @internal */
  flushNow(): void {
    if (this.writer.pending > 0 && !this.closed) this.socket.write(this.writer.take())
  }

  /** Schedules one socket write for everything written in this tick. */
  protected scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(this.flushTick)
  }

  protected flushTick = (): void => {
    this.flushScheduled = false
    this.flushNow()
  }

  /**
   * Puts a request on the wire: `write` writes its messages (ending in Sync).
   * While an exclusive request (COPY) holds the socket, writing waits.
   */
  send(request: Request, write: (w: Writer) => void, lazy = false): void {
    if (this.closed) {
      request.fail(this.goneError())
      return
    }
    if (this.held !== undefined) {
      this.held.push(() => this.send(request, write))
      return
    }
    const now = performance.now()
    if (this.queue.length === this.queueHead) this.lastProgressAt = now
    request.sentAt = now
    this.enqueue(request)
    write(this.writer)
    if (request.exclusive) this.held = []
    if (lazy) this.scheduleLazyFlush()
    else this.scheduleFlush()
  }

  /**
   * Lets written messages wait up to a millisecond for company: the next
   * request's flush carries them in the same socket write (a pool's reset
   * and the next borrower's first query: one syscall instead of two).
   */
  protected scheduleLazyFlush(): void {
    if (this.flushScheduled) return
    lazySessions.add(this)
    lazyTimer ??= setTimeout(flushLazySessions, 1)
  }

  /** Writes what lazy requests left in the buffer (the shared lazy-flush timer). */
  static flushLazy(sessions: Iterable<Wire>): void {
    for (const s of sessions) s.flushNow()
  }

  /** Writes more messages for the exclusive request in progress (COPY data). */
  writeExclusive(write: (w: Writer) => void): boolean {
    if (this.closed) return false
    write(this.writer)
    this.flushNow()
    return !this.socket.writableNeedDrain
  }

  /**
   * Writes complete messages for the exclusive request (COPY data) straight
   * to the socket, without copying them: the caller must leave the buffers
   * alone until `written` runs. Returns false when the socket is full (wait
   * with `onDrain`).
   */
  writeExclusiveBuffers(buffers: ReadonlyArray<Uint8Array>, written?: (error?: Error | null) => void): boolean {
    if (this.closed) return false
    this.flushNow()
    const n = buffers.length
    if (n > 1) this.socket.cork()
    for (let i = 0; i < n; i++) this.socket.write(buffers[i]!, i === n - 1 ? written : undefined)
    if (n > 1) this.socket.uncork()
    return !this.socket.writableNeedDrain
  }

  /**
   * Stops reading the socket (back-pressure for COPY TO): messages already
   * read are still delivered; nothing more arrives until `resumeReading`.
   */
  pauseReading(): void {
    if (!this.closed) this.socket.pause()
  }

  /** Reads the socket again after `pauseReading`. */
  resumeReading(): void {
    if (!this.closed) this.socket.resume()
  }

  /** Calls `f` once the socket has room again (back-pressure for COPY). */
  onDrain(f: () => void): void {
    if (!this.socket.writableNeedDrain || this.closed) f()
    else this.socket.once("drain", f)
  }

  protected releaseHeld(): void {
    const held = this.held
    this.held = undefined
    if (held) for (const f of held) f()
  }

  protected onMessage(type: number, buf: Buffer, start: number, end: number): void {
    if (KNOWN_BACKEND[type] !== 1) {
      throw new Reader.ProtocolViolation(`unknown backend message type 0x${type.toString(16)}`)
    }
    switch (type) {
      case B.ReadyForQuery: {
        this.txStatus = buf[start]!
        const now = performance.now()
        const r = this.shift()
        if (r === undefined) throw new Reader.ProtocolViolation("ReadyForQuery with no request waiting")
        // the server started on it when it was written or when the previous one ended
        if (r.sentAt !== undefined) r.serverMs = now - Math.max(r.sentAt, this.lastProgressAt)
        this.lastProgressAt = now
        if (r === this.cancelTarget) {
          this.cancelTarget = undefined
          this.cancelSettle?.()
        }
        if (r.exclusive) this.releaseHeld()
        this.settle(r, () => r.done())
        this.lastStatus = ""
        return
      }
      case B.NoticeResponse: {
        const head = this.collectNotices ? this.head : undefined
        if (this.noticeListeners.size > 0 || head !== undefined) {
          const notice = errorFromFields(Reader.parseErrorFields(buf, start, end))
          if (head !== undefined) (head.notices ??= []).push(notice)
          for (const l of this.noticeListeners) safeCall(() => l(notice))
        }
        return
      }
      case B.NotificationResponse: {
        const n = Reader.parseNotification(buf, start, end)
        for (const l of this.notificationListeners) safeCall(() => l(n))
        return
      }
      case B.ParameterStatus: {
        const [k, v] = Reader.parseParameterStatus(buf, start, end)
        this.parameters.set(k, v)
        return
      }
      default: {
        const r = this.head
        if (r === undefined) {
          if (type === B.ErrorResponse) {
            // an unsolicited FATAL (admin shutdown, idle timeout): the server closes next
            const err = errorFromFields(Reader.parseErrorFields(buf, start, end))
            this.destroy(err)
            return
          }
          throw new Reader.ProtocolViolation(`message 0x${type.toString(16)} with no request waiting`)
        }
        r.handle(type, buf, start, end)
      }
    }
  }

  protected settle(r: Request, f: () => void): void {
    if (!r.abandoned) safeCall(f)
    const s = r.onSettled
    r.onSettled = undefined
    if (s) safeCall(s)
  }

  protected goneError(): SessionError {
    return (
      this.closeError ??
      new Errors.ConnectionDoesNotExistError({
        message: "the connection is closed; acquire or open a new one"
      })
    )
  }

  /** Fails every request and closes the socket at once. */
  destroy(error?: SessionError): void {
    if (this.closed) return
    this.closed = true
    this.closeError =
      error === undefined
        ? new Errors.ConnectionDoesNotExistError({ message: "the connection was closed; acquire or open a new one" })
        : error._tag === "PostgresConnectionError" || error._tag === "ConnectionDoesNotExistError"
          ? error
          : new Errors.PostgresConnectionError({
              message: `the connection was closed after an error: ${error.message}`,
              host: this.target.host,
              port: this.target.port,
              reason: error._tag === "ProtocolError" ? "protocol" : "closed",
              cause: error
            })
    this.socket.destroy()
    const pending = this.queue.slice(this.queueHead)
    this.queue.length = 0
    this.queueHead = 0
    const held = this.held
    this.held = undefined
    const failWith = error ?? this.closeError
    for (const r of pending) this.settle(r, () => r.fail(failWith))
    if (held) for (const f of held) f()
    this.dropStatements(failWith)
    for (const l of this.terminationListeners) safeCall(() => l(error))
  }

  /** Sends Terminate and closes the socket once it is written. */
  /** True when a request on the wire was abandoned by its caller. */
  private hasAbandoned(): boolean {
    for (let i = this.queueHead; i < this.queue.length; i++) if (this.queue[i]!.abandoned) return true
    return false
  }

  close(cb: () => void, graceMs = 5000): void {
    if (this.closed) {
      cb()
      return
    }
    this.closingGracefully = true
    // a query still running for nobody (an abandoned one) would keep the backend busy
    // past our Terminate: cancel it, so the server reads Terminate soon. Requests that
    // still have a caller (a pool's reset on its way) finish first; no cancel is sent
    // for them (a stray cancel through a pooler can hit another client's query)
    if (this.hasAbandoned()) this.sendCancel()
    this.writer.terminate()
    const data = this.writer.take()
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      this.destroy()
      cb()
    }
    // done when the server has closed its end: its backend has exited, so a pool
    // may open a replacement without exceeding max_connections even for a moment
    this.socket.once("close", finish)
    this.socket.end(data)
    // never wait forever for a peer that does not answer
    const timer = setTimeout(finish, graceMs)
    timer.unref()
  }

  // -------------------------------------------------------------------------
  // Cancellation
  // -------------------------------------------------------------------------

  /**
   * Abandons a request: its result is dropped. When the server is running it
   * and nothing else is on the wire behind it, a CancelRequest goes out on a
   * fresh socket and `settled` is called once the server is done with it (or
   * the session is destroyed after `graceMs`: never reused in an unknown
   * state). When other requests are pipelined behind it, a cancel could land
   * on one of them instead, so it is left to finish: `settled` is called at
   * once and the session is marked `interrupted` (a pool retires it).
   */
  abandon(r: Request, settled: () => void, graceMs = 5000): void {
    if (!this.queue.includes(r, this.queueHead)) {
      settled()
      return
    }
    r.abandoned = true
    this.interrupted = true
    const alone = this.head === r && this.queue.length - this.queueHead === 1
    if (!alone || this.closed || this.cancelInFlight) {
      settled()
      return
    }
    const timer = setTimeout(() => {
      this.destroy(
        new Errors.PostgresConnectionError({
          message: `an interrupted query did not stop within ${graceMs} ms of its cancel request; the connection was closed`,
          host: this.target.host,
          port: this.target.port,
          reason: "timeout"
        })
      )
    }, graceMs)
    r.onSettled = () => {
      clearTimeout(timer)
      settled()
    }
    this.sendCancel(r)
  }

  /**
   * Sends a CancelRequest for `target`, which must be what the server runs
   * now. Until the cancel socket is closed (the server has signalled its
   * backend) and the target has finished, new requests are held back, so the
   * signal cannot land on a later request.
   */
  sendCancel(target?: Request): void {
    if (this.closed || this.cancelInFlight) return
    this.cancelInFlight = true
    this.cancelTarget = target
    const holding = target !== undefined && this.held === undefined
    if (holding) this.held = []
    let socketDone = false
    this.cancelSettle = () => {
      if (!socketDone || this.cancelTarget !== undefined) return
      this.cancelSettle = undefined
      this.cancelInFlight = false
      if (holding) this.releaseHeld()
    }
    Cancel.sendCancelRequest(this.target, this.processId, this.secretKey, () => {
      if (socketDone) return
      socketDone = true
      this.cancelSettle?.()
    })
  }

  // -------------------------------------------------------------------------
  // Simple protocol
  // -------------------------------------------------------------------------

  /** Runs `sql` over the simple protocol (scripts); returns the last command tag. */
  simpleQuery(sql: string, cb: Callback<string>, lazy = false): Request {
    const self = this
    // NUL, lone surrogates, a script that starts with COPY ... FROM STDIN / TO STDOUT
    const refused = checkStatementText(sql)
    if (refused !== undefined) {
      // nothing goes on the wire: a request that was never queued
      cb(refused, undefined)
      return { abandoned: false, onSettled: undefined, handle() {}, done() {}, fail() {} }
    }
    this.queryCount++
    if (SESSION_FUNCTIONS.test(sql)) this.stateDirty = true
    let status = ""
    let error: SessionError | undefined
    const r: Request = {
      abandoned: false,
      onSettled: undefined,
      handle(type, buf, start, end) {
        switch (type) {
          case B.CommandComplete:
            status = Reader.parseCommandComplete(buf, start, end)
            self.lastStatus = status
            if (changesSession(status)) self.stateDirty = true
            return
          case B.ErrorResponse:
            error ??= errorFromFields(Reader.parseErrorFields(buf, start, end), sql)
            return
          case B.CopyInResponse:
            // COPY FROM STDIN through execute(): refuse it so the connection stays usable
            error ??= copyRefused("stdin")
            writeCopyFail = true
            return
          case B.CopyOutResponse:
            // COPY TO STDOUT through execute(): its data is drained (CopyData ignored) and the call fails
            error ??= copyRefused("stdout")
            return
          case B.CopyBothResponse:
            self.destroy(copyBothError())
            return
          default:
            return
        }
      },
      done() {
        cb(error, status)
      },
      fail(e) {
        cb(error ?? e, undefined)
      }
    }
    let writeCopyFail = false
    const handle = r.handle
    r.handle = function (type, buf, start, end) {
      handle.call(r, type, buf, start, end)
      if (writeCopyFail) {
        writeCopyFail = false
        self.refuseCopyIn(r, false)
      }
    }
    this.send(r, (w) => w.query(sql), lazy)
    return r
  }

  /**
   * Ends a COPY FROM STDIN that a query method started: CopyFail (and a Sync
   * in the extended protocol, where the server ignored ours during copy-in).
   * When other messages are already on the wire behind the one that started
   * the COPY (`moreOwn`: the rest of this request; or other requests queued
   * behind `r`), the server reads the first of them as a protocol violation
   * inside COPY and ends the session ("protocol synchronization was lost"):
   * the session is destroyed at once, with an error that says why.
   */
  protected refuseCopyIn(r: Request, extended: boolean, moreOwn = false): void {
    const last = this.queue.length - 1
    if (moreOwn || this.queue[last] !== r || last < this.queueHead) {
      this.destroy(
        new Errors.InterfaceError({
          message: `COPY ... FROM STDIN was sent through a query method with ${moreOwn ? "more messages of the same request" : "other queries pipelined"} behind it; the server reads those as a protocol violation inside COPY, so the connection was closed. Use copyToTable / copyRecordsToTable for COPY FROM STDIN`
        })
      )
      return
    }
    this.writer.copyFail("COPY FROM STDIN is not supported by query methods; use copyToTable or copyRecordsToTable")
    if (extended) this.writer.sync()
    this.flushNow()
  }

  /** The session is gone: statements still being prepared fail with `error` (the statement layer overrides it). */
  protected dropStatements(_error: SessionError | undefined): void {}
}

/** Whether a request's Bind went through (nothing ran before it). */
export interface Progress {
  bound: boolean
}

/** A query in progress: the request on the wire, once there is one. */
export class Task implements Progress {
  request: Request | undefined
  abandoned = false
  /** the current attempt's Bind went through (set by `Session.execute`) */
  bound = false
  /** Abandons the task; `settled` runs once the server is done with it. */
  abandon(session: Wire, settled: () => void, graceMs?: number): void {
    this.abandoned = true
    if (this.request !== undefined) session.abandon(this.request, settled, graceMs)
    else {
      // still waiting for its statement: nothing is on the wire for it
      settled()
    }
  }
}
