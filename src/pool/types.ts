/**
 * The pool's public types: its options, its stats, its errors and the
 * service shape that `yield* PgPool` gives. Re-exported by `Pool.ts`.
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Connection from "../Connection.js"
import type * as Errors from "../Errors.js"
import type * as Copy from "../connection/copy/options.js"
import type * as PgRecord from "../Record.js"

/** A connection borrowed from the pool: the Connection API, usable until released. */
export type PoolConnection<Row = PgRecord.Record> = Connection.Connection<Row>

/** A user hook (init, setup, reset): any Effect; its failure becomes a {@link PoolHookError}. */
export type Hook = (conn: Connection.Connection) => Effect.Effect<unknown, unknown>

/** Pool options: asyncpg's `create_pool` arguments plus every `Connection.connect` option. */
export interface PoolOptions extends Connection.ConnectOptions {
  /** connections opened at start and kept open (default 10, or maxSize when that is smaller) */
  readonly minSize?: number
  /** hard cap on live connections (default 10) */
  readonly maxSize?: number
  /** a connection is replaced after serving this many queries (default 50,000) */
  readonly maxQueries?: number
  /** idle connections above minSize are closed after this long (default 300 seconds; 0 disables) */
  readonly maxInactiveConnectionLifetime?: Duration.Input
  /** makes a connection instead of `Connection.connectUnscoped` */
  readonly connect?: (options: Connection.ConnectOptions) => Effect.Effect<Connection.Connection, Connection.ConnectError>
  /**
   * how long a caller may wait for a connection when it gives no timeout of
   * its own: `acquire()` fails with AcquireTimeoutError, a pool-level query
   * too (default none: pool-level queries then wait up to their
   * commandTimeout, else until served). 0 or Infinity: none — unlike a
   * call's own `{ timeout }`, where 0 or below does not wait at all
   */
  readonly acquireTimeout?: Duration.Input
  /** how long closing one connection may take (Terminate, then the server closing its end) before the socket is destroyed (default 5 seconds) */
  readonly closeTimeout?: Duration.Input
  /** runs once on every new connection (type codecs, `SET timezone`) */
  readonly init?: Hook
  /**
   * runs every time a connection is acquired, before the caller sees it.
   * With a setup or reset hook, pool-level queries take a connection each
   * (no shared lanes), so the hooks run around every one of them.
   */
  readonly setup?: Hook
  /**
   * runs on release instead of the default reset (an open transaction is
   * always rolled back first); a failing or slow hook retires the connection
   */
  readonly reset?: Hook
  /** wraps each acquired connection (asyncpg's connection_class) */
  readonly connectionClass?: (conn: Connection.Connection) => Connection.Connection
  /** let pool-level one-shot queries share connections, pipelined (default true) */
  readonly pipelining?: boolean
  /**
   * pool-level queries of a fast statement (the server answers it in under
   * 1 ms on average) in flight on one shared connection before another
   * connection is opened for them (default 64). Slow or new statements spread
   * over connections first; all pipeline deeper once maxSize are in use.
   */
  readonly pipelineDepth?: number
  /** how long close() waits before logging the connections still out (default 60 seconds) */
  readonly closeWarningAfter?: Duration.Input
  /** callers allowed to wait for a connection at once; one more fails at once with PoolExhaustedError (default 0: no limit) */
  readonly maxWaiting?: number
  /**
   * a connection older than this (plus up to `maxLifetimeJitter` of it, at
   * random) is retired when it comes back or while idle, never handed out
   * (default none; pgxpool's MaxConnLifetime)
   */
  readonly maxLifetime?: Duration.Input
  /** fraction of maxLifetime added at random per connection (default 0.2) */
  readonly maxLifetimeJitter?: number
  /** a connection idle longer than this is pinged (empty query) before it is handed out by acquire (default 1 second; 0 disables) */
  readonly pingIdleThreshold?: Duration.Input
  /** how long a ping may take before the connection counts as dead and is replaced (default 2 seconds) */
  readonly pingTimeout?: Duration.Input
  /** idle connections idle longer than pingIdleThreshold are pinged this often; dead ones are replaced (default 1 minute; 0 disables) */
  readonly healthCheckPeriod?: Duration.Input
  /** logs (with the acquiring stack) a connection still borrowed after this long (default none) */
  readonly leakDetectionThreshold?: Duration.Input
  /** the pool's name on its spans and metrics (`db.client.connection.pool.name`; default "default") */
  readonly name?: string
  /** false: no spans from this pool or its connections, even with a tracer installed (default true; without a tracer none are made) */
  readonly tracing?: boolean
}

