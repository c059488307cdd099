/**
 * One server session, in plain callbacks: the socket, startup and
 * authentication, the pipelined request queue, the prepared-statement cache,
 * cancellation. `Connection.ts` wraps it in Effects once per call; nothing
 * here allocates an Effect, and the per-row path is a loop over the buffer.
 *
 * Every request written to the socket ends with exactly one Sync (or is a
 * simple Query), so the server answers each with exactly one ReadyForQuery:
 * replies are matched to requests by order alone.
 *
 * @internal
 */
import { randomBytes } from "node:crypto"
import * as net from "node:net"
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import { MAX_COUNT, Writer, type WireValue } from "../protocol/Writer.js"
import { checkStatementText, copyRefused } from "./sqltext.js"
import * as Scram from "../protocol/scram.js"
import * as PgRecord from "../Record.js"
import { EncodeError, type Codec, type IntrospectedType } from "../types/Codec.js"
import { TypeRegistry } from "../types/Registry.js"
import * as Cancel from "./cancel.js"
import { connectionError, describeAddress } from "./socket.js"
import * as Unnamed from "./unnamed.js"
import type { ResolvedConnectOptions } from "./options.js"
import type { LoggedQuery } from "./query.js"
import { errorFromFields, type Callback, type NoticeListener, type NotificationListener, type Request, type SessionError, type TerminationListener } from "./request.js"
import { decodeRow, type ExecuteResult } from "./rows.js"
import type { Statement } from "./statement.js"

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
 * A short description of an argument for error messages. Never throws: a
 * Proxy whose traps throw, a revoked Proxy or a throwing `constructor` getter
 * is described without being inspected further.
 */
const describeValue = (v: unknown): string => {
  try {
    if (v === null) return "null"
    if (typeof v === "string") return v.length > 40 ? `string "${v.slice(0, 40)}…"` : `string "${v}"`
    if (typeof v === "symbol") return "a symbol"
    if (typeof v === "object" || typeof v === "function") {
      const name: unknown = (v as { constructor?: { name?: unknown } }).constructor?.name
      return typeof name === "string" && name !== "" ? `${name} ${typeof v}` : typeof v
    }
    return `${typeof v} ${String(v)}`
  } catch {
    return `${typeof v} that could not be inspected (reading it threw)`
  }
}

/** The message of something thrown, without trusting it (it may be a hostile object). */
const thrownMessage = (e: unknown): string => {
  try {
    return e instanceof Error ? e.message : String(e)
  } catch {
    return "an exception that could not be read"
  }
}

/**
 * A random part of the statement names of one session: names cannot collide
 * with another connection's or process's behind a pooler that hands one
 * server connection to many clients. 48 bits, base 36.
 */
const sessionNameId = (): string => randomBytes(6).readUIntBE(0, 6).toString(36)

/** Descriptions of the unnamed statement kept per session (metadata only) when the statement cache is off. */
const DESCRIPTION_CACHE_SIZE = 100

/** How many times a call prepares its statement again when the server lost it (a pooler moved the session). */
const MAX_REPREPARE = 5

/** Sessions with lazily written messages waiting for the shared flush timer. */
const lazySessions = new Set<Session>()
let lazyTimer: ReturnType<typeof setTimeout> | undefined = undefined
const flushLazySessions = (): void => {
  lazyTimer = undefined
  const sessions = [...lazySessions]
  lazySessions.clear()
  Session.flushLazy(sessions)
}

