/**
 * `connect()` of the Promise facade: one connection of its own, run on
 * Effect's default runtime.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Connection from "../Connection.js"
import { PromiseConnectionImpl, type PromiseConnection } from "./Connection.js"
import { runner } from "./run.js"

const run = runner(Effect.runPromiseExit)

/**
 * Opens a connection (asyncpg's `connect`): a DSN, options, or both; unset
 * options come from the `PG*` variables, `~/.pgpass` and libpq's defaults.
 *
 * ```ts
 * await using conn = await connect("postgres://localhost/app")
 * const n = await conn.fetchval("SELECT $1::int + 1", 41)
 * ```
 */
export const connect = async (
  dsn?: string | Redacted.Redacted<string> | Connection.ConnectOptions,
  options?: Connection.ConnectOptions
): Promise<PromiseConnection> => {
  const input: Connection.ConnectOptions = typeof dsn === "string" || Redacted.isRedacted(dsn)
    ? { ...options, dsn }
    : { ...dsn, ...options }
  const conn = await run(Connection.connectUnscoped(input))
  const impl: PromiseConnectionImpl = new PromiseConnectionImpl(conn, run, () => run(conn.close()))
  return impl
}
