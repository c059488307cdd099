/**
 * Effect's SQL layer (`effect/sql`: `SqlClient`, `SqlSchema`, `SqlModel`,
 * `SqlResolver`, `Migrator`) on an effect-pg pool.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql"
 * import { PgSqlClient } from "effect-pg/sql"
 *
 * const SqlLive = PgSqlClient.layer({ dsn: process.env.DATABASE_URL, maxSize: 10 })
 *
 * const program = Effect.gen(function* () {
 *   const sql = yield* SqlClient.SqlClient
 *   yield* sql.withTransaction(sql`INSERT INTO users ${sql.insert({ name: "Ada" })}`)
 *   return yield* sql<{ id: number; name: string }>`SELECT id, name FROM users`
 * }).pipe(Effect.provide(SqlLive))
 * ```
 *
 * How statements run:
 * - outside a transaction, through the pool's pool-level methods
 *   (`pool.fetch` / `pool.execute`): no acquire per statement, and plain
 *   statements share pipelined connections as the pool documents (use
 *   `sql.withTransaction` or `sql.reserve` for session state);
 * - inside `sql.withTransaction`, on one connection acquired from the pool
 *   for the transaction: `BEGIN`, `COMMIT` / `ROLLBACK`, nested
 *   transactions as `SAVEPOINT effect_sql_<n>` (released on success, rolled
 *   back to on failure). A `COMMIT` the server answers with `ROLLBACK` (the
 *   transaction had failed) fails with a `SqlError`;
 * - `sql.reserve` is a connection acquired for the scope;
 * - `statement.stream` reads through a server-side cursor (`conn.cursor`)
 *   on an acquired connection (or the transaction's), `streamPrefetch` rows
 *   per round trip.
 *
 * Rows are plain objects keyed by column name. Every failure is a
 * `SqlError` whose `reason` is classified by SQLSTATE, with effect-pg's
 * tagged error (`UniqueViolationError`, ...) as `sqlError.reason.cause`.
 * `executeRaw` (`statement.raw`) returns the command status (`"INSERT 0
 * 1"`); `.unprepared` runs like any statement (effect-pg caches prepared
 * statements per connection by its own rules; pool `prepare: false` turns
 * that off).
 *
 * Parameters are typed from their JavaScript value as `@effect/sql-pg`
 * types them (integer → int4, or int8 past int4; other numbers → float8;
 * bigint → int8; boolean → bool; Date → timestamptz; bytes → bytea), by a
 * cast on the placeholder (`$1::int4`); strings, null, arrays and objects
 * are typed by the server from the statement. So `` sql`SELECT ${1}` ``
 * and `updateValues` lists work as on sql-pg, where effect-pg alone (like
 * asyncpg) refuses a number for a parameter the server typed as text.
 *
 * Values are decoded by effect-pg's codecs. int2/int4/float, int8 (bigint),
 * numeric (string), bool, text, uuid, json/jsonb, arrays and timestamptz /
 * timestamp (Date) come out as `@effect/sql-pg` gives them; these differ:
 * `date` is a `Date` (sql-pg: the text `"2024-01-02"`), `time` the text
 * `"12:00:00"` (sql-pg: a bigint of microseconds), `interval` effect-pg's
 * `Interval` (sql-pg: `{ months, days, microseconds }`), `bytea` a `Buffer`
 * (a `Uint8Array`). Pool options `types` (`int8`, `numeric`, `timestamps`
 * modes) and an `init` hook with `conn.setTypeCodec(...)` change them.
 * `SqlClient.SafeIntegers` is not consulted (int8 is a bigint already).
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import type * as SqlError from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as Connection from "../Connection.js"
import * as Pool from "../Pool.js"
import * as Internal from "./internal.js"

/** A row transform as `effect/sql` passes it (name transforms of the result). */
type TransformRows = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

/** Options of the SQL client itself (whatever pool it runs on). */
export interface PgSqlClientOptions {
  /** extra attributes of every statement and transaction span */
  readonly spanAttributes?: Readonly<Record<string, unknown>> | undefined
  /** applied to result column names (`String.snakeToCamel`, ...) */
  readonly transformResultNames?: ((name: string) => string) | undefined
  /** applied to identifiers in statements (`String.camelToSnake`, ...) */
  readonly transformQueryNames?: ((name: string) => string) | undefined
  /** also transform the keys of JSON values (default true) */
  readonly transformJson?: boolean | undefined
  /** rows per round trip of `statement.stream` (default 128) */
  readonly streamPrefetch?: number | undefined
}

/** Options of {@link make} / {@link layer}: the pool's options and the client's. */
export interface PgSqlClientConfig extends Pool.PoolOptions, PgSqlClientOptions {}

