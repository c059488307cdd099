/**
 * What every query shares: its options, the union of errors it can fail
 * with, and the entry a query logger receives.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Redacted from "effect/Redacted"
import type * as Errors from "../Errors.js"

/** Options every query method takes. */
export interface QueryOptions {
  /**
   * fail with `CommandTimeoutError` (and cancel the query on the server)
   * after this long. As asyncpg: 0 or below times out at once, before
   * anything is sent; `Infinity` (or `Duration.infinity`) means no timeout,
   * whatever the connection's `commandTimeout`; NaN or a value that is not a
   * duration is an `InterfaceError`.
   */
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
  | Errors.OutdatedSchemaCacheError
  | Errors.RowDecodeError
  | Errors.CommandTimeoutError

/** One finished query, as query loggers see it. */
export interface LoggedQuery {
  readonly sql: string
  /** the same as `sql` (asyncpg's name) */
  readonly query: string
  /** the arguments, redacted: `Redacted.value(entry.args)` shows them */
  readonly args: Redacted.Redacted<ReadonlyArray<unknown>>
  /** wall time from sending to the result, in milliseconds */
  readonly durationMs: number
  /** the command tag (`"SELECT 3"`) when it succeeded */
  readonly status: string | undefined
  /** why it failed (timeouts included) */
  readonly error: QueryError | undefined
  /** the same as `error` (asyncpg's name) */
  readonly exception: QueryError | undefined
  /** the calling fiber was interrupted (the query was cancelled) */
  readonly interrupted: boolean
  /** the backend process that ran it */
  readonly processId: number
}

/** Called after every query of the connection (`addQueryLogger`). */
export type QueryLogger = (entry: LoggedQuery) => void

/**
 * Guard shared by the views of one session: a pool hands out a view per
 * lease and marks it released when the lease ends.
 */
export interface Lease {
  released: boolean
}
