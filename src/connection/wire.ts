/**
 * The wire of one server session, in plain callbacks: socket events, the
 * dispatch of backend messages (session-level ones here, the rest to the
 * request at the head of the queue, `queue.ts`), writes and flushes (lazy
 * writes share one timer, `lazyFlush.ts`), close/destroy, and when to send
 * a cancel. Nothing here allocates an Effect. The simple-query protocol is
 * in `simpleQuery.ts`, the row-collecting request in `rows.ts`.
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
import * as Scram from "../protocol/scram.js"
import * as PgRecord from "../Record.js"
import { TypeRegistry } from "../types/Registry.js"
import * as Cancel from "./cancel.js"
import { connectionError, describeAddress } from "./socket.js"
import type { ResolvedConnectOptions } from "./options.js"
import { flushSoon } from "./lazyFlush.js"
import type { LoggedQuery } from "./query.js"
import { RequestQueue } from "./queue.js"
import { safeCall, serverError, type NoticeListener, type NotificationListener, type PreludeRequest, type Request, type SessionError, type TerminationListener } from "./request.js"
import * as TxStatus from "./txStatus.js"

const B = Reader.Backend

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
  /** @internal requests on the wire, waiting for their ReadyForQuery */
  readonly queue = new RequestQueue()
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
  /** a DEALLOCATE or DISCARD ALL ran since the pool's last reset: named statements may be gone */
  statementsDropped = false
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
    return this.queue.size
  }

  /** Whether work of a user is on the wire (not just the pool's reset): a lease ending now is not clean. */
  get hasUserWork(): boolean {
    return this.queue.size > 0 && this.queue.hasUserWork()
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
  // Writes
  // -------------------------------------------------------------------------

  /** @internal Queues a request whose messages the caller writes itself (the startup). */
  enqueue(request: Request): void {
    this.queue.push(request)
  }

  /** @internal Writes the batch now (startup, auth, cancel paths). */
  flushNow(): void {
    if (this.openPrelude !== undefined) this.closePrelude()
    if (this.writer.pending > 0 && !this.closed) this.socket.write(this.writer.take())
  }

  /**
   * A prelude written and not yet followed: its messages end without a Sync,
   * so the next extended-protocol request's Sync ends both (one
   * ReadyForQuery, one flush on the server for the two).
   */
  private openPrelude: PreludeRequest | undefined = undefined

  /**
   * Writes a prelude (the pool's reset): messages that commit on their own
   * (an explicit BEGIN ... COMMIT) and end without a Sync, lazily flushed.
   * The next extended-protocol request carries it: the prelude's request is
   * settled by its own messages (`preludeDone`), that request by the
   * ReadyForQuery. A simple-protocol request, an exclusive one or the lazy
   * flush writes a Sync after it first, and the prelude ends with its own
   * ReadyForQuery. After an error the server skips to the next Sync: the
   * prelude is settled by that ReadyForQuery with its error.
   */
  sendPrelude(request: PreludeRequest, write: (w: Writer) => void): void {
    if (this.closed || this.held !== undefined) {
      request.prelude = false
      this.send(request, (w) => {
        write(w)
        w.sync()
      }, true)
      return
    }
    request.prelude = true
    this.send(request, write, true)
    this.openPrelude = request
  }

  /** The prelude in progress ended on its own messages: settle it; the next request is the head now. */
  preludeDone(request: Request): void {
    if (this.queue.head !== request) return
    this.queue.shift()
    this.lastProgressAt = performance.now()
    this.settle(request, () => request.done())
  }

  /** Ends the open prelude with a Sync of its own (nothing can carry it). */
  protected closePrelude(): void {
    const r = this.openPrelude!
    this.openPrelude = undefined
    this.writer.sync()
    r.prelude = false
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
    if (this.openPrelude !== undefined) {
      // carried by this request's Sync, unless it is a simple Query or holds the socket
      if (request.simple === true || request.exclusive === true) this.closePrelude()
      else this.openPrelude = undefined
    }
    const now = performance.now()
    if (this.queue.size === 0) this.lastProgressAt = now
    request.sentAt = now
    this.queue.push(request)
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
    if (!this.flushScheduled) flushSoon(this)
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

  // -------------------------------------------------------------------------
  // Dispatch: session-level messages here, the rest to the request they answer
  // -------------------------------------------------------------------------

  protected onMessage(type: number, buf: Buffer, start: number, end: number): void {
    if (!Reader.isBackendType(type)) {
      throw new Reader.ProtocolViolation(`unknown backend message type 0x${type.toString(16)}`)
    }
    switch (type) {
      case B.ReadyForQuery:
        return this.ReadyForQuery(buf[start]!)
      case B.NoticeResponse:
        return this.NoticeResponse(buf, start, end)
      case B.NotificationResponse:
        return this.NotificationResponse(buf, start, end)
      case B.ParameterStatus: {
        const [k, v] = Reader.parseParameterStatus(buf, start, end)
        this.parameters.set(k, v)
        return
      }
      default: {
        const r = this.queue.head
        if (r === undefined) return this.unsolicited(type, buf, start, end)
        r.handle(type, buf, start, end)
      }
    }
  }

  /** The head request is answered: settle it; `status` is the transaction status byte. */
  protected ReadyForQuery(status: number): void {
    this.txStatus = status
    const now = performance.now()
    const r = this.queue.shift()
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
    this.cancelIfAbandonedAlone()
  }

  /** An abandoned request that now runs alone can be cancelled without hitting anyone else's. */
  protected cancelIfAbandonedAlone(): void {
    const next = this.queue.head
    if (next !== undefined && next.abandoned && this.queue.size === 1 && !this.cancelInFlight && !this.closed) this.sendCancel(next)
  }

  /** To the notice listeners, and onto the head request when notices are collected. */
  protected NoticeResponse(buf: Buffer, start: number, end: number): void {
    const head = this.collectNotices ? this.queue.head : undefined
    if (this.noticeListeners.size === 0 && head === undefined) return
    const notice = serverError(buf, start, end)
    if (head !== undefined) (head.notices ??= []).push(notice)
    for (const l of this.noticeListeners) safeCall(() => l(notice))
  }

  /** A NOTIFY: to the notification listeners. */
  protected NotificationResponse(buf: Buffer, start: number, end: number): void {
    const n = Reader.parseNotification(buf, start, end)
    for (const l of this.notificationListeners) safeCall(() => l(n))
  }

  /** A message with no request waiting: an unsolicited FATAL closes the session; anything else is a violation. */
  protected unsolicited(type: number, buf: Buffer, start: number, end: number): void {
    if (type !== B.ErrorResponse) throw new Reader.ProtocolViolation(`message 0x${type.toString(16)} with no request waiting`)
    // an unsolicited FATAL (admin shutdown, idle timeout): the server closes next
    this.destroy(serverError(buf, start, end))
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
    // termination listeners first: by the time a caller sees its query fail, they have run (as asyncpg's)
    for (const l of this.terminationListeners) safeCall(() => l(error))
    const pending = this.queue.takeAll()
    const held = this.held
    this.held = undefined
    const failWith = error ?? this.closeError
    for (const r of pending) this.settle(r, () => r.fail(failWith))
    if (held) for (const f of held) f()
    this.dropStatements(failWith)
  }

  /**
   * Sends Terminate and calls `cb` once the server closed its end (or after
   * `graceMs`).
   */
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
    if (this.queue.hasAbandoned()) this.sendCancel()
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
    if (!this.queue.has(r)) {
      settled()
      return
    }
    r.abandoned = true
    this.interrupted = true
    // alone, or behind nothing but a prelude (the pool's reset, quick statements of our own: a
    // cancel landing on one of them fails the reset, and the session is destroyed)
    const head = this.queue.head
    const alone = this.queue.size === 1 ? head === r : this.queue.size === 2 && head !== r && (head as Partial<PreludeRequest>).prelude === true && this.queue.isLast(r)
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

  /** The session is gone: statements still being prepared fail with `error` (the statement layer overrides it). */
  protected dropStatements(_error: SessionError | undefined): void {}

  /**
   * A result showed the cached schema outdated: `types`, a type changed
   * since it was introspected; else a cached plan changed result type. The
   * statement layer forgets (see `StatementCache.schemaOutdated`).
   */
  schemaOutdated(_types: boolean): void {}
}
