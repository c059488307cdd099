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
import * as Errors from "./Errors.js"
import * as Dsn from "./internal/dsn.js"
import { Session, Task, type Callback, type ExecuteResult, type SessionError } from "./internal/Session.js"
import type * as PgRecord from "./Record.js"
import { TypeRegistry, type RegistryOptions } from "./types/Registry.js"

/** Connection options: asyncpg's `connect()` arguments, camelCased. */
export interface ConnectOptions extends Dsn.ConnectInput {
  /** a libpq URL (`postgres://user@host:5432/db?sslmode=require`) or `key=value` string */
  readonly dsn?: string
  /** how long to wait for the connection to be established (default 60 seconds) */
  readonly timeout?: Duration.Input
  /** default timeout of every query on this connection (default none) */
  readonly commandTimeout?: Duration.Input
  /** size of the prepared-statement LRU cache; 0 disables it (default 100) */
  readonly statementCacheSize?: number
  /** a cached statement older than this is prepared again (default 300 seconds; 0 = forever) */
  readonly maxCachedStatementLifetime?: Duration.Input
  /** SQL longer than this (characters) is never cached (default 15 KiB) */
  readonly maxCacheableStatementSize?: number
  /** builds the row objects instead of the default {@link PgRecord.Record} */
  readonly recordClass?: PgRecord.RecordFactory<unknown>
  /** how some types are decoded (numeric as string or number, int8 as bigint ...) */
  readonly types?: RegistryOptions
}

/** Options every query method takes. */
export interface QueryOptions {
  /** fail with `CommandTimeoutError` (and cancel the query on the server) after this long */
  readonly timeout?: Duration.Input
}

/** Every error a query can fail with. */
export type QueryError =
  | Errors.PostgresError
  | Errors.PostgresConnectionError
  | Errors.ConnectionDoesNotExistError
  | Errors.InterfaceError
  | Errors.ProtocolError
  | Errors.DataError
  | Errors.CommandTimeoutError

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
  /** @internal the session underneath */
  readonly session: Session
}

const toMillis = (d: Duration.Input | undefined): number => (d === undefined ? 0 : Duration.toMillis(d))

const releasedError = () =>
  new Errors.InterfaceError({
    message: "this connection has been released back to the pool; acquire a new one to run more queries"
  })

/**
 * Guard shared by the views of one session: a pool hands out a view per
 * lease and marks it released when the lease ends.
 */
export interface Lease {
  released: boolean
}

/** @internal */
export class ConnectionImpl implements Connection {
  readonly [TypeId]: typeof TypeId = TypeId
  constructor(
    readonly session: Session,
    readonly commandTimeoutMs: number,
    readonly lease: Lease | undefined = undefined
  ) {}

  /** Fails when this view may no longer be used. */
  guard(): SessionError | Errors.InterfaceError | undefined {
    if (this.lease !== undefined && this.lease.released) return releasedError()
    if (this.session.closed) {
      return new Errors.ConnectionDoesNotExistError({ message: "the connection is closed; acquire or open a new one" })
    }
    return undefined
  }