/** The `SqlClient` of effect-pg, with the pool underneath and a jsonb helper. */
export interface PgSqlClient extends SqlClient.SqlClient {
  /** The effect-pg pool the statements run on. */
  readonly pool: Pool.PgPoolShape
  /** A parameter sent as `jsonb`: `` sql`INSERT INTO t (doc) VALUES (${sql.json(doc)})` ``. */
  readonly json: (value: unknown) => Statement.Fragment
  /**
   * The notifications of `channel` as a stream, on a connection of its own
   * held while the stream runs (LISTEN when it starts, UNLISTEN and release
   * when it ends).
   */
  readonly listen: (channel: string) => Stream.Stream<Connection.Notification, SqlError.SqlError>
  /** `NOTIFY channel, payload` (through `pg_notify`, so any channel name and payload are safe). */
  readonly notify: (channel: string, payload: string) => Effect.Effect<void, SqlError.SqlError>
}

/**
 * The service of the client (`yield* PgSqlClient.PgSqlClient`), for the
 * pool and the jsonb / listen / notify helpers; the layers provide the same
 * client as `SqlClient.SqlClient` too.
 */
export const PgSqlClient: Context.Service<PgSqlClient, PgSqlClient> = Context.Service<PgSqlClient>("effect-pg/sql/PgSqlClient")

/** The part of a pool or of a connection that statements need. */
interface Runner {
  fetch(sql: string, args?: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<unknown>, Internal.PgError>
  execute(sql: string, args?: ReadonlyArray<unknown>): Effect.Effect<string, Internal.PgError>
}

/**
 * One `SqlConnection.Connection`: the pool (pool-level statements, `conn`
 * undefined) or one acquired connection (`conn` set).
 */
class PgSqlConnection implements SqlConnection.Connection {
  constructor(
    readonly runner: Runner,
    readonly conn: Connection.Connection | undefined,
    readonly openCursor: (sql: string, params: ReadonlyArray<unknown>) => Stream.Stream<unknown, Internal.PgError>
  ) {}

  private rows(sql: string, params: ReadonlyArray<unknown>, operation: string): Effect.Effect<Array<Internal.Row>, SqlError.SqlError> {
    return Effect.mapError(Effect.map(this.runner.fetch(sql, params), Internal.toRows), (e) => Internal.toSqlError(e, operation))
  }

  execute(sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) {
    const rows = this.rows(sql, params, "execute")
    return transformRows === undefined ? rows : Effect.map(rows, transformRows)
  }

  executeUnprepared(sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) {
    const rows = this.rows(sql, params, "executeUnprepared")
    return transformRows === undefined ? rows : Effect.map(rows, transformRows)
  }

  /** The command status (`"UPDATE 3"`); without params a multi-statement script runs over the simple protocol. */
  executeRaw(sql: string, params: ReadonlyArray<unknown>): Effect.Effect<string, SqlError.SqlError> {
    return Effect.mapError(this.runner.execute(sql, params), (e) => Internal.toSqlError(e, "executeRaw"))
  }

  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.mapError(Effect.map(this.runner.fetch(sql, params), Internal.toValues), (e) => Internal.toSqlError(e, "executeValues"))
  }

  executeValuesUnprepared(sql: string, params: ReadonlyArray<unknown>) {
    return this.executeValues(sql, params)
  }

  executeStream(sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows): Stream.Stream<Internal.Row, SqlError.SqlError> {
    // a chunk is never empty, and each step keeps its length
    const rows = Stream.mapArray(this.openCursor(sql, params), (chunk) => Internal.toRows(chunk) as unknown as Arr.NonEmptyReadonlyArray<Internal.Row>)
    const out = transformRows === undefined
      ? rows
      : Stream.mapArray(rows, (chunk) => transformRows(chunk) as Arr.NonEmptyReadonlyArray<Internal.Row>)
    return Stream.mapError(out, (e) => Internal.toSqlError(e, "executeStream"))
  }
}

/** PostgreSQL answers `COMMIT` of a failed transaction with `ROLLBACK`: that is a failure. */
const commit = (conn: SqlConnection.Connection): Effect.Effect<void, SqlError.SqlError> =>
  Effect.flatMap(conn.executeRaw("COMMIT", []), (status) =>
    status === "ROLLBACK"
      ? Effect.fail(Internal.clientError("COMMIT rolled the transaction back: a statement in it had failed", "commit"))
      : Effect.void)

const spanAttributesOf = (
  options: PgSqlClientOptions,
  server: { readonly database?: string | undefined; readonly host?: string | undefined; readonly port?: number | undefined }
): ReadonlyArray<readonly [string, unknown]> => {
  const attrs: Array<readonly [string, unknown]> = options.spanAttributes ? Object.entries(options.spanAttributes) : []
  attrs.push(["db.system.name", "postgresql"])
  if (server.database !== undefined) attrs.push(["db.namespace", server.database])
  if (server.host !== undefined) attrs.push(["server.address", server.host])
  if (server.port !== undefined) attrs.push(["server.port", server.port])
  return attrs
}

