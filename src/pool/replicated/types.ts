/**
 * The replicated pool's public types: its options, the routes it offers
 * (`pool.primary`, `pool.replica`) and what `pool.members()` reports.
 * Re-exported by `ReplicatedPool.ts`.
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Connection from "../../Connection.js"
import type * as PgRecord from "../../Record.js"
import type * as Transaction from "../../Transaction.js"
import type { AcquireError, AcquireOptions, PoolConnection, PoolOptions, PoolStats } from "../types.js"
import type { NoServerAvailableError } from "./errors.js"

/** One server of the set: its own pool options (a DSN at least); `name` shows in stats and errors. */
export interface MemberOptions extends PoolOptions {
  /** a label for stats, logs and errors (default `host:port` from the DSN, else `primary` / `replica-N`) */
  readonly name?: string
}

/**
 * Read-your-writes: after a caller writes, its reads see the write.
 *
 * - `"lsn"` (default): its reads go to the primary until a replica has
 *   replayed the primary's WAL position taken after the write; then to the
 *   replicas that have.
 * - `{ window }`: its reads go to the primary for this long after each write.
 * - `false`: reads go to replicas at once (they may miss the caller's own
 *   writes for as long as replication lags).
 *
 * "A caller" is the innermost `ReplicatedPool.session(...)` around the
 * call, else the whole pool (every caller then sees every write).
 */
export type ReadYourWrites = false | "lsn" | { readonly window: Duration.Input }

/** Options of `ReplicatedPool.make` / `layer`. */
export interface ReplicatedPoolOptions {
  /** the primary (read-write) server */
  readonly primary: MemberOptions
  /** its streaming replicas (hot standbys); may be empty */
  readonly replicas: ReadonlyArray<MemberOptions>
  /** options every member's pool gets beneath its own (sizes, timeouts, hooks) */
  readonly pool?: PoolOptions
  /** see {@link ReadYourWrites} (default `"lsn"`) */
  readonly readYourWrites?: ReadYourWrites
  /** a replica further behind the primary than this is taken out of rotation until it catches up (default 10 seconds; 0: no limit) */
  readonly maxReplicaLag?: Duration.Input
  /** how often every member is probed for reachability, role and WAL position (default 250 ms) */
  readonly healthCheckInterval?: Duration.Input
  /** a probe (connect included) not answered within this long marks the member down (default 2 seconds) */
  readonly probeTimeout?: Duration.Input
  /**
   * where reads go when no replica is in rotation: `"primary"` (default) or
   * `"fail"` (a {@link NoServerAvailableError})
   */
  readonly readFallback?: "primary" | "fail"
}

/** What the routes of a replicated pool can fail with, beyond the query's own errors. */
export type RouteError = AcquireError | NoServerAvailableError

/** Every error a routed query can fail with. */
export type RoutedQueryError = Connection.QueryError | RouteError

/** What both routes and the pool itself offer: one-shot reads, connections and transactions. */
export interface ReadRoute {
  /** Rows as Records, or built by `options.recordClass`, or decoded by `options.schema`. */
  fetch<O extends Connection.FetchOptions = Connection.QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<ReadonlyArray<Connection.RowOf<O, PgRecord.Record>>, RoutedQueryError>
  /** The first row (built as in `fetch`), or null. */
  fetchrow<O extends Connection.FetchOptions = Connection.QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<Connection.RowOf<O, PgRecord.Record> | null, RoutedQueryError>
  /** One value of the first row (decoded by `options.schema`), or null. */
  fetchval<O extends Connection.FetchvalOptions = Connection.QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<Connection.ValueOf<O> | null, RoutedQueryError>
  /** The rows of each argument set (built as in `fetch`). */
  fetchmany<O extends Connection.FetchOptions = Connection.QueryOptions>(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: O
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<Connection.RowOf<O, PgRecord.Record>>>, RoutedQueryError>
  /** Borrows a connection of this route for the scope. */
  acquire(options?: AcquireOptions): Effect.Effect<PoolConnection, RouteError, Scope.Scope>
  /** Runs `f` with a connection of this route (acquire, f, release). */
  withConnection<A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: AcquireOptions): Effect.Effect<A, E | RouteError, R>
  /** Runs `f` in a transaction on a connection of this route: commit on success, rollback on failure or interruption. */
  transaction<A, E, R>(
    f: (conn: PoolConnection) => Effect.Effect<A, E, R>,
    options?: Transaction.TransactionOptions & AcquireOptions
  ): Effect.Effect<A, E | RoutedQueryError, R>
}

/** The write route: everything of {@link ReadRoute} plus commands. */
export interface WriteRoute extends ReadRoute {
  execute(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions): Effect.Effect<string, RoutedQueryError>
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions): Effect.Effect<void, RoutedQueryError>
}

/** A member's role as its last probe saw it. */
export type MemberRole = "primary" | "standby" | "unknown"

/** One member as `pool.members()` reports it. */
export interface MemberStatus {
  readonly name: string
  /** index in the options: 0 is the configured primary, 1.. the replicas in order */
  readonly index: number
  /** what `pg_is_in_recovery()` said last */
  readonly role: MemberRole
  /** answered its last probe */
  readonly up: boolean
  /** the member writes go to now */
  readonly writer: boolean
  /** a standby that takes reads now (up, within maxReplicaLag) */
  readonly inRotation: boolean
  /** how far behind the primary it was at its last probe, ms (undefined: unknown) */
  readonly lagMs: number | undefined
  /** `pg_last_wal_replay_lsn()` (standby) or `pg_current_wal_insert_lsn()` (primary) at the last probe */
  readonly lsn: string | undefined
  /** why the last probe failed, when it did */
  readonly lastError: string | undefined
  /** requests of this pool on it now */
  readonly inFlight: number
  /** requests routed to it since start */
  readonly routed: number
  /** its pool's stats, when its pool is open */
  readonly pool: PoolStats | undefined
}

/** The replicated pool, as `yield* ReplicatedPool` gives it. */
export interface ReplicatedPoolShape extends WriteRoute {
  /**
   * Reads (`fetch`, `fetchrow`, `fetchval`, `fetchmany`) go to a replica
   * (in turn, over those in rotation) unless read-your-writes sends this caller
   * to the primary; a read a replica refuses as a write
   * (`ReadOnlySQLTransactionError`), or cancels for a recovery conflict, or
   * loses its connection on, runs again elsewhere. Commands, `acquire`,
   * `withConnection` and read-write transactions go to the primary;
   * `transaction(f, { readonly: true })` goes where reads go.
   */
  readonly primary: WriteRoute
  /** Reads on a replica whatever read-your-writes says (stale reads are fine here); the primary when none is in rotation (see `readFallback`). */
  readonly replica: ReadRoute
  /** Runs `effect` as one read-your-writes caller: its reads see its own writes (see {@link ReadYourWrites}). */
  session<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
  /** Probes every member now (roles, lag, reachability) and routes by the result. */
  refresh(): Effect.Effect<void>
  /** Every member's state. */
  members(): ReadonlyArray<MemberStatus>
  /** Closes every member's pool (gracefully; see `PgPool.close`) and stops the health checks. */
  close(): Effect.Effect<void>
}
