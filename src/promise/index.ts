/**
 * effect-pg for code outside Effect: asyncpg's API with Promises.
 *
 * ```ts
 * import { createPool, UniqueViolationError } from "effect-pg/promise"
 *
 * const pool = await createPool("postgres://localhost/app", { minSize: 5, maxSize: 20 })
 * const users = await pool.fetch("SELECT * FROM users WHERE active = $1", true)
 * {
 *   await using conn = await pool.acquire()
 *   await conn.transaction(async () => {
 *     await conn.execute("INSERT INTO logs(message) VALUES ($1)", "signed in")
 *   })
 * } // released here
 * try {
 *   await pool.execute("INSERT INTO users(id) VALUES ($1)", 1)
 * } catch (e) {
 *   if (e instanceof UniqueViolationError) console.log(e.constraint)
 * }
 * await pool.close()
 * ```
 *
 * Arguments are passed one by one, as in asyncpg (`fetch(sql, 1, 2)`); query
 * options go through `.with({ timeout })`. A failure rejects with effect-pg's
 * own error (an `Error` subclass: `UniqueViolationError`,
 * `AcquireTimeoutError`, `PoolClosedError`, ... all exported here). Durations
 * are `Duration.Input`: `"5 seconds"`, or a number of milliseconds (not
 * seconds as in asyncpg).
 *
 * @since 0.1.0
 */

export { connect } from "./connect.js"
export {
  /** Creates a pool (asyncpg's `create_pool`). */
  createPool,
  type PromiseHook,
  type PromisePool,
  type PromisePoolOptions
} from "./Pool.js"
export type { ConnectionQueries, PooledConnection, PromiseConnection, Queries, QueryOptions } from "./Connection.js"
export type { PromiseTransaction, TransactionOptions } from "./Transaction.js"
export type { ConnectOptions } from "../Connection.js"
export type { PoolStats } from "../Pool.js"
/** Every error class, for `instanceof` checks (the same classes the Effect API fails with). */
export * from "../Errors.js"
/** PostgreSQL values: `Range`, `Interval` and the codec types. */
export * from "../Types.js"