/** One PostgreSQL session. Create with `Startup.connect`. */
export class Session {
  readonly parameters = new Map<string, string>()
  processId = 0
  /** @internal set by the startup (BackendKeyData) */
  secretKey = 0
  /** I idle, T in transaction, E failed transaction */
  txStatus = 0x49
  closed = false
  private closeError: SessionError | undefined
  private readonly queue: Array<Request> = []
  private queueHead = 0
  /** @internal */
  readonly writer = new Writer()
  private flushScheduled = false
  /** requests waiting for an exclusive request to finish before they are written */
  private held: Array<() => void> | undefined
  private readonly reader: Reader.Reader
  private readonly statements = new Map<string, Statement>()
  /** descriptions of the unnamed statement by SQL (statement cache off, or SQL too long to cache) */
  private readonly descriptions = new Map<string, Statement>()
  /** prefix of this session's statement names: random, so no other connection or process uses it */
  /** prefix of every statement name of this session: random, so names never collide across sessions or processes */
  readonly namePrefix = `__epg_${sessionNameId()}_`
  private nameCounter = 0
  /** only the unnamed statement: `prepare: false` or a statement cache of 0 */
  readonly unnamedOnly: boolean
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
  private cancelInFlight = false
  /** close() sent Terminate: the server closing the socket is expected */
  private closingGracefully = false
  /** the request a CancelRequest was sent for, until its ReadyForQuery */
  private cancelTarget: Request | undefined
  /** finishes the cancel in flight once both its socket and its target are done */
  private cancelSettle: (() => void) | undefined
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
  private registryOverride: TypeRegistry | undefined = undefined