/** Options of `acquire` and `release`. */
export interface AcquireOptions {
  /**
   * fail with `AcquireTimeoutError` when no connection is free within this
   * long. As asyncpg's `acquire(timeout=0)`: 0 or below does not wait — it
   * succeeds only when an idle connection can be handed out right now (nobody
   * waiting ahead, no ping due; the `setup` hook still runs), else fails at
   * once (a try-acquire). `Infinity` means no timeout, whatever the pool's
   * `acquireTimeout`; NaN or a value that is not a duration is an
   * `InterfaceError`. For `release`, it bounds the `reset` hook (0: none).
   */
  readonly timeout?: Duration.Input
}

/** Pool counters, exact at the moment they are read. */
export interface PoolStats {
  /** live connections */
  readonly size: number
  /** live connections nobody holds */
  readonly idle: number
  /** connections held by callers (acquire) or by pool-level queries */
  readonly borrowed: number
  /** callers waiting for a connection (acquire and pool-level queries) */
  readonly waiting: number
  /** connections being opened */
  readonly opening: number
  readonly minSize: number
  readonly maxSize: number
  /** successful acquires since start */
  readonly acquires: number
  /** acquires that ended in AcquireTimeoutError */
  readonly acquireTimeouts: number
  /** total time callers spent waiting in acquire, ms */
  readonly acquireWaitMs: number
  /** pool-level queries run on shared connections */
  readonly sharedQueries: number
  /** acquires (and pool-level queries) that had to wait */
  readonly emptyAcquires: number
  /** waiters that went away (interrupted) before they were served */
  readonly canceledAcquires: number
  /** callers turned away by maxWaiting */
  readonly exhausted: number
  /** total time connections were leased by acquire, ms */
  readonly borrowedMs: number
  /** connections opened since start */
  readonly created: number
  /** connections closed since start, by reason */
  readonly closedByReason: Readonly<Record<string, number>>
}

/** Every error acquiring can fail with. */
export type AcquireError =
  | Errors.AcquireTimeoutError
  | Errors.PoolClosedError
  | Errors.PoolExhaustedError
  | Connection.ConnectError
  | Errors.PoolHookError

/** Every error a pool-level query can fail with. */
export type PoolQueryError = Connection.QueryError | AcquireError

/**
 * The pool, as `yield* PgPool` gives it. `Row` is a row of a query that asks
 * for nothing else: a Record, or what the pool's `recordClass` builds.
 */
