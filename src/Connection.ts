/**
 * A PostgreSQL connection: one server session with asyncpg's query API, each
 * call an `Effect` with typed errors.
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Connection from "effect-pg/Connection"
 *
 * const program = Effect.gen(function* () {
 *   const conn = yield* Connection.connect("postgres://localhost/test")
 *   const rows = yield* conn.fetch("SELECT $1::int + 1 AS n", [41])
 *   return rows[0]!.get("n") // 42
 * }).pipe(Effect.scoped)
 * ```
 *
 * Queries are pipelined: each is written to the socket as soon as it is made,
 * and concurrent callers on one connection each get their own result.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Cursor from "./Cursor.js"
import * as Errors from "./Errors.js"
import * as Codecs from "./connection/userCodecs.js"
import type * as CodecOptions from "./connection/userCodecOptions.js"
import * as Copy from "./connection/copy/effects.js"
import type * as CopyOptions from "./connection/copy/options.js"
import * as Dsn from "./connection/options.js"
import * as Notify from "./connection/listeners.js"
import * as Reset from "./connection/reset.js"
import * as Spans from "./observability/spans.js"
import * as Core from "./connection/Core.js"
import type * as Query from "./connection/query.js"
import type { QueryError, QueryLogger, QueryOptions } from "./connection/query.js"
import type { ExecuteResult } from "./connection/rows.js"
import { Session, Task } from "./connection/Session.js"
import * as Startup from "./connection/startup.js"
import * as PreparedStatement from "./PreparedStatement.js"
import type * as Reader from "./protocol/Reader.js"
import type * as PgRecord from "./Record.js"
import * as Transaction from "./Transaction.js"
import { TypeRegistry, type RegistryOptions } from "./types/Registry.js"
import * as TxStatus from "./connection/txStatus.js"

/** Connection options: asyncpg's `connect()` arguments, camelCased. */
export interface ConnectOptions extends Dsn.ConnectInput {
  /** a libpq URL (`postgres://user@host:5432/db?sslmode=require`) or `key=value` string */
  readonly dsn?: string
  /** how long to wait for the connection to be established (default 60 seconds) */
  readonly timeout?: Duration.Input
  /** default timeout of every query on this connection (default none) */
  readonly commandTimeout?: Duration.Input
  /**
   * size of the prepared-statement LRU cache (default 100); 0 disables it,
   * which implies `prepare: false`
   */
  readonly statementCacheSize?: number
  /**
   * `false`: keep no named prepared statement on the server between
   * requests (postgres.js's name for it). Every query parses its SQL as the
   * unnamed statement and binds, describes and executes it under one Sync;
   * the parameter and result types of each SQL text are learnt once
   * (Parse/Describe) and kept in a small per-connection cache, and rows are
   * decoded by the columns the server reports for that execution. Use it
   * behind a pooler in transaction mode (PgBouncer `pool_mode =
   * transaction`), which runs each transaction on whichever server
   * connection is free. `conn.prepare()` and cursors still make named
   * statements: use them inside a transaction there. Costs a Parse per
   * query on the server. Default `true` (named statements, cached).
   */
  readonly prepare?: boolean
  /** a cached statement older than this is prepared again (default 300 seconds; 0 = forever) */
  readonly maxCachedStatementLifetime?: Duration.Input
  /** SQL longer than this (characters) is never cached (default 15 KiB) */
  readonly maxCacheableStatementSize?: number
  /** builds the row objects instead of the default {@link PgRecord.Record} */
  readonly recordClass?: PgRecord.RecordFactory<unknown>
  /** how some types are decoded (numeric as string or number, int8 as bigint ...) */
  readonly types?: RegistryOptions
  /**
   * log the server's notices (NOTICE, WARNING, ...) through Effect's logger,
   * in the fiber of the query that caused them, at the matching level
   * (default true)
   */
  readonly logNotices?: boolean
}

export type {
  /** One finished query, as query loggers see it. */
  LoggedQuery,
  /** Every error a query can fail with. */
  QueryError,
  /** Called after every query of the connection (`addQueryLogger`). */
  QueryLogger,
  /** Options every query method takes. */
  QueryOptions
} from "./connection/query.js"