  /** @internal use `Startup.connect` */
  constructor(
    /** @internal */
    public socket: net.Socket,
    readonly options: ResolvedConnectOptions,
    readonly settings: SessionOptions,
    address: ResolvedConnectOptions["addresses"][number]
  ) {
    this.target = address
    this.unnamedOnly = settings.prepare === false || settings.statementCacheSize <= 0
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

  private attach(socket: net.Socket): void {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on("data", this.onData)
    socket.on("error", this.onSocketError)
    socket.on("close", this.onSocketClose)
  }

  private onData = (chunk: Buffer): void => {
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

  private onSocketError = (err: Error & { code?: string }): void => {
    this.destroy(connectionError(this.target, err, "the connection to the server failed"))
  }

  private onSocketClose = (): void => {
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

  private get head(): Request | undefined {
    return this.queue[this.queueHead]
  }

  private shift(): Request | undefined {
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
  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(this.flushTick)
  }

  private flushTick = (): void => {
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
  private scheduleLazyFlush(): void {
    if (this.flushScheduled) return
    lazySessions.add(this)
    lazyTimer ??= setTimeout(flushLazySessions, 1)
  }

  /** Writes what lazy requests left in the buffer (the shared lazy-flush timer). */
  static flushLazy(sessions: Iterable<Session>): void {
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

  private releaseHeld(): void {
    const held = this.held
    this.held = undefined
    if (held) for (const f of held) f()
  }

  private onMessage(type: number, buf: Buffer, start: number, end: number): void {
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

  private settle(r: Request, f: () => void): void {
    if (!r.abandoned) safeCall(f)
    const s = r.onSettled
    r.onSettled = undefined
    if (s) safeCall(s)
  }

  private goneError(): SessionError {
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
    for (const cache of [this.statements, this.descriptions]) {
      for (const st of cache.values()) {
        if (st.state === "preparing") {
          const w = st.waiters
          st.waiters = []
          for (const f of w) safeCall(() => f(failWith))
        }
      }
      cache.clear()
    }
    for (const l of this.terminationListeners) safeCall(() => l(error))
  }

  /** Sends Terminate and closes the socket once it is written. */
  close(cb: () => void, graceMs = 5000): void {
    if (this.closed) {
      cb()
      return
    }
    this.closingGracefully = true
    // a query still running (an abandoned one) would keep the backend busy
    // past our Terminate: cancel it, so the server reads Terminate soon
    if (this.inFlight > 0) this.sendCancel()
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

  // -------------------------------------------------------------------------
  // Statements
  // -------------------------------------------------------------------------

  /**
   * Gets a ready statement for `sql`: from the cache, or by sending
   * Parse/Describe/Sync (and introspecting unknown types). `cb` receives it.
   * With the statement cache off (or SQL too long to cache) it is a
   * description of the unnamed statement, which every execution parses
   * again. `dedicated`: a named statement of the caller's own, which the
   * caller closes (prepared statements, cursors).
   */
  statement(sql: string, cb: Callback<Statement>, dedicated = false): void {
    if (!dedicated && (this.unnamedOnly || sql.length > this.settings.maxCacheableStatementSize)) {
      this.describe(sql, cb)
      return
    }
    const cacheable = !dedicated
    if (cacheable) {
      const hit = this.lookup(this.statements, sql, cb)
      if (hit) return
    }
    const st = this.newStatement(`${this.namePrefix}${(++this.nameCounter).toString(36)}`, sql, cacheable, false)
    if (cacheable) this.remember(this.statements, st, this.settings.statementCacheSize)
    st.waiters.push((err) => (err ? cb(err, undefined) : cb(undefined, st)))
    this.prepare(st)
  }

  /**
   * Gets the description of `sql` as the unnamed statement (parameter and
   * result types, codecs) from the session's LRU of descriptions, or by
   * Parse("")/Describe/Sync. Nothing stays prepared on the server.
   */
  describe(sql: string, cb: Callback<Statement>): void {
    const keep = sql.length <= this.settings.maxCacheableStatementSize
    if (keep && this.lookup(this.descriptions, sql, cb)) return
    const st = this.newStatement("", sql, keep, true)
    if (keep) this.remember(this.descriptions, st, Math.max(this.settings.statementCacheSize, DESCRIPTION_CACHE_SIZE))
    st.waiters.push((err) => (err ? cb(err, undefined) : cb(undefined, st)))
    this.prepare(st)
  }

  /** A cache hit for `sql` handed to `cb` (or queued while it is prepared): true; false when there is none. */
  private lookup(cache: Map<string, Statement>, sql: string, cb: Callback<Statement>): boolean {
    const hit = cache.get(sql)
    if (hit === undefined) return false
    const lifetime = this.settings.maxCachedStatementLifetime
    if (hit.state === "ready" && lifetime > 0 && Date.now() - hit.preparedAt > lifetime) {
      this.evict(hit)
      return false
    }
    // LRU: move to the end
    cache.delete(sql)
    cache.set(sql, hit)
    if (hit.state === "ready") cb(undefined, hit)
    else hit.waiters.push((err) => (err ? cb(err, undefined) : cb(undefined, hit)))
    return true
  }

  /** Adds a statement to a cache, evicting the least recently used beyond `size`. */
  private remember(cache: Map<string, Statement>, st: Statement, size: number): void {
    cache.set(st.sql, st)
    if (cache.size > size) {
      const oldest = cache.values().next().value
      if (oldest !== undefined && oldest !== st) this.evict(oldest)
    }
  }

  private newStatement(name: string, sql: string, cached: boolean, unnamed: boolean): Statement {
    return {
      name,
      sql,
      cached,
      unnamed,
      state: "preparing",
      waiters: [],
      paramOids: [],
      fields: [],
      paramCodecs: [],
      paramFormats: [],
      resultCodecs: [],
      resultFormats: [],
      make: undefined,
      preparedAt: Date.now(),
      touchesSession: SESSION_FUNCTIONS.test(sql),
      serverMs: undefined
    }
  }

  /**
   * The server's average time for `sql`, ms, when this session has run it
   * (a pool uses it to pipeline fast statements deeply and spread slow ones).
   */
  statementServerMs(sql: string): number | undefined {
    return (this.statements.get(sql) ?? this.descriptions.get(sql))?.serverMs
  }

  /** Drops a statement from its cache and closes it on the server (a description: nothing to close). */
  evict(st: Statement): void {
    const cache = st.unnamed ? this.descriptions : this.statements
    if (cache.get(st.sql) === st) cache.delete(st.sql)
    if (st.state === "ready" && !st.unnamed) this.closeStatement(st.name)
  }

  /** Forgets every cached statement and description (after DISCARD ALL, or on reloadSchemaState). */
  clearStatements(closeOnServer: boolean): void {
    for (const st of this.statements.values()) {
      if (closeOnServer && st.state === "ready") this.closeStatement(st.name)
    }
    for (const cache of [this.statements, this.descriptions]) {
      for (const [sql, st] of cache) if (st.state !== "preparing") cache.delete(sql)
    }
  }

  private closeStatement(name: string): void {
    if (this.closed) return
    const r: Request = {
      abandoned: false,
      onSettled: undefined,
      handle() {},
      done() {},
      fail() {}
    }
    this.send(r, (w) => w.close("S", name).sync())
  }

  private prepare(st: Statement): void {
    // NUL, lone surrogates, COPY FROM STDIN/TO STDOUT: refused before anything is sent (once per statement)
    const refused = checkStatementText(st.sql)
    if (refused !== undefined) {
      this.statementFailed(st, refused)
      return
    }
    let error: SessionError | undefined
    const self = this
    const r: Request = {
      abandoned: false,
      onSettled: undefined,
      handle(type, buf, start, end) {
        switch (type) {
          case B.ParameterDescription:
            st.paramOids = Reader.parseParameterDescription(buf, start, end)
            return
          case B.RowDescription:
            st.fields = Reader.parseRowDescription(buf, start, end)
            return
          case B.ErrorResponse:
            error ??= errorFromFields(Reader.parseErrorFields(buf, start, end), st.sql)
            return
          case B.ParseComplete:
          case B.NoData:
            return
          default:
            // rows or results in answer to Parse/Describe: the stream is out of step
            throw new Reader.ProtocolViolation(`message 0x${type.toString(16)} in answer to Parse/Describe`)
        }
      },
      done() {
        if (error) self.statementFailed(st, error)
        else self.resolveTypes(st)
      },
      fail(e) {
        self.statementFailed(st, error ?? e)
      }
    }
    this.send(r, (w) => w.parse(st.name, st.sql).describe("S", st.name).sync())
  }

  private statementFailed(st: Statement, error: SessionError): void {
    st.state = "failed"
    const cache = st.unnamed ? this.descriptions : this.statements
    if (cache.get(st.sql) === st) cache.delete(st.sql)
    const waiters = st.waiters
    st.waiters = []
    for (const w of waiters) safeCall(() => w(error))
  }

  /** Introspects unknown type OIDs if needed, then builds the statement's codecs. */
  private resolveTypes(st: Statement): void {
    const unknown = new Set<number>()
    for (const oid of st.paramOids) if (this.registry.needsIntrospection(oid)) unknown.add(oid)
    for (const f of st.fields) if (this.registry.needsIntrospection(f.typeOid)) unknown.add(f.typeOid)
    if (unknown.size === 0) {
      this.finishStatement(st)
      return
    }
    this.introspect([...unknown], (err) => {
      if (err) this.statementFailed(st, err)
      else this.finishStatement(st)
    })
  }

  /** Fetches pg_type rows for `oids` and registers their codecs. */
  introspect(oids: ReadonlyArray<number>, cb: (err: SessionError | undefined) => void): void {
    this.query(TypeRegistry.INTROSPECT_SQL, [oids.map(String)], (err, result) => {
      if (err) {
        cb(err)
        return
      }
      try {
        this.registry.addIntrospected(
          result!.rows.map((row) => toIntrospected(row as PgRecord.Record)),
          oids
        )
        // OIDs the catalog does not know stay text; mark them as seen
        cb(undefined)
      } catch (e) {
        cb(new Errors.ProtocolError({ message: `could not build codecs for types ${oids.join(", ")}: ${String(e)}`, cause: e }))
      }
    })
  }

  private finishStatement(st: Statement): void {
    const reg = this.registry
    st.paramCodecs = st.paramOids.map((oid) => reg.get(oid) ?? reg.fallback)
    st.paramFormats = st.paramCodecs.map((c) => c.format)
    st.resultCodecs = st.fields.map((f) => reg.get(f.typeOid) ?? reg.fallback)
    st.resultFormats = st.resultCodecs.map((c) => c.format)
    if (st.resultFormats.length > 0 && st.resultFormats.every((f) => f === st.resultFormats[0])) {
      st.resultFormats = [st.resultFormats[0]!]
    }
    if (st.paramFormats.length > 0 && st.paramFormats.every((f) => f === st.paramFormats[0])) {
      st.paramFormats = [st.paramFormats[0]!]
    }
    if (st.fields.length > 0) {
      const shape = PgRecord.makeShape(st.fields.map((f) => f.name))
      const factory = this.settings.recordFactory
      st.make = factory ? (values) => factory(shape, values) : shape.make
    }
    st.state = "ready"
    st.preparedAt = Date.now()
    const waiters = st.waiters
    st.waiters = []
    for (const w of waiters) safeCall(() => w(undefined))
  }

  /** Encodes arguments with the statement's parameter codecs. */
  encodeArgs(st: Statement, args: ReadonlyArray<unknown>): Array<WireValue> | SessionError {
    try {
      return this.encodeArgsUnchecked(st, args)
    } catch (e) {
      // the argument list itself threw (a Proxy, a throwing getter): a typed error, never a defect
      return new Errors.DataError({
        message: `the query arguments could not be read (${thrownMessage(e)}); pass a plain array of values`
      })
    }
  }

  private encodeArgsUnchecked(st: Statement, args: ReadonlyArray<unknown>): Array<WireValue> | SessionError {
    if (!Array.isArray(args)) {
      return new Errors.InterfaceError({ message: `query arguments must be an array, got ${describeValue(args)}` })
    }
    if (args.length > MAX_COUNT) {
      return new Errors.InterfaceError({
        message: `${args.length} query arguments were passed; the protocol allows at most 65,535 per statement (Bind counts are 16-bit). Pass the values as an array parameter (unnest($1::int4[])) or use copyRecordsToTable`
      })
    }
    if (args.length !== st.paramOids.length) {
      return new Errors.InterfaceError({
        message: `the statement expects ${st.paramOids.length} argument${st.paramOids.length === 1 ? "" : "s"}, ${args.length} ${args.length === 1 ? "was" : "were"} passed: ${truncate(st.sql)}`
      })
    }
    const out = new Array<WireValue>(args.length)
    for (let i = 0; i < args.length; i++) {
      const v = args[i]
      if (v === null || v === undefined) {
        out[i] = null
        continue
      }
      const codec = st.paramCodecs[i]!
      try {
        out[i] = codec.encode(v)
      } catch (e) {
        // anything may throw here (a hostile Proxy): build the error without trusting the value
        const known = e instanceof EncodeError
        const expected = known ? e.expected : codec.name
        const given = known ? e.given : `${describeValue(v)} (${thrownMessage(e)})`
        return new Errors.DataError({
          message: `invalid input for query argument $${i + 1} (type ${codec.name}): expected ${expected}, got ${given}`,
          position: i + 1,
          expected,
          given
        })
      }
    }
    return out
  }

  // -------------------------------------------------------------------------
  // Extended protocol queries
  // -------------------------------------------------------------------------

  /**
   * Runs `sql` with `args` through a prepared statement (or, with the
   * statement cache off, the unnamed statement) and collects rows. The
   * returned task can be abandoned at any phase.
   */
  query(sql: string, args: ReadonlyArray<unknown>, cb: Callback<ExecuteResult>, task: Task = new Task()): Task {
    this.runSql(sql, [args], false, false, (err, results) => cb(err, results === undefined ? undefined : results[0]), task, 0)
    return task
  }

  /**
   * executemany/fetchmany: executes `sql` once per argument set under one
   * Sync (one implicit transaction, all or nothing), encoding the arguments
   * as they are written. `skipRows` drops the rows.
   */
  many(
    sql: string,
    argSets: ReadonlyArray<ReadonlyArray<unknown>>,
    skipRows: boolean,
    cb: Callback<Array<ExecuteResult>>,
    task: Task = new Task()
  ): Task {
    this.runSql(sql, argSets, skipRows, true, cb, task, 0)
    return task
  }

  /**
   * Gets the statement, executes it, and runs the whole call again when the
   * server lost or outdated the statement before running anything (see
   * {@link Session.retryAfter}).
   */
  private runSql(
    sql: string,
    argSets: ReadonlyArray<ReadonlyArray<unknown>>,
    skipRows: boolean,
    encode: boolean,
    cb: Callback<Array<ExecuteResult>>,
    task: Task,
    attempt: number
  ): void {
    this.statement(sql, (err, st) => {
      if (task.abandoned) return
      if (err !== undefined || st === undefined) {
        cb(err, undefined)
        return
      }
      let sets = argSets as ReadonlyArray<ReadonlyArray<WireValue>>
      if (!encode) {
        const values = this.encodeArgs(st, argSets[0]!)
        if (!Array.isArray(values)) {
          cb(values, undefined)
          return
        }
        sets = [values]
      }
      task.bound = false
      task.request = this.execute(st, sets, skipRows, (err2, results) => {
        if (err2 !== undefined && !task.abandoned && Errors.isPostgresError(err2)) {
          const next = this.retryAfter(st, err2, task.bound, attempt)
          if (next === "again") {
            this.runSql(sql, argSets, skipRows, encode, cb, task, attempt + 1)
            return
          }
          cb(next, undefined)
          return
        }
        cb(err2, results)
      }, encode, task)
    })
  }

  /**
   * After a server error of a call's statement: `"again"` to run the call
   * again (nothing ran: the statement was not found or its description is
   * outdated, and no transaction block was aborted), else the error to
   * report. A named statement the server no longer has (26000; a pooler
   * moved the session to another server connection) is prepared again up
   * to {@link MAX_REPREPARE} times; past that, or inside a transaction, the
   * error says to use `prepare: false`.
   */
  private retryAfter(st: Statement, err: Errors.PostgresError, bound: boolean, attempt: number): "again" | Errors.PostgresError {
    const idle = this.txStatus === 0x49
    if (st.unnamed) {
      // the SQL was parsed again with the described parameter types and result formats
      // and refused before it ran: the schema changed since it was described
      if (bound || !Unnamed.isOutdatedDescription(err)) return err
      this.evict(st)
      return idle && attempt === 0 ? "again" : err
    }
    if (!st.cached || !isStaleStatement(err)) return err
    this.evict(st)
    if (idle && attempt < MAX_REPREPARE) return "again"
    const lost = err.sqlstate === "26000" || err.sqlstate === "42P05"
    return lost ? Unnamed.poolerHint(err, idle ? attempt + 1 : undefined) : err
  }

  /**
   * Binds and executes a ready statement once per argument set, all before
   * one Sync: one implicit transaction, all or nothing. `skipRows` drops the
   * rows of each execution. A description of the unnamed statement is
   * parsed again first, and its portal described, in the same unit: the rows
   * are decoded by the types the server reports for this very execution.
   */
  execute(
    st: Statement,
    argSets: ReadonlyArray<ReadonlyArray<WireValue>>,
    skipRows: boolean,
    cb: Callback<Array<ExecuteResult>>,
    encode = false,
    progress?: Progress
  ): Request {
    const results: Array<ExecuteResult> = []
    let rows: Array<unknown> = []
    let error: SessionError | undefined
    /** an argument set that could not be encoded: reported instead of the abort it caused */
    let encodeError: SessionError | undefined
    let codecs: ReadonlyArray<Codec> = st.resultCodecs
    let make = st.make
    let fields: ReadonlyArray<Reader.FieldDescription> = st.fields
    /** unnamed: the portal's columns need types not introspected yet; rows are kept raw until they are */
    let rawFields: Array<Reader.FieldDescription> | undefined
    const unnamed = st.unnamed
    const self = this
    this.queryCount++
    if (st.touchesSession) this.stateDirty = true
    const r: Request = {
      abandoned: false,
      onSettled: undefined,
      handle(type, buf, start, end) {
        if (type === B.DataRow) {
          if (skipRows || error !== undefined) return
          if (rawFields !== undefined) {
            rows.push(Buffer.from(buf.subarray(start, end)))
            return
          }
          const values = decodeRow(buf, start, codecs, fields, rows.length)
          if (!Array.isArray(values)) {
            error = values
            return
          }
          rows.push(make!(values))
          return
        }
        switch (type) {
          case B.CommandComplete: {
            const status = Reader.parseCommandComplete(buf, start, end)
            self.lastStatus = status
            if (changesSession(status)) self.stateDirty = true
            results.push({ rows, status })
            rows = []
            return
          }
          case B.EmptyQueryResponse:
            results.push({ rows, status: "" })
            rows = []
            return
          case B.ErrorResponse:
            error ??= errorFromFields(Reader.parseErrorFields(buf, start, end), st.sql)
            return
          case B.BindComplete:
            if (progress !== undefined) progress.bound = true
            return
          case B.RowDescription: {
            // only unnamed executions describe their portal
            if (!unnamed || Unnamed.sameRowDescription(st, buf, start, end)) return
            const fresh = Reader.parseRowDescription(buf, start, end)
            const plan = Unnamed.planFor(self.registry, self.settings.recordFactory, st, fresh)
            // the schema changed since it was described: describe it again next time
            if (plan !== "same") self.evict(st)
            if (plan === "same") st.portalRowDescription = Buffer.from(buf.subarray(start, end))
            else if (plan === "introspect") rawFields = fresh
            else if (plan instanceof Errors.DataError) error ??= plan
            else {
              codecs = plan.codecs
              make = plan.make
              fields = fresh
            }
            return
          }
          case B.CopyInResponse: {
            // COPY FROM STDIN through a query method (the up-front check in prepare() makes this
            // rare). The server ignored our Sync: CopyFail and a new Sync end it, unless more of
            // this request (another Bind, a Close) is already on the wire.
            error ??= copyRefused("stdin")
            self.refuseCopyIn(r, true, results.length < argSets.length - 1 || closeAfter)
            return
          }
          case B.CopyOutResponse:
            // COPY TO STDOUT: the CopyData that follows is ignored, then CommandComplete; the call fails
            error ??= copyRefused("stdout")
            return
          case B.CopyBothResponse:
            self.destroy(copyBothError())
            return
          default:
            return // ParseComplete, CloseComplete, PortalSuspended, NoData, CopyData, CopyDone
        }
      },
      exclusive: encode && argSets.length > MANY_CHUNK,
      done() {
        const ms = r.serverMs
        if (ms !== undefined && argSets.length === 1) st.serverMs = st.serverMs === undefined ? ms : st.serverMs * 0.8 + ms * 0.2
        if (encodeError !== undefined) error = encodeError
        if (error === undefined && results.length !== argSets.length) {
          // ReadyForQuery before every Execute finished: the stream is out of step
          error = new Errors.ProtocolError({
            message: `the server ended a request after ${results.length} of ${argSets.length} results; the connection is out of step with the server and was closed`
          })
          self.destroy(error)
        }
        if (error === undefined && rawFields !== undefined) {
          self.decodeLater(st, rawFields, results, cb)
          return
        }
        cb(error, error ? undefined : results)
      },
      fail(e) {
        cb(encodeError ?? error ?? e, undefined)
      }
    }
    const formats = st.paramFormats
    const resultFormats = st.resultFormats
    const name = st.name
    const closeAfter = !st.cached && !unnamed
    const finish = (w: Writer) => {
      if (closeAfter) w.close("S", name)
      w.sync()
    }
    // unnamed: Parse first, with the described parameter types; Describe the first portal
    let parsed = !unnamed
    const bind = (w: Writer, values: ReadonlyArray<WireValue>) => {
      if (parsed) {
        w.bind("", name, formats, values, resultFormats).execute("", 0)
        return
      }
      parsed = true
      w.parse("", st.sql, st.paramOids).bind("", "", formats, values, resultFormats).describe("P", "").execute("", 0)
    }
    if (!encode) {
      this.send(r, (w) => {
        for (let i = 0; i < argSets.length; i++) bind(w, argSets[i]!)
        finish(w)
      })
      return r
    }
    // Encode and write in chunks, so the server executes the first rows while
    // later ones are still being encoded. Other requests wait (exclusive) so
    // nothing lands inside this one's implicit transaction.
    let next = 0
    const writeChunk = (w: Writer): boolean => {
      const end = Math.min(next + MANY_CHUNK, argSets.length)
      for (; next < end; next++) {
        const values = self.encodeArgs(st, argSets[next]!)
        if (!Array.isArray(values)) {
          encodeError =
            values._tag === "DataError" || values._tag === "InterfaceError"
              ? Object.assign(values, { message: `argument set ${next}: ${values.message}`, row: next })
              : values
          // rows already sent must not commit: a Bind of a statement that does not
          // exist fails the implicit transaction, and the Sync rolls it back
          w.bind("", ABORT_STATEMENT, [], [], [])
          finish(w)
          return true
        }
        bind(w, values)
      }
      if (next < argSets.length) return false
      finish(w)
      return true
    }
    const more = (): void => {
      if (self.closed) return
      let finished = false
      if (r.abandoned) {
        self.writeExclusive(finish)
        return
      }
      self.writeExclusive((w) => {
        finished = writeChunk(w)
      })
      if (!finished) self.onDrain(() => setImmediate(more))
    }
    this.send(r, (w) => {
      if (!writeChunk(w)) setImmediate(more)
    })
    return r
  }

  /**
   * The rows of an unnamed execution whose columns have types not
   * introspected yet: introspect them, then decode the raw rows.
   */
  private decodeLater(
    st: Statement,
    fresh: ReadonlyArray<Reader.FieldDescription>,
    results: Array<ExecuteResult>,
    cb: Callback<Array<ExecuteResult>>
  ): void {
    const unknown = [...new Set(fresh.map((f) => f.typeOid).filter((oid) => this.registry.needsIntrospection(oid)))]
    this.introspect(unknown, (err) => {
      if (err !== undefined) return cb(err, undefined)
      const plan = Unnamed.planFor(this.registry, this.settings.recordFactory, st, fresh)
      if (plan === "introspect") return cb(Unnamed.undecodable(st, fresh, "its types could not be introspected"), undefined)
      if (plan instanceof Errors.DataError) return cb(plan, undefined)
      const codecs = plan === "same" ? st.resultCodecs : plan.codecs
      const make = plan === "same" ? st.make! : plan.make!
      const out: Array<ExecuteResult> = []
      for (const res of results) {
        const rows = new Array<unknown>(res.rows.length)
        for (let i = 0; i < rows.length; i++) {
          const values = decodeRow(res.rows[i] as Buffer, 0, codecs, fresh, i)
          if (!Array.isArray(values)) return cb(values, undefined)
          rows[i] = make(values)
        }
        out.push({ rows, status: res.status })
      }
      cb(undefined, out)
    })
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
  private refuseCopyIn(r: Request, extended: boolean, moreOwn = false): void {
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

  /** Sends a request built by another module (COPY, cursors). */
  sendRequest(r: Request, write: (w: Writer) => void, lazy = false): void {
    this.send(r, write, lazy)
  }
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
  abandon(session: Session, settled: () => void, graceMs?: number): void {
    this.abandoned = true
    if (this.request !== undefined) session.abandon(this.request, settled, graceMs)
    else {
      // still waiting for its statement: nothing is on the wire for it
      settled()
    }
  }
}

/** Argument sets encoded and written per turn by a large executemany. */
const MANY_CHUNK = 1000

/** A statement name nobody prepares: binding it aborts a request on purpose. */
const ABORT_STATEMENT = "__epg_abort__"

/** Backend message types of protocol 3.0: anything else is a protocol violation. */
const KNOWN_BACKEND = (() => {
  const t = new Uint8Array(256)
  for (const code of Object.values(B)) t[code] = 1
  return t
})()

/** Functions whose effect outlives the query: a pool must reset after them. */
const SESSION_FUNCTIONS = /pg_advisory_(?:xact_)?lock|pg_advisory_lock|set_config|pg_try_advisory_lock|dblink_connect/i

/** Command tags that change session state (cheap: most tags fail the first test). */
const changesSession = (tag: string): boolean => {
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

/** A named statement the server lost (26000), already has (42P05), or whose plan changed result type (0A000). */
const isStaleStatement = (e: Errors.PostgresError): boolean =>
  e.sqlstate === "26000" ||
  e.sqlstate === "42P05" ||
  (e.sqlstate === "0A000" && /cached plan must not change result type/.test(e.message))

/** CopyBothResponse (replication) outside a replication connection: nothing can answer it. */
const copyBothError = (): SessionError =>
  new Errors.ProtocolError({
    message: "the server started a COPY BOTH (replication) exchange, which effect-pg does not support; the connection was closed"
  })

const truncate = (sql: string): string => (sql.length > 80 ? `${sql.slice(0, 77)}...` : sql)

const safeCall = (f: () => void): void => {
  try {
    f()
  } catch (e) {
    // a user callback threw: report it, never let it break the protocol state
    queueMicrotask(() => {
      throw e
    })
  }
}

const toIntrospected = (row: PgRecord.Record): IntrospectedType => ({
  oid: Number(row.get("oid")),
  name: String(row.get("name")),
  schema: String(row.get("schema")),
  kind: String(row.get("kind")),
  elemOid: Number(row.get("elemOid") ?? 0),
  baseOid: Number(row.get("baseOid") ?? 0),
  rangeSubtypeOid: Number(row.get("rangeSubtypeOid") ?? 0),
  attrNames: (row.get("attrNames") as ReadonlyArray<string> | null) ?? [],
  attrOids: ((row.get("attrOids") as ReadonlyArray<unknown> | null) ?? []).map(Number)
})

