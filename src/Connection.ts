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
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Cursor from "./Cursor.js"
import * as Errors from "./Errors.js"
import * as Codecs from "./connection/userCodecs.js"
import type * as CodecOptions from "./connection/userCodecOptions.js"
import * as Copy from "./connection/copy/effects.js"
import type * as CopyOptions from "./connection/copy/options.js"
import type * as Options from "./connection/connectOptions.js"
import { parseServerVersion, resolveOptions } from "./connection/connectOptions.js"
import * as Notify from "./connection/listeners.js"
import * as SessionReset from "./connection/sessionReset.js"
import * as Spans from "./observability/spans.js"
import * as Core from "./connection/Core.js"
import type * as Query from "./connection/query.js"
import type { QueryError, QueryLogger, QueryOptions } from "./connection/query.js"
import * as Rows from "./connection/rowOptions.js"
import type { FetchOptions, RowOf } from "./connection/rowOptions.js"
import * as ConnectProgress from "./connection/connectProgress.js"
import * as Startup from "./connection/startup.js"
import * as PreparedStatement from "./PreparedStatement.js"
import type * as Reader from "./protocol/Reader.js"
import type * as PgRecord from "./Record.js"
import * as Transaction from "./Transaction.js"
import { TypeRegistry } from "./types/Registry.js"
import * as TxStatus from "./connection/txStatus.js"

export {
  /** Parses `server_version` ("15.4 (Debian ...)", "16beta2") like asyncpg. */
  parseServerVersion,
  /** Resolves options (DSN, PG* variables, defaults) or fails with an InterfaceError. */
  resolveOptions
} from "./connection/connectOptions.js"

export type {
  /** Connection options: asyncpg's `connect()` arguments, camelCased. */
  ConnectOptions,
  /** The server's version, as asyncpg reports it. */
  ServerVersion
} from "./connection/connectOptions.js"

export type {
  /** Options of `fetch`, `fetchrow`, `fetchmany`, `prepare`, `cursorManual`: a timeout and how rows are built. */
  FetchOptions,
  /** Options of `fetchval`: a timeout, the column and a Schema for the value. */
  FetchvalOptions,
  /** How the rows of one call are built: `recordClass` or `schema`. */
  RowOptions,
  /** The row type of a call with options `O` on a connection whose rows are `Default`. */
  RowOf,
  /** A schema rows can be decoded with. */
  RowSchema,
  /** The value type of `fetchval` with options `O`. */
  ValueOf
} from "./connection/rowOptions.js"

type ConnectOptions = Options.ConnectOptions
type ServerVersion = Options.ServerVersion

/**
 * The row type of a connection opened with options `O`: its `recordClass`'s
 * rows, else {@link PgRecord.Record}.
 */
export type DefaultRowOf<O> = O extends { readonly recordClass: PgRecord.RecordFactory<infer R> } ? R : PgRecord.Record

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

/**
 * A connection to a PostgreSQL server. `Row` is a row of a query that asks
 * for nothing else: a {@link PgRecord.Record}, or what the connection's
 * `recordClass` builds.
 */