/**
 * Guard shared by the views of one session: a pool hands out a view per
 * lease and marks it released when the lease ends.
 */
export type Lease = Query.Lease

/** Every error connecting can fail with. */
export type ConnectError = Errors.PostgresConnectionError | Errors.PostgresError | Errors.InterfaceError | Errors.ProtocolError

/** The server's version, as asyncpg reports it. */
export interface ServerVersion {
  readonly major: number
  readonly minor: number
  readonly micro: number
  readonly releaselevel: string
  readonly serial: number
}

/** @since 0.1.0 */
export const TypeId: unique symbol = Symbol.for("effect-pg/Connection")

/** A NOTIFY received on a channel the connection listens to. */
export type Notification = Reader.Notification

/** Called with each notification of a channel (`addListener`). */
export type NotificationCallback = (notification: Notification) => void

/** Called with each notice the server sends (NOTICE, WARNING, ...), PostgresError-shaped. */
export type LogListener = (notice: Errors.PostgresError) => void

/** Called once when the connection closes: `undefined` for a normal close, else why it broke. */
export type TerminationListener = (error: QueryError | undefined) => void

/** Options of `setTypeCodec`: `format` (default "text"), `encoder`, `decoder`, `schema` (default "public"). */
export type TypeCodecOptions<A> = CodecOptions.TypeCodecOptions<A>

/** Options of `setBuiltinTypeCodec`: `codecName` (a pg_catalog type), `schema` (default "public"). */
export type BuiltinCodecOptions = CodecOptions.BuiltinCodecOptions

export {
  /** A COPY's file, Node stream or iterable failed; the COPY was rolled back or cancelled. */
  CopyStreamError,
  type CopyFormat,
  type CopyFromQueryOptions,
  type CopyFromTableOptions,
  type CopyInOptions,
  type CopyOutOptions,
  type CopyOutput,
  type CopyRecords,
  type CopyRecordsOptions,
  type CopySource,
  type CopyToTableOptions
} from "./connection/copy/options.js"

