/**
 * effect-pg: a fast, pipelining PostgreSQL driver and connection pool for
 * Effect, with asyncpg's API.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { PgPool } from "effect-pg"
 *
 * const PgPoolLive = PgPool.layer({ dsn: process.env.DATABASE_URL, minSize: 5, maxSize: 20 })
 * const program = Effect.gen(function* () {
 *   const pool = yield* PgPool
 *   return yield* pool.fetch("SELECT * FROM users WHERE active = $1", [true])
 * }).pipe(Effect.provide(PgPoolLive))
 * ```
 *
 * @since 0.1.0
 */

/** One server session: `Connection.connect`, queries, lifecycle. */
export * as Connection from "./Connection.js"
/** Every error, one tagged class per SQLSTATE plus client errors. */
export * as Errors from "./Errors.js"
/** The pool module: `make`, `layer`, `layerConfig`, options and types. */
export * as Pool from "./Pool.js"
/** The pool service (`yield* PgPool`) with `PgPool.layer(options)`. */
export { PgPool } from "./Pool.js"
/** A pool over a primary and its replicas that routes reads and writes (`effect-pg/ReplicatedPool`). */
export { ReplicatedPool } from "./ReplicatedPool.js"
/** Result rows. */
export * as PgRecord from "./Record.js"
/** Transactions and savepoints (also `conn.transaction(...)`). */
export * as Transaction from "./Transaction.js"
/** Server-side cursors as Streams, and scrollable cursors. */
export * as Cursor from "./Cursor.js"
/** Prepared statements (`conn.prepare(sql)`). */
export * as PreparedStatement from "./PreparedStatement.js"

/** PostgreSQL values and codec types: `Range`, `Interval`, geometric shapes, `Codec`. */
export * as Types from "./Types.js"

/** A PostgreSQL range value (also `Types.Range`). */
export { Range } from "./types/Range.js"

/** A PostgreSQL `interval` value (also `Types.Interval`). */
export { Interval } from "./types/Interval.js"