const makeClient = (
  pool: Pool.PgPoolShape,
  options: PgSqlClientOptions,
  server: { readonly database?: string | undefined; readonly host?: string | undefined; readonly port?: number | undefined }
): Effect.Effect<PgSqlClient, never, Reactivity.Reactivity> =>
  Effect.gen(function* () {
    const prefetch = options.streamPrefetch ?? 128
    const cursorOn = (conn: Connection.Connection) => (sql: string, params: ReadonlyArray<unknown>) =>
      conn.cursor(sql, params, { prefetch })
    // a stream outside a transaction holds a connection of its own while it runs
    const poolCursor = (sql: string, params: ReadonlyArray<unknown>): Stream.Stream<unknown, Internal.PgError> =>
      Stream.unwrap(Effect.map(pool.acquire(), (conn) => conn.cursor(sql, params, { prefetch })))
    const poolConnection = new PgSqlConnection(pool, undefined, poolCursor)
    const transactionAcquirer: SqlConnection.Acquirer = Effect.map(
      Effect.mapError(pool.acquire(), (e) => Internal.toSqlError(e, "acquire")),
      (conn) => new PgSqlConnection(conn, conn, cursorOn(conn))
    )
    const transformRows = options.transformResultNames === undefined
      ? undefined
      : Statement.defaultTransforms(options.transformResultNames, options.transformJson ?? true).array
    const client = yield* SqlClient.make({
      driver: "effect-pg",
      acquirer: Effect.succeed(poolConnection),
      borrower: (f) => f(poolConnection),
      transactionAcquirer,
      compiler: Internal.makeCompiler(options.transformQueryNames, options.transformJson ?? true),
      spanAttributes: spanAttributesOf(options, server),
      transformRows,
      prepareTransactionControls: true,
      commit,
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
      // after a failure the server may have ended the transaction already;
      // a closed connection has no transaction left to roll back (trying
      // would turn the statement's error into a defect)
      isTransaction: (conn) =>
        conn instanceof PgSqlConnection && conn.conn !== undefined ? !conn.conn.isClosed() && conn.conn.isInTransaction() : true
    })
    const listen = (channel: string): Stream.Stream<Connection.Notification, SqlError.SqlError> =>
      Stream.mapError(Stream.unwrap(Effect.map(pool.acquire(), (conn) => conn.listen(channel))), (e) => Internal.toSqlError(e, "listen"))
    const notify = (channel: string, payload: string): Effect.Effect<void, SqlError.SqlError> =>
      Effect.mapError(Effect.asVoid(pool.execute("SELECT pg_notify($1, $2)", [channel, payload])), (e) => Internal.toSqlError(e, "notify"))
    return Object.assign(client, {
      pool,
      json: (value: unknown) => Statement.fragment([Internal.PgJson(value, undefined, undefined)]),
      listen,
      notify
    })
  })

/**
 * A `PgSqlClient` on an existing effect-pg pool (the pool stays the
 * caller's: the client does not close it).
 */
export const fromPool = (pool: Pool.PgPoolShape, options: PgSqlClientOptions = {}): Effect.Effect<PgSqlClient, never, Reactivity.Reactivity> =>
  makeClient(pool, options, {})

/**
 * A `PgSqlClient` on a new pool (`Pool.make(options)`), closed with the
 * scope. A pool that cannot open its `minSize` connections fails here with
 * a `SqlError` (reason `ConnectionError`, effect-pg's error as its cause).
 */
export const make = (options: PgSqlClientConfig = {}): Effect.Effect<PgSqlClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function* () {
    const resolved = yield* Effect.mapError(Connection.resolveOptions(options), (e) => Internal.toSqlError(e, "connect"))
    const pool = yield* Effect.mapError(Pool.make(options), (e) => Internal.toSqlError(e, "connect"))
    const address = resolved.addresses[0]
    return yield* makeClient(pool, options, {
      database: resolved.database,
      host: address?.host,
      port: address?.port
    })
  })

const provideClient = (client: PgSqlClient) => Context.make(PgSqlClient, client).pipe(Context.add(SqlClient.SqlClient, client))

/**
 * `SqlClient` (and `PgSqlClient` and the `PgPool` it runs on) from
 * pool options; `Reactivity` is provided too.
 */
export const layer = (options: PgSqlClientConfig = {}): Layer.Layer<SqlClient.SqlClient | PgSqlClient | Pool.PgPool, SqlError.SqlError> =>
  Layer.effectContext(
    Effect.map(make(options), (client) => provideClient(client).pipe(Context.add(Pool.PgPool, client.pool)))
  ).pipe(Layer.provide(Reactivity.layer))

/** `SqlClient` (and `PgSqlClient`) on the `PgPool` of the context; `Reactivity` is provided too. */
export const layerFromPool = (options: PgSqlClientOptions = {}): Layer.Layer<SqlClient.SqlClient | PgSqlClient, never, Pool.PgPool> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const pool = yield* Pool.PgPool
      return provideClient(yield* fromPool(pool, options))
    })
  ).pipe(Layer.provide(Reactivity.layer))

/** The PostgreSQL statement compiler (`$n` placeholders, `"` identifiers, jsonb helper). */
export const makeCompiler: (transformQueryNames?: (name: string) => string, transformJson?: boolean) => Statement.Compiler =
  Internal.makeCompiler