  /**
   * Runs one protocol task as an Effect: interruption or a timeout abandons
   * it (cancel on the server, drain to ReadyForQuery) before the Effect ends.
   */
  run<A>(options: QueryOptions | undefined, sql: string, start: (cb: Callback<A>) => Task): Effect.Effect<A, QueryError> {
    const timeoutMs = options?.timeout !== undefined ? toMillis(options.timeout) : this.commandTimeoutMs
    const session = this.session
    return Effect.callback<A, QueryError>((resume) => {
      const bad = this.guard()
      if (bad !== undefined) {
        resume(Effect.fail(bad))
        return
      }
      let timer: NodeJS.Timeout | undefined
      const task = start((err, value) => {
        if (timer !== undefined) clearTimeout(timer)
        resume(err !== undefined ? Effect.fail(err) : Effect.succeed(value as A))
      })
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          timer = undefined
          task.abandon(session, () =>
            resume(
              Effect.fail(
                new Errors.CommandTimeoutError({
                  message: `the query did not finish within ${timeoutMs} ms and was cancelled; raise the timeout or make the query faster`,
                  timeoutMs,
                  query: sql
                })
              )
            )
          )
        }, timeoutMs)
      }
      return Effect.callback<void>((resumeCancel) => {
        if (timer !== undefined) clearTimeout(timer)
        task.abandon(session, () => resumeCancel(Effect.void))
      })
    })
  }

  execute(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<string, QueryError> {
    if (args === undefined || args.length === 0) {
      return this.run<string>(options, sql, (cb) => {
        const task = new Task()
        task.request = this.session.simpleQuery(sql, cb)
        return task
      })
    }
    return this.run<string>(options, sql, (cb) => this.session.query(sql, args, (err, r) => cb(err, r?.status)))
  }

  fetch<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<ReadonlyArray<R>, QueryError> {
    return this.run<ReadonlyArray<R>>(options, sql, (cb) =>
      this.session.query(sql, args ?? [], (err, r) => cb(err, r?.rows as Array<R> | undefined))
    )
  }

  fetchrow<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<R | null, QueryError> {
    return this.run<R | null>(options, sql, (cb) =>
      this.session.query(sql, args ?? [], (err, r) => cb(err, r === undefined ? undefined : ((r.rows[0] as R | undefined) ?? null)))
    )
  }

  fetchval(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: QueryOptions & { readonly column?: number | string }
  ): Effect.Effect<unknown, QueryError> {
    const column = options?.column ?? 0
    return this.run<unknown>(options, sql, (cb) =>
      this.session.query(sql, args ?? [], (err, r) => {
        if (err !== undefined || r === undefined) return cb(err, undefined)
        const row = r.rows[0] as PgRecord.Record | undefined
        if (row === undefined) return cb(undefined, null)
        try {
          cb(undefined, row.get(column))
        } catch (e) {
          cb(new Errors.InterfaceError({ message: `fetchval: ${(e as Error).message}` }), undefined)
        }
      })
    )
  }

  private many(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    skipRows: boolean,
    options: QueryOptions | undefined
  ): Effect.Effect<Array<ExecuteResult>, QueryError> {
    const sets = Array.from(argsList)
    return this.run<Array<ExecuteResult>>(options, sql, (cb) => {
      const task = new Task()
      if (sets.length === 0) {
        cb(undefined, [])
        return task
      }
      this.session.statement(sql, (err, st) => {
        if (task.abandoned) return
        if (err !== undefined || st === undefined) return cb(err, undefined)
        const encoded = new Array<ReadonlyArray<import("./protocol/Writer.js").WireValue>>(sets.length)
        for (let i = 0; i < sets.length; i++) {
          const values = this.session.encodeArgs(st, sets[i]!)
          if (!Array.isArray(values)) {
            const e = values
            return cb(
              e._tag === "DataError" || e._tag === "InterfaceError"
                ? Object.assign(e, { message: `argument set ${i}: ${e.message}`, row: i })
                : e,
              undefined
            )
          }
          encoded[i] = values
        }
        task.request = this.session.execute(st, encoded, skipRows, cb)
      })
      return task
    })
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
    return this.session.txStatus !== 0x49
  }
}

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
      const timeout = options.timeout !== undefined ? toMillis(options.timeout) : undefined
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
      const attempt = Session.connect(
        { ...resolved, connectTimeoutMs },
        {
          statementCacheSize: options.statementCacheSize ?? 100,
          maxCacheableStatementSize: options.maxCacheableStatementSize ?? 15 * 1024,
          maxCachedStatementLifetime:
            options.maxCachedStatementLifetime === undefined ? 300_000 : toMillis(options.maxCachedStatementLifetime),
          recordFactory: options.recordClass,
          registry: new TypeRegistry(options.types)
        },
        (err, session) => {
          if (err !== undefined || session === undefined) resume(Effect.fail(err as ConnectError))
          else resume(Effect.succeed(new ConnectionImpl(session, toMillis(options.commandTimeout))))
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