export interface Connection<Row = PgRecord.Record> {
  readonly [TypeId]: typeof TypeId
  /** Runs a command; returns its status (`"INSERT 0 1"`). Without args a multi-statement script runs over the simple protocol. */
  execute(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<string, QueryError>
  /**
   * Runs a query; returns all its rows, built by `options.recordClass` or
   * decoded by `options.schema` (a row that does not match: RowDecodeError).
   */
  fetch<O extends FetchOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<ReadonlyArray<RowOf<O, Row>>, QueryError>
  /** Runs a query; returns its first row (built as in `fetch`), or null. */
  fetchrow<O extends FetchOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<RowOf<O, Row> | null, QueryError>
  /**
   * Runs a query; returns one value of its first row (column 0 by default;
   * decoded by `options.schema` when given), or null when there is no row.
   */
  fetchval<O extends Rows.FetchvalOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<Rows.ValueOf<O> | null, QueryError>
  /** Runs a statement once per argument set, pipelined, in one implicit transaction: all or nothing. */
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, QueryError>
  /** Runs a query once per argument set, pipelined, all or nothing; returns the rows of each. */
  fetchmany<O extends FetchOptions = QueryOptions>(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: O
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<RowOf<O, Row>>>, QueryError>
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
  prepare<O extends FetchOptions = QueryOptions>(
    sql: string,
    options?: O
  ): Effect.Effect<PreparedStatement.PreparedStatement<RowOf<O, Row>>, QueryError>
  /**
   * The rows of a query as a stream, `prefetch` (default 50, at most
   * 2^31 - 1) per round trip through a server portal. Opens a transaction
   * for the stream's lifetime when the connection is not in one, committed
   * when the stream is read to the end (a failed COMMIT is the stream's
   * error); streams consumed at once (`Stream.merge`) share it, and one
   * that fails rolls it back for all (see `Cursor`).
   */
  cursor<O extends Cursor.CursorOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Stream.Stream<RowOf<O, Row>, QueryError>
  /**
   * A scrollable SQL cursor (`DECLARE ... SCROLL CURSOR`), closed with the
   * scope. Outside a transaction it opens one (shared with the cursors open
   * at the same time), committed when the scope closes with success.
   */
  cursorManual<O extends FetchOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<Cursor.Cursor<RowOf<O, Row>>, QueryError, Scope.Scope>
  /**
   * A transaction for the scope: committed when the scope closes with
   * success, rolled back on failure or interruption. Inside a transaction
   * it is a savepoint.
   *
   * A scope finalizer cannot fail: a COMMIT that fails at scope close (a
   * deferred constraint, a transaction a caught error aborted, a connection
   * lost meanwhile) is a **defect**, the typed error as its value. When you
   * need that error typed, end the transaction yourself with `tx.commit()`
   * (the scope then has nothing left to do), or use the combinator form
   * `conn.transaction(effect)`.
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
   * Encodes and decodes `typeName` (looked up in pg_type in `schema`; in
   * `pg_catalog` the SQL spellings `integer`, `double precision`,
   * `character varying`, ... work too, in any case) with your functions on
   * this connection. Cached statements are dropped. The driver's own
   * catalog queries keep the built-in codecs.
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

/** What `close()`/`terminate()` of a released pool connection do: nothing to the session (another borrower's now), and a warning. */
const staleWarning = (method: string): Effect.Effect<void> =>
  Effect.logWarning(
    `effect-pg: ${method} of a connection already released to the pool did nothing (the pool may have lent it to someone else); call it while the lease lasts, or not at all`
  )

/** @internal */
export class ConnectionImpl<Row = PgRecord.Record> extends Core.SessionHandle<Row> implements Connection<Row> {
  readonly [TypeId]: typeof TypeId = TypeId
  close(): Effect.Effect<void> {
    // a handle kept after its lease ended must not close the next borrower's connection
    if (this.isStale()) return staleWarning("close()")
    return Effect.callback<void>((resume) => {
      this.session.close(() => resume(Effect.void))
    })
  }

  terminate(): Effect.Effect<void> {
    if (this.isStale()) return staleWarning("terminate()")
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

  prepare<O extends FetchOptions = QueryOptions>(
    sql: string,
    options?: O
  ): Effect.Effect<PreparedStatement.PreparedStatement<RowOf<O, Row>>, QueryError> {
    return PreparedStatement.make<RowOf<O, Row>>(this, sql, options)
  }

  cursor<O extends Cursor.CursorOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Stream.Stream<RowOf<O, Row>, QueryError> {
    return Cursor.stream<RowOf<O, Row>>(this, sql, args, options)
  }

  cursorManual<O extends FetchOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<Cursor.Cursor<RowOf<O, Row>>, QueryError, Scope.Scope> {
    return Cursor.manual<RowOf<O, Row>>(this, sql, args, options)
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
    this.assertLive("addLogListener")
    Notify.addLogListener(this.session, listener)
  }

  removeLogListener(listener: LogListener): void {
    if (this.isStale()) return
    Notify.removeLogListener(this.session, listener)
  }

  addTerminationListener(listener: TerminationListener): void {
    this.assertLive("addTerminationListener")
    this.session.terminationListeners.add(listener)
  }

  removeTerminationListener(listener: TerminationListener): void {
    if (this.isStale()) return
    this.session.terminationListeners.delete(listener)
  }

  addQueryLogger(logger: QueryLogger): void {
    this.assertLive("addQueryLogger")
    const loggers = this.session.queryLoggers ?? new Set<QueryLogger>()
    loggers.add(logger)
    this.session.queryLoggers = loggers
  }

  removeQueryLogger(logger: QueryLogger): void {
    if (this.isStale()) return
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
    return Effect.sync(() => {
      if (!this.isStale()) Codecs.reloadSchemaState(this.session)
    })
  }

  reset(options?: QueryOptions): Effect.Effect<void, QueryError> {
    return SessionReset.resetSession(this, options)
  }
}

/**
 * Termination listeners that belong to the library (a pool's), not to a user: a reset keeps them.
 *
 * @internal
 */
export const ownListeners: WeakSet<object> = SessionReset.ownListeners

/**
 * Forgets what users of the session added on the client: LISTEN callbacks,
 * log listeners, query loggers, termination listeners (but the library's own)
 * and managed transactions. Half of every reset; a pool runs it on release.
 *
 * @internal
 */
export const forgetClientState: (session: Core.SessionHandle["session"]) => void = SessionReset.forgetClientState

/**
 * Resets a connection for its next user, as asyncpg's `Connection.reset`:
 * ROLLBACK when in a transaction, then `SELECT pg_advisory_unlock_all();
 * CLOSE ALL; UNLISTEN *; SET SESSION AUTHORIZATION DEFAULT; RESET ALL;
 * DISCARD TEMP; DISCARD SEQUENCES;`;
 * forgets LISTEN callbacks, log listeners, query loggers, termination
 * listeners and managed transactions. A pool writes the same reset into the
 * pipeline on release instead of waiting for it.
 */
export const resetSession: (conn: Connection<unknown>, options?: QueryOptions) => Effect.Effect<void, QueryError> = SessionReset.resetSession

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

/** Opens a connection that the caller must close (`conn.close()`). */
export const connectUnscoped = <O extends ConnectOptions = ConnectOptions>(
  input?: string | O
): Effect.Effect<Connection<DefaultRowOf<O>>, ConnectError> =>
  Effect.flatMap(resolveOptions(input), (resolved) => {
    const options: ConnectOptions = typeof input === "string" ? { dsn: input } : (input ?? {})
    const connectTimeoutMs = resolved.connectTimeoutMs ?? 60_000
    return Effect.callback<Connection<DefaultRowOf<O>>, ConnectError>((resume) => {
      const attempt = Startup.connect(
        { ...resolved, connectTimeoutMs },
        {
          statementCacheSize: options.statementCacheSize ?? 100,
          maxCacheableStatementSize: options.maxCacheableStatementSize ?? 15 * 1024,
          maxCachedStatementLifetime:
            options.maxCachedStatementLifetime === undefined ? 300_000 : Core.toMillis(options.maxCachedStatementLifetime),
          // rows leave the session as Records; the recordClass is applied at the API (rowOptions.ts)
          recordFactory: undefined,
          registry: new TypeRegistry(options.types),
          prepare: options.prepare ?? true
        },
        (err, session) => {
          if (err !== undefined || session === undefined) resume(Effect.fail(err as ConnectError))
          else {
            session.collectNotices = options.logNotices ?? true
            Rows.setDefaultRecordClass(session, options.recordClass)
            resume(Effect.succeed(new ConnectionImpl<DefaultRowOf<O>>(session, Core.toMillis(options.commandTimeout))))
          }
        },
        ConnectProgress.callbackOf(input)
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
export const connect = <O extends ConnectOptions = ConnectOptions>(
  input?: string | O
): Effect.Effect<Connection<DefaultRowOf<O>>, ConnectError, Scope.Scope> =>
  Effect.acquireRelease(connectUnscoped(input), (conn) => conn.close())