/** A connection to a PostgreSQL server. */
export interface Connection {
  readonly [TypeId]: typeof TypeId
  /** Runs a command; returns its status (`"INSERT 0 1"`). Without args a multi-statement script runs over the simple protocol. */
  execute(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<string, QueryError>
  /** Runs a query; returns all its rows. */
  fetch<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<ReadonlyArray<R>, QueryError>
  /** Runs a query; returns its first row, or null. */
  fetchrow<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<R | null, QueryError>
  /** Runs a query; returns one value of its first row (column 0 by default), or null when there is no row. */
  fetchval(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions & { readonly column?: number | string }): Effect.Effect<unknown, QueryError>
  /** Runs a statement once per argument set, pipelined, in one implicit transaction: all or nothing. */
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, QueryError>
  /** Runs a query once per argument set, pipelined, all or nothing; returns the rows of each. */
  fetchmany<R = PgRecord.Record>(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: QueryOptions
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<R>>, QueryError>
  /** Closes gracefully (Terminate); pending queries fail. */
  close(): Effect.Effect<void>
  /** Closes the socket at once. */
  terminate(): Effect.Effect<void>
  /** True once closed, by either side. */
  isClosed(): boolean
  /** The backend process id (what `pg_backend_pid()` returns). */
  getServerPid(): number
  /** The server version. */
  getServerVersion(): ServerVersion
  /** Server parameters reported by the server (`server_version`, `TimeZone`, ...). */
  getSettings(): ReadonlyMap<string, string>
  /** True inside an explicit transaction block (also a failed one). */
  isInTransaction(): boolean
  /**
   * Prepares `sql` as a named statement of its own. A syntax error fails
   * here, with its position. Behind a pooler in transaction mode (PgBouncer)
   * prepare and use it inside one transaction: the statement lives on one
   * server connection (also with `prepare: false`).
   */
  prepare<R = PgRecord.Record>(sql: string, options?: QueryOptions): Effect.Effect<PreparedStatement.PreparedStatement<R>, QueryError>
  /**
   * The rows of a query as a stream, `prefetch` (default 50) per round trip
   * through a server portal. Opens a transaction for the stream's lifetime
   * when the connection is not in one (see `Cursor`).
   */
  cursor<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: Cursor.CursorOptions): Stream.Stream<R, QueryError>
  /** A scrollable SQL cursor (`DECLARE ... SCROLL CURSOR`), closed with the scope. */
  cursorManual<R = PgRecord.Record>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: QueryOptions
  ): Effect.Effect<Cursor.Cursor<R>, QueryError, Scope.Scope>
  /**
   * A transaction for the scope: committed when the scope closes with
   * success, rolled back on failure or interruption. Inside a transaction
   * it is a savepoint.
   */
  transaction(options?: Transaction.TransactionOptions): Effect.Effect<Transaction.Transaction, QueryError, Scope.Scope>
  /** Runs `effect` in a transaction (a savepoint when nested): commit on success, rollback on failure or interruption. */
  transaction<A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: Transaction.TransactionOptions
  ): Effect.Effect<A, E | QueryError, R>
  /** Calls `callback` for each NOTIFY on `channel` (LISTEN on the channel's first callback). */
  addListener(channel: string, callback: NotificationCallback): Effect.Effect<void, QueryError>
  /** Removes a callback (UNLISTEN after the channel's last one). */
  removeListener(channel: string, callback: NotificationCallback): Effect.Effect<void, QueryError>
  /** The notifications of `channel` as a stream: LISTEN when it starts, UNLISTEN when it ends. */
  listen(channel: string): Stream.Stream<Notification, QueryError>
  /** Calls `listener` with each notice (NOTICE, WARNING, ...) the server sends. */
  addLogListener(listener: LogListener): void
  /** Removes a notice listener. */
  removeLogListener(listener: LogListener): void
  /** Calls `listener` once when the connection closes, with the reason. */
  addTerminationListener(listener: TerminationListener): void
  /** Removes a termination listener. */
  removeTerminationListener(listener: TerminationListener): void
  /** Calls `logger` after every query (arguments redacted). No logger, no cost. */
  addQueryLogger(logger: QueryLogger): void
  /** Removes a query logger. */
  removeQueryLogger(logger: QueryLogger): void
  /**
   * Encodes and decodes `typeName` (looked up in pg_type in `schema`) with
   * your functions on this connection. Cached statements are dropped.
   */
  setTypeCodec<A>(typeName: string, options: TypeCodecOptions<A>): Effect.Effect<void, QueryError>
  /** Exchanges `typeName` as the built-in type `codecName` (extension types wire-compatible with one). */
  setBuiltinTypeCodec(typeName: string, options: BuiltinCodecOptions): Effect.Effect<void, QueryError>
  /** Restores the default codec of `typeName`. */
  resetTypeCodec(typeName: string, options?: { readonly schema?: string | undefined }): Effect.Effect<void, QueryError>
  /** Forgets introspected types and cached statements (run after DDL changed types); your codecs stay. */
  reloadSchemaState(): Effect.Effect<void>
  /**
   * What a pool runs on release: ROLLBACK when in a transaction, then
   * asyncpg's reset (advisory locks, cursors, LISTENs, settings); forgets
   * listeners and log listeners.
   */
  reset(options?: QueryOptions): Effect.Effect<void, QueryError>
  /**
   * Copies a table (or `columns` of it) out with `COPY ... TO STDOUT` into
   * `output`: a file path (created or truncated), a Node `Writable` (not
   * ended) or an Effect `Sink` of bytes. Returns the status (`"COPY 1000"`).
   */
  copyFromTable<E = never, R = never>(
    table: string,
    options: CopyOptions.CopyFromTableOptions & { readonly output: CopyOptions.CopyOutput<E, R> }
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R>
  /** The data of `COPY table TO STDOUT` as a stream of ~64 KiB chunks (ending the stream early cancels the COPY). */
  copyFromTableStream(table: string, options?: CopyOptions.CopyFromTableOptions): Stream.Stream<Uint8Array, QueryError>
  /**
   * Copies the result of a query out with `COPY (query) TO STDOUT` into
   * `output`. COPY takes no parameters: `args` are inlined as literals
   * quoted by the server. Returns the status (`"COPY 1000"`).
   */
  copyFromQuery<E = never, R = never>(
    query: string,
    options: CopyOptions.CopyFromQueryOptions & { readonly output: CopyOptions.CopyOutput<E, R> }
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R>
  copyFromQuery<E = never, R = never>(
    query: string,
    args: ReadonlyArray<unknown>,
    options: CopyOptions.CopyFromQueryOptions & { readonly output: CopyOptions.CopyOutput<E, R> }
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R>
  /** The data of `COPY (query) TO STDOUT` as a stream of ~64 KiB chunks. */
  copyFromQueryStream(
    query: string,
    args?: ReadonlyArray<unknown>,
    options?: CopyOptions.CopyFromQueryOptions
  ): Stream.Stream<Uint8Array, QueryError>
  /**
   * Loads `source` (a file path, Node `Readable`, async iterable or
   * `Stream` of bytes in `format`) with `COPY ... FROM STDIN`, paced by the
   * socket. If the source fails, the Effect is interrupted or times out,
   * nothing is inserted and the connection stays usable. Returns the status.
   */
  copyToTable<E = never, R = never>(
    table: string,
    options: CopyOptions.CopyToTableOptions<E, R>
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R>
  /**
   * Loads records (arrays of values in `columns` order) with a binary COPY,
   * encoded by the columns' codecs (text COPY when a column's type has no
   * binary encoder). All or nothing; a value that does not fit is a
   * `DataError` naming its record and column. Returns the status.
   */
  copyRecordsToTable<E = never, R = never>(
    table: string,
    options: CopyOptions.CopyRecordsOptions<E, R>
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R>
}

/** Checks the numeric connection options; throws an Error saying which one is wrong. */
const checkNumericOptions = (options: ConnectOptions): void => {
  const size = options.statementCacheSize
  if (size !== undefined && !(Number.isInteger(size) && size >= 0)) {
    throw new Error(`statementCacheSize must be a whole number of 0 or more (0 disables the cache), got ${String(size)}`)
  }
  const max = options.maxCacheableStatementSize
  if (max !== undefined && !(max >= 0)) {
    throw new Error(`maxCacheableStatementSize must be 0 or more, got ${String(max)}`)
  }
  for (const [name, d] of [["commandTimeout", options.commandTimeout], ["timeout", options.timeout]] as const) {
    if (d === undefined) continue
    const ms = Core.timeoutMillis(d, name)
    if (typeof ms === "string") throw new Error(ms)
  }
  // a lifetime is compared with Date.now(), not put in a timer: any length is fine
  const lifetime = options.maxCachedStatementLifetime
  if (lifetime !== undefined && ((typeof lifetime === "number" && Number.isNaN(lifetime)) || !(Core.toMillis(lifetime) >= 0))) {
    throw new Error(`maxCachedStatementLifetime must be a duration of 0 or more (0 = forever), got ${String(lifetime)}`)
  }
}

/** @internal */
export class ConnectionImpl extends Core.SessionHandle implements Connection {
  readonly [TypeId]: typeof TypeId = TypeId
  private many(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    skipRows: boolean,
    options: QueryOptions | undefined
  ): Effect.Effect<Array<ExecuteResult>, QueryError> {
    let sets: Array<ReadonlyArray<unknown>>
    try {
      sets = Array.from(argsList)
    } catch (e) {
      // a hostile iterable: a typed error, not an exception thrown at the call
      return Effect.fail(
        new Errors.DataError({ message: `the argument sets could not be read (${e instanceof Error ? e.message : "the iterable threw"}); pass an array of argument arrays` })
      )
    }
    return this.run<Array<ExecuteResult>>(options, sql, (cb) => {
      const task = new Task()
      if (sets.length === 0) {
        cb(undefined, [])
        return task
      }
      // encoded as they are written, in chunks (see Session.execute)
      return this.session.many(sql, sets, skipRows, cb, task)
    }, sets)
  }

  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, QueryError> {
    return Effect.asVoid(this.many(sql, argsList, true, options))
  }

  fetchmany<R = PgRecord.Record>(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: QueryOptions
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<R>>, QueryError> {
    return Effect.map(this.many(sql, argsList, false, options), (results) => results.map((r) => r.rows as Array<R>))
  }

  close(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      this.session.close(() => resume(Effect.void))
    })
  }

  terminate(): Effect.Effect<void> {
    return Effect.sync(() => this.session.destroy())
  }

  isClosed(): boolean {
    return this.session.closed
  }

  getServerPid(): number {
    return this.session.processId
  }

  getServerVersion(): ServerVersion {
    return parseServerVersion(this.session.parameters.get("server_version") ?? "")
  }

  getSettings(): ReadonlyMap<string, string> {
    return this.session.parameters
  }

  isInTransaction(): boolean {
    return this.session.txStatus !== TxStatus.IDLE
  }

  copyFromTable<E = never, R = never>(
    table: string,
    options: CopyOptions.CopyFromTableOptions & { readonly output: CopyOptions.CopyOutput<E, R> }
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R> {
    return Spans.copy(this.session, table, undefined, undefined, Copy.copyFromTable(this, table, options))
  }

  copyFromTableStream(table: string, options?: CopyOptions.CopyFromTableOptions): Stream.Stream<Uint8Array, QueryError> {
    return Spans.copyStream(this.session, table, undefined, undefined, Copy.copyFromTableStream(this, table, options))
  }

  copyFromQuery<E = never, R = never>(
    query: string,
    argsOrOptions: ReadonlyArray<unknown> | (CopyOptions.CopyFromQueryOptions & { readonly output: CopyOptions.CopyOutput<E, R> }),
    maybeOptions?: CopyOptions.CopyFromQueryOptions & { readonly output: CopyOptions.CopyOutput<E, R> }
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R> {
    const args = Array.isArray(argsOrOptions) ? (argsOrOptions as ReadonlyArray<unknown>) : undefined
    return Spans.copy(this.session, undefined, query, args, Array.isArray(argsOrOptions)
      ? Copy.copyFromQuery(this, query, argsOrOptions, maybeOptions!)
      : Copy.copyFromQuery(this, query, undefined, argsOrOptions as CopyOptions.CopyFromQueryOptions & { readonly output: CopyOptions.CopyOutput<E, R> }))
  }

  copyFromQueryStream(
    query: string,
    args?: ReadonlyArray<unknown>,
    options?: CopyOptions.CopyFromQueryOptions
  ): Stream.Stream<Uint8Array, QueryError> {
    return Spans.copyStream(this.session, undefined, query, args, Copy.copyFromQueryStream(this, query, args, options))
  }

  copyToTable<E = never, R = never>(
    table: string,
    options: CopyOptions.CopyToTableOptions<E, R>
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R> {
    return Spans.copy(this.session, table, undefined, undefined, Copy.copyToTable(this, table, options))
  }

  copyRecordsToTable<E = never, R = never>(
    table: string,
    options: CopyOptions.CopyRecordsOptions<E, R>
  ): Effect.Effect<string, QueryError | CopyOptions.CopyStreamError | E, R> {
    return Spans.copy(this.session, table, undefined, undefined, Copy.copyRecordsToTable(this, table, options))
  }

  prepare<R = PgRecord.Record>(sql: string, options?: QueryOptions): Effect.Effect<PreparedStatement.PreparedStatement<R>, QueryError> {
    return PreparedStatement.make<R>(this, sql, options)
  }

  cursor<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: Cursor.CursorOptions): Stream.Stream<R, QueryError> {
    return Cursor.stream<R>(this, sql, args, options)
  }

  cursorManual<R = PgRecord.Record>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: QueryOptions
  ): Effect.Effect<Cursor.Cursor<R>, QueryError, Scope.Scope> {
    return Cursor.manual<R>(this, sql, args, options)
  }

  transaction(options?: Transaction.TransactionOptions): Effect.Effect<Transaction.Transaction, QueryError, Scope.Scope>
  transaction<A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: Transaction.TransactionOptions
  ): Effect.Effect<A, E | QueryError, R>
  transaction<A, E, R>(
    effectOrOptions?: Effect.Effect<A, E, R> | Transaction.TransactionOptions,
    options?: Transaction.TransactionOptions
  ): Effect.Effect<Transaction.Transaction, QueryError, Scope.Scope> | Effect.Effect<A, E | QueryError, R> {
    return Effect.isEffect(effectOrOptions)
      ? Transaction.around(this, effectOrOptions as Effect.Effect<A, E, R>, options)
      : Transaction.scoped(this, effectOrOptions as Transaction.TransactionOptions | undefined)
  }

  addListener(channel: string, callback: NotificationCallback): Effect.Effect<void, QueryError> {
    return Notify.addListener(this, channel, callback)
  }

  removeListener(channel: string, callback: NotificationCallback): Effect.Effect<void, QueryError> {
    return Notify.removeListener(this, channel, callback)
  }

  listen(channel: string): Stream.Stream<Notification, QueryError> {
    return Notify.listen(this, channel)
  }

  addLogListener(listener: LogListener): void {
    Notify.addLogListener(this.session, listener)
  }

  removeLogListener(listener: LogListener): void {
    Notify.removeLogListener(this.session, listener)
  }

  addTerminationListener(listener: TerminationListener): void {
    this.session.terminationListeners.add(listener)
  }

  removeTerminationListener(listener: TerminationListener): void {
    this.session.terminationListeners.delete(listener)
  }

  addQueryLogger(logger: QueryLogger): void {
    const loggers = this.session.queryLoggers ?? new Set<QueryLogger>()
    loggers.add(logger)
    this.session.queryLoggers = loggers
  }

  removeQueryLogger(logger: QueryLogger): void {
    const loggers = this.session.queryLoggers
    if (loggers === undefined) return
    loggers.delete(logger)
    if (loggers.size === 0) this.session.queryLoggers = undefined
  }

  setTypeCodec<A>(typeName: string, options: TypeCodecOptions<A>): Effect.Effect<void, QueryError> {
    return Codecs.setTypeCodec(this, typeName, options)
  }

  setBuiltinTypeCodec(typeName: string, options: BuiltinCodecOptions): Effect.Effect<void, QueryError> {
    return Codecs.setBuiltinTypeCodec(this, typeName, options)
  }

  resetTypeCodec(typeName: string, options?: { readonly schema?: string | undefined }): Effect.Effect<void, QueryError> {
    return Codecs.resetTypeCodec(this, typeName, options)
  }

  reloadSchemaState(): Effect.Effect<void> {
    return Effect.sync(() => Codecs.reloadSchemaState(this.session))
  }

  reset(options?: QueryOptions): Effect.Effect<void, QueryError> {
    return resetSession(this, options)
  }
}

/**
 * Termination listeners that belong to the library (a pool's), not to a user: a reset keeps them.
 *
 * @internal
 */
export const ownListeners = new WeakSet<object>()

/**
 * Forgets what users of the session added on the client: LISTEN callbacks,
 * log listeners, query loggers, termination listeners (but the library's own)
 * and managed transactions. Half of every reset; a pool runs it on release.
 *
 * @internal
 */
export const forgetClientState = (session: Session): void => {
  Notify.clear(session)
  Transaction.forget(session)
  session.queryLoggers = undefined
  for (const l of session.terminationListeners) if (!ownListeners.has(l)) session.terminationListeners.delete(l)
}

/**
 * Resets a connection for its next user, as asyncpg's `Connection.reset`:
 * ROLLBACK when in a transaction, then `SELECT pg_advisory_unlock_all();
 * CLOSE ALL; UNLISTEN *; SET SESSION AUTHORIZATION DEFAULT; RESET ALL;`;
 * forgets LISTEN callbacks, log listeners, query loggers, termination
 * listeners and managed transactions. A pool writes the same reset into the
 * pipeline on release instead of waiting for it.
 */
export const resetSession = (conn: Connection, options?: QueryOptions): Effect.Effect<void, QueryError> =>
  Effect.suspend(() => {
    const session = Core.sessionOf(conn)
    forgetClientState(session)
    const script = (session.txStatus !== TxStatus.IDLE ? "ROLLBACK; " : "") + Reset.RESET_SCRIPT
    return Effect.andThen(
      conn.execute(script, undefined, options),
      Effect.sync(() => {
        session.stateDirty = false
      })
    )
  })

/**
 * Runs `effect` in a transaction on `conn`: committed when it succeeds,
 * rolled back when it fails or is interrupted; a savepoint when `conn` is
 * already in a transaction. Same as `conn.transaction(effect, options)`.
 */
export const withTransaction = <A, E, R>(
  conn: Connection,
  effect: Effect.Effect<A, E, R>,
  options?: Transaction.TransactionOptions
): Effect.Effect<A, E | QueryError, R> => conn.transaction(effect, options)

/** Parses `server_version` ("15.4 (Debian ...)", "16beta2") like asyncpg. */
export const parseServerVersion = (v: string): ServerVersion => {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(alpha|beta|rc|devel)(\d*))?/.exec(v.trim())
  if (!m) return { major: 0, minor: 0, micro: 0, releaselevel: "final", serial: 0 }
  const major = Number(m[1])
  return {
    major,
    minor: major >= 10 ? 0 : Number(m[2] ?? 0),
    micro: major >= 10 ? Number(m[2] ?? 0) : Number(m[3] ?? 0),
    releaselevel: m[4] === undefined ? "final" : m[4],
    serial: m[5] ? Number(m[5]) : 0
  }
}

/** Resolves options (DSN, PG* variables, defaults) or fails with an InterfaceError. */
export const resolveOptions = (input: string | ConnectOptions | undefined): Effect.Effect<Dsn.ResolvedConnectOptions, Errors.InterfaceError> =>
  Effect.try({
    try: () => {
      const options: ConnectOptions = typeof input === "string" ? { dsn: input } : (input ?? {})
      checkNumericOptions(options)
      // Infinity: no connect timeout (0 means none)
      const timeout = options.timeout !== undefined ? (Core.timeoutMillis(options.timeout, "timeout") as number) : undefined
      return Dsn.resolveConnectOptions({ ...options, ...(timeout !== undefined ? { connectTimeout: timeout } : {}) })
    },
    catch: (e) =>
      new Errors.InterfaceError({
        message: `invalid connection options: ${Errors.redactDsn(e instanceof Error ? e.message : String(e))}`
      })
  })

/** Opens a connection that the caller must close (`conn.close()`). */
export const connectUnscoped = (input?: string | ConnectOptions): Effect.Effect<Connection, ConnectError> =>
  Effect.flatMap(resolveOptions(input), (resolved) => {
    const options: ConnectOptions = typeof input === "string" ? { dsn: input } : (input ?? {})
    const connectTimeoutMs = resolved.connectTimeoutMs ?? 60_000
    return Effect.callback<Connection, ConnectError>((resume) => {
      const attempt = Startup.connect(
        { ...resolved, connectTimeoutMs },
        {
          statementCacheSize: options.statementCacheSize ?? 100,
          maxCacheableStatementSize: options.maxCacheableStatementSize ?? 15 * 1024,
          maxCachedStatementLifetime:
            options.maxCachedStatementLifetime === undefined ? 300_000 : Core.toMillis(options.maxCachedStatementLifetime),
          recordFactory: options.recordClass,
          registry: new TypeRegistry(options.types),
          prepare: options.prepare ?? true
        },
        (err, session) => {
          if (err !== undefined || session === undefined) resume(Effect.fail(err as ConnectError))
          else {
            session.collectNotices = options.logNotices ?? true
            resume(Effect.succeed(new ConnectionImpl(session, Core.toMillis(options.commandTimeout))))
          }
        }
      )
      return Effect.sync(() => attempt.abort())
    })
  })

/**
 * Opens a connection, closed when the scope closes.
 *
 * Accepts a DSN string or {@link ConnectOptions}; unset options come from the
 * `PG*` environment variables, `~/.pgpass` and libpq's defaults.
 */
export const connect = (input?: string | ConnectOptions): Effect.Effect<Connection, ConnectError, Scope.Scope> =>
  Effect.acquireRelease(connectUnscoped(input), (conn) => conn.close())
