/**
 * Connections of the Promise facade: asyncpg's query methods with the
 * arguments passed one by one (`conn.fetch(sql, 1, "a")`), transactions, and
 * `await using` to close (a connection of its own) or release (a pool's).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Connection from "../Connection.js"
import type * as PgRecord from "../Record.js"
import type { Runner } from "./run.js"
import * as Tx from "./Transaction.js"

/** Options of the query methods, set with `.with(options)`. */
export interface QueryOptions {
  /** fail with `CommandTimeoutError` (and cancel the query on the server) after this long (a number is milliseconds) */
  readonly timeout?: Duration.Input
  /** `fetchval`: the column to return, by position or name (default 0) */
  readonly column?: number | string
}

/** asyncpg's query methods; `args` are the `$1, $2, ...` parameters. */
export interface Queries {
  /** Runs a command; resolves to its status (`"INSERT 0 1"`). Without args a multi-statement script runs. */
  execute(sql: string, ...args: ReadonlyArray<unknown>): Promise<string>
  /** Runs a query; resolves to all its rows. */
  fetch<R = PgRecord.Record>(sql: string, ...args: ReadonlyArray<unknown>): Promise<ReadonlyArray<R>>
  /** Runs a query; resolves to its first row, or null. */
  fetchrow<R = PgRecord.Record>(sql: string, ...args: ReadonlyArray<unknown>): Promise<R | null>
  /** Runs a query; resolves to one value of its first row (column 0 unless `.with({ column })`), or null. */
  fetchval<A = unknown>(sql: string, ...args: ReadonlyArray<unknown>): Promise<A | null>
  /** Runs a statement once per argument set, pipelined, all or nothing. */
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>): Promise<void>
  /** Runs a query once per argument set, all or nothing; resolves to the rows of each. */
  fetchmany<R = PgRecord.Record>(sql: string, argsList: Iterable<ReadonlyArray<unknown>>): Promise<ReadonlyArray<ReadonlyArray<R>>>
  /** The same methods with these options (`pool.with({ timeout: "5 seconds" }).fetch(...)`). */
  with(options: QueryOptions): Queries
}

/** What runs the queries: an effect-pg connection or pool. */
export interface QueryTarget {
  execute(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<string, unknown>
  fetch(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<ReadonlyArray<unknown>, unknown>
  fetchrow(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<unknown, unknown>
  fetchval(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<unknown, unknown>
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, unknown>
  fetchmany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, unknown>
}

/**
 * The query methods over `target`, run by `run`.
 *
 * @internal
 */
export class QueriesImpl implements Queries {
  constructor(
    protected readonly target: QueryTarget,
    protected readonly run: Runner,
    protected readonly options: QueryOptions | undefined = undefined
  ) {}
  execute(sql: string, ...args: ReadonlyArray<unknown>): Promise<string> {
    return this.run(this.target.execute(sql, args, this.options))
  }
  fetch<R = PgRecord.Record>(sql: string, ...args: ReadonlyArray<unknown>): Promise<ReadonlyArray<R>> {
    return this.run(this.target.fetch(sql, args, this.options)) as Promise<ReadonlyArray<R>>
  }
  fetchrow<R = PgRecord.Record>(sql: string, ...args: ReadonlyArray<unknown>): Promise<R | null> {
    return this.run(this.target.fetchrow(sql, args, this.options)) as Promise<R | null>
  }
  fetchval<A = unknown>(sql: string, ...args: ReadonlyArray<unknown>): Promise<A | null> {
    return this.run(this.target.fetchval(sql, args, this.options)) as Promise<A | null>
  }
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>): Promise<void> {
    return this.run(this.target.executemany(sql, argsList, this.options))
  }
  fetchmany<R = PgRecord.Record>(sql: string, argsList: Iterable<ReadonlyArray<unknown>>): Promise<ReadonlyArray<ReadonlyArray<R>>> {
    return this.run(this.target.fetchmany(sql, argsList, this.options)) as Promise<ReadonlyArray<ReadonlyArray<R>>>
  }
  with(options: QueryOptions): Queries {
    return new QueriesImpl(this.target, this.run, { ...this.options, ...options })
  }
}

/** The methods every facade connection has: queries, transactions, server facts. */
export interface ConnectionQueries extends Queries {
  /**
   * Opens a transaction (a savepoint inside one): `await using tx = await
   * conn.transaction()`, then `await tx.commit()`; leaving the block
   * without commit rolls back.
   */
  transaction(options?: Tx.TransactionOptions): Promise<Tx.PromiseTransaction>
  /** Runs `f` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<A>(f: (tx: Tx.PromiseTransaction) => Promise<A>, options?: Tx.TransactionOptions): Promise<A>
  /** True inside an explicit transaction block. */
  isInTransaction(): boolean
  /** The backend process id (`pg_backend_pid()`). */
  getServerPid(): number
  /** The server version. */
  getServerVersion(): Connection.ServerVersion
  /** True once closed, by either side. */
  isClosed(): boolean
  /** The effect-pg `Connection` underneath, for everything else (COPY, cursors, LISTEN) as Effects. */
  readonly effect: Connection.Connection
}

/** A connection of its own (`connect()`): `close()`, or `await using` closes it. */
export interface PromiseConnection extends ConnectionQueries, AsyncDisposable {
  /** Closes gracefully. */
  close(): Promise<void>
  /** Closes the socket at once. */
  terminate(): Promise<void>
}

/** A connection borrowed from a pool: `release()`, or `await using` gives it back. */
export interface PooledConnection extends ConnectionQueries, AsyncDisposable {
  /** Gives the connection back to the pool (idempotent); it must not be used afterwards. */
  release(): Promise<void>
}

/**
 * A facade over one effect-pg connection; `dispose` is what `await using` does.
 *
 * @internal
 */
export class PromiseConnectionImpl extends QueriesImpl implements ConnectionQueries {
  constructor(
    readonly effect: Connection.Connection,
    run: Runner,
    private readonly dispose: () => Promise<void>
  ) {
    super(effect, run)
  }
  transaction(options?: Tx.TransactionOptions): Promise<Tx.PromiseTransaction>
  transaction<A>(f: (tx: Tx.PromiseTransaction) => Promise<A>, options?: Tx.TransactionOptions): Promise<A>
  transaction<A>(
    fOrOptions?: ((tx: Tx.PromiseTransaction) => Promise<A>) | Tx.TransactionOptions,
    options?: Tx.TransactionOptions
  ): Promise<Tx.PromiseTransaction | A> {
    return typeof fOrOptions === "function"
      ? Tx.within(this.effect, this.run, fOrOptions, options)
      : Tx.begin(this.effect, this.run, fOrOptions)
  }
  isInTransaction(): boolean {
    return this.effect.isInTransaction()
  }
  getServerPid(): number {
    return this.effect.getServerPid()
  }
  getServerVersion(): Connection.ServerVersion {
    return this.effect.getServerVersion()
  }
  isClosed(): boolean {
    return this.effect.isClosed()
  }
  close(): Promise<void> {
    return this.run(this.effect.close())
  }
  terminate(): Promise<void> {
    return this.run(this.effect.terminate())
  }
  release(): Promise<void> {
    return this.dispose()
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose()
  }
}