export interface PgPoolShape<Row = PgRecord.Record> {
  /** Borrows a connection for the scope; released (and reset) when the scope closes. */
  acquire(options?: AcquireOptions): Effect.Effect<PoolConnection<Row>, AcquireError, Scope.Scope>
  /** Borrows a connection that the caller gives back with {@link PgPoolShape.release}. */
  acquireUnscoped(options?: AcquireOptions): Effect.Effect<PoolConnection<Row>, AcquireError>
  /** Gives a connection back (idempotent; also what closing an acquire scope does). */
  release(conn: PoolConnection<Row>, options?: AcquireOptions): Effect.Effect<void, Errors.InterfaceError>
  /** `conn.execute` on a pool connection: the command's status. */
  execute(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions): Effect.Effect<string, PoolQueryError>
  /**
   * `conn.fetch` on a pool connection: all rows, built by `options.recordClass`
   * or decoded by `options.schema` (else Records, or the pool's recordClass).
   */
  fetch<O extends Connection.FetchOptions = Connection.QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<ReadonlyArray<Connection.RowOf<O, Row>>, PoolQueryError>
  /** `conn.fetchrow` on a pool connection: the first row (built as in `fetch`), or null. */
  fetchrow<O extends Connection.FetchOptions = Connection.QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<Connection.RowOf<O, Row> | null, PoolQueryError>
  /** `conn.fetchval` on a pool connection: one value of the first row (decoded by `options.schema`), or null. */
  fetchval<O extends Connection.FetchvalOptions = Connection.QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<Connection.ValueOf<O> | null, PoolQueryError>
  /** `conn.executemany` on a pool connection. */
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions): Effect.Effect<void, PoolQueryError>
  /** `conn.fetchmany` on a pool connection: the rows of each argument set (built as in `fetch`). */
  fetchmany<O extends Connection.FetchOptions = Connection.QueryOptions>(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: O
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<Connection.RowOf<O, Row>>>, PoolQueryError>
  /** `conn.copyFromTable` on a connection acquired for the duration. */
  copyFromTable<E = never, R = never>(
    table: string,
    options: Copy.CopyFromTableOptions & { readonly output: Copy.CopyOutput<E, R> }
  ): Effect.Effect<string, PoolQueryError | Copy.CopyStreamError | E, R>
  /** `conn.copyFromQuery` on a connection acquired for the duration. */
  copyFromQuery<E = never, R = never>(
    query: string,
    args: ReadonlyArray<unknown> | undefined,
    options: Copy.CopyFromQueryOptions & { readonly output: Copy.CopyOutput<E, R> }
  ): Effect.Effect<string, PoolQueryError | Copy.CopyStreamError | E, R>
  /** `conn.copyToTable` on a connection acquired for the duration. */
  copyToTable<E = never, R = never>(
    table: string,
    options: Copy.CopyToTableOptions<E, R>
  ): Effect.Effect<string, PoolQueryError | Copy.CopyStreamError | E, R>
  /** `conn.copyRecordsToTable` on a connection acquired for the duration. */
  copyRecordsToTable<E = never, R = never>(
    table: string,
    options: Copy.CopyRecordsOptions<E, R>
  ): Effect.Effect<string, PoolQueryError | Copy.CopyStreamError | E, R>
  /** Runs `f` with a connection of its own (acquire, f, release). */
  withConnection<A, E, R>(f: (conn: PoolConnection<Row>) => Effect.Effect<A, E, R>, options?: AcquireOptions): Effect.Effect<A, E | AcquireError, R>
  /**
   * Stops new acquires (waiters fail with PoolClosedError), waits for
   * borrowed connections, closes everything (in parallel, each within
   * closeTimeout). With `timeout`, whatever is still borrowed then is
   * terminated.
   */
  close(options?: { readonly timeout?: Duration.Input }): Effect.Effect<void>
  /** Closes every connection now; borrowed ones fail their next query. */
  terminate(): Effect.Effect<void>
  /** Replaces every connection: idle ones now, borrowed ones on release. */
  expireConnections(): Effect.Effect<void>
  /** New connections use these arguments (existing ones are kept until replaced). */
  setConnectArgs(dsn?: string, options?: Connection.ConnectOptions): Effect.Effect<void>
  /** New sizes at run time (validated as at construction); extra connections are retired as they come back. */
  resize(minSize: number, maxSize: number): Effect.Effect<void, Errors.InterfaceError>
  isClosing(): boolean
  getSize(): number
  getIdleSize(): number
  getMinSize(): number
  getMaxSize(): number
  stats(): PoolStats
}

