/**
 * Errors raised by effect-pg itself, not by the server: connecting, timeouts,
 * the pool, misuse of the API, protocol violations and value conversion.
 *
 * Every message says what happened and what to do; messages, hosts and
 * causes are passed through {@link redactDsn} / {@link redactCause} when the
 * error is made, so no password ends up in a message, `toString()`, JSON or
 * `util.inspect` output.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import { redactCause, redactDsn } from "./redact.js"

/**
 * Why a connection attempt failed or a live connection was lost.
 *
 * - `refused`: nothing listens at host:port (ECONNREFUSED)
 * - `reset`: the peer closed or reset the socket (ECONNRESET, EPIPE, EOF)
 * - `timeout`: `connectTimeout` elapsed, or the socket timed out
 * - `tls`: TLS negotiation or certificate verification failed
 * - `dns`: the host name did not resolve
 * - `auth`: the authentication exchange failed on the client side
 * - `closed`: the connection was closed while a request was in flight
 * - `protocol`: the server sent something the client cannot handle
 * - `other`: anything else
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionErrorReason =
  | "refused"
  | "reset"
  | "timeout"
  | "tls"
  | "dns"
  | "auth"
  | "closed"
  | "protocol"
  | "other"

const dropUndefined = <A extends object>(a: A): A => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out[k] = v
  return out as A
}

const withCause = <A extends { readonly cause?: unknown }>(args: A): A =>
  args.cause === undefined
    ? args
    : { ...args, cause: redactCause(args.cause) }

/**
 * The client could not connect to the server, or lost the connection.
 * Server-side refusals (bad password, unknown database, too many clients)
 * arrive as server errors (`InvalidPasswordError`, ...) instead.
 *
 * @since 0.1.0
 * @category errors
 */
export class PostgresConnectionError extends Data.TaggedError("PostgresConnectionError")<{
  /** What happened and what to do; passwords are masked. */
  readonly message: string
  /** The host (or Unix socket directory) that was tried. */
  readonly host?: string
  /** The port that was tried. */
  readonly port?: number
  /** Why it failed; see {@link ConnectionErrorReason}. */
  readonly reason: ConnectionErrorReason
  /** The underlying error, redacted with {@link redactCause}. */
  readonly cause?: unknown
}> {
  constructor(args: {
    readonly message: string
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly reason: ConnectionErrorReason
    readonly cause?: unknown
  }) {
    const safe = withCause({ ...args, message: redactDsn(args.message) })
    if (safe.host !== undefined) (safe as { host?: string }).host = redactDsn(safe.host)
    super(dropUndefined(safe))
  }

  /** `PostgresConnectionError (refused): message`. */
  override toString(): string {
    return `${this._tag} (${this.reason}): ${this.message}`
  }
}

/**
 * A request was made on a connection that is already closed (asyncpg's
 * `ConnectionDoesNotExistError`). Acquire a new connection.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionDoesNotExistError extends Data.TaggedError("ConnectionDoesNotExistError")<{
  /** What happened and what to do. */
  readonly message: string
}> {
  constructor(args: { readonly message: string }) {
    super({ message: redactDsn(args.message) })
  }

  /** `ConnectionDoesNotExistError: message`. */
  override toString(): string {
    return `${this._tag}: ${this.message}`
  }
}

/**
 * No pool connection became available within the acquire timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class AcquireTimeoutError extends Data.TaggedError("AcquireTimeoutError")<{
  /** What happened and what to do. */
  readonly message: string
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number
}> {
  constructor(args: { readonly message: string; readonly timeoutMs: number }) {
    super({ ...args, message: redactDsn(args.message) })
  }

  /** `AcquireTimeoutError (5000 ms): message`. */
  override toString(): string {
    return `${this._tag} (${this.timeoutMs} ms): ${this.message}`
  }
}

/**
 * A query ran longer than its command timeout; it was cancelled on the server.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandTimeoutError extends Data.TaggedError("CommandTimeoutError")<{
  /** What happened and what to do. */
  readonly message: string
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number
  /** The SQL text of the query, when known. */
  readonly query?: string
}> {
  constructor(args: { readonly message: string; readonly timeoutMs: number; readonly query?: string | undefined }) {
    super(dropUndefined({ ...args, message: redactDsn(args.message) }))
  }

  /** `CommandTimeoutError (1000 ms): message`. */
  override toString(): string {
    return `${this._tag} (${this.timeoutMs} ms): ${this.message}`
  }
}

/**
 * The pool is closing or closed; no connection can be acquired from it.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolClosedError extends Data.TaggedError("PoolClosedError")<{
  /** What happened and what to do. */
  readonly message: string
}> {
  constructor(args: { readonly message: string }) {
    super({ message: redactDsn(args.message) })
  }

  /** `PoolClosedError: message`. */
  override toString(): string {
    return `${this._tag}: ${this.message}`
  }
}

/**
 * The pool already has `maxWaiting` callers waiting for a connection; this
 * one was turned away at once instead of queueing.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolExhaustedError extends Data.TaggedError("PoolExhaustedError")<{
  /** What happened and what to do. */
  readonly message: string
  /** The pool's `maxWaiting`. */
  readonly maxWaiting: number
}> {
  constructor(args: { readonly message: string; readonly maxWaiting: number }) {
    super({ ...args, message: redactDsn(args.message) })
  }

  /** `PoolExhaustedError (10 waiting): message`. */
  override toString(): string {
    return `${this._tag} (${this.maxWaiting} waiting): ${this.message}`
  }
}

/**
 * The API was used wrongly: a bad argument or option, a connection released
 * twice, a query on a connection that is busy with COPY, ...
 *
 * @since 0.1.0
 * @category errors
 */
export class InterfaceError extends Data.TaggedError("InterfaceError")<{
  /** What happened and what to do. */
  readonly message: string
}> {
  constructor(args: { readonly message: string }) {
    super({ message: redactDsn(args.message) })
  }

  /** `InterfaceError: message`. */
  override toString(): string {
    return `${this._tag}: ${this.message}`
  }
}

/**
 * The server sent a message the client did not expect or could not decode;
 * the connection is no longer usable and is closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  /** What happened and what to do. */
  readonly message: string
  /** The underlying error, redacted with {@link redactCause}. */
  readonly cause?: unknown
}> {
  constructor(args: { readonly message: string; readonly cause?: unknown }) {
    super(dropUndefined(withCause({ ...args, message: redactDsn(args.message) })))
  }

  /** `ProtocolError: message`. */
  override toString(): string {
    return `${this._tag}: ${this.message}`
  }
}

/**
 * A value could not be converted: a query argument that does not fit its
 * parameter type, or a result value that cannot be decoded.
 *
 * @since 0.1.0
 * @category errors
 */
export class DataError extends Data.TaggedError("DataError")<{
  /** What happened and what to do. */
  readonly message: string
  /** The 1-based query parameter the value was given for. */
  readonly position?: number
  /** The expected type (PostgreSQL type name or TypeScript type). */
  readonly expected?: string
  /** A short description of the value given. */
  readonly given?: string
  /** The 0-based row of a result or of a COPY/executemany input. */
  readonly row?: number
  /** The result column the value was read from. */
  readonly column?: string
}> {
  constructor(args: {
    readonly message: string
    readonly position?: number | undefined
    readonly expected?: string | undefined
    readonly given?: string | undefined
    readonly row?: number | undefined
    readonly column?: string | undefined
  }) {
    super(dropUndefined({ ...args, message: redactDsn(args.message) }))
  }

  /** `DataError: message`. */
  override toString(): string {
    return `${this._tag}: ${this.message}`
  }
}

/**
 * A result value could not be decoded because a type changed since the
 * connection introspected it (asyncpg's `OutdatedSchemaCacheError`): a
 * composite type whose attributes were added, dropped or retyped by
 * `ALTER TYPE`. The query ran; none of its rows were returned. The
 * connection (and every connection of its pool) has forgotten the types it
 * introspected and its cached statements, so the next call introspects the
 * type again and decodes its values correctly: run the call again (inside a
 * transaction, once the schema change is visible to it).
 *
 * @since 0.1.0
 * @category errors
 */
export class OutdatedSchemaCacheError extends Data.TaggedError("OutdatedSchemaCacheError")<{
  /** What happened and what to do. */
  readonly message: string
  /** The name of the type whose values no longer match. */
  readonly dataTypeName: string
  /** The 1-based attribute of the type where it differs, when it is one. */
  readonly position?: number
  /** The 0-based row of the result. */
  readonly row?: number
  /** The result column the value was read from. */
  readonly column?: string
}> {
  constructor(args: {
    readonly message: string
    readonly dataTypeName: string
    readonly position?: number | undefined
    readonly row?: number | undefined
    readonly column?: string | undefined
  }) {
    super(dropUndefined({ ...args, message: redactDsn(args.message) }))
  }

  /** `OutdatedSchemaCacheError: message`. */
  override toString(): string {
    return `${this._tag}: ${this.message}`
  }
}

/**
 * A result row did not match the `schema` a query was given
 * (`fetch(sql, args, { schema })`): `row` is its 0-based index in the
 * result (in the stream, for a cursor), `column` the column the Schema
 * complained about (when it names one), `issue` the Schema's own account.
 * The query ran; no row of it was returned. Fix the schema or the SQL
 * (a cast, a column alias).
 *
 * @since 0.1.0
 * @category errors
 */
export class RowDecodeError extends Data.TaggedError("RowDecodeError")<{
  /** What happened and what to do. */
  readonly message: string
  /** The 0-based row of the result (of the stream, for a cursor). */
  readonly row: number
  /** The column the Schema's issue points at, when it points at one. */
  readonly column?: string
  /** The Schema issue, formatted. */
  readonly issue: string
}> {
  constructor(args: { readonly message: string; readonly row: number; readonly column?: string | undefined; readonly issue: string }) {
    super(dropUndefined({ ...args, message: redactDsn(args.message) }))
  }

  /** `RowDecodeError: message`. */
  override toString(): string {
    return `${this._tag}: ${this.message}`
  }
}

/**
 * Any error raised by effect-pg itself rather than the server.
 *
 * @since 0.1.0
 * @category models
 */
/**
 * A pool hook (`init`, `setup`, `reset`) failed; the connection it ran on
 * was discarded. `cause` is what the hook failed with.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolHookError extends Data.TaggedError("PoolHookError")<{
  /** What happened and what to do. */
  readonly message: string
  /** Which hook failed. */
  readonly hook: string
  /** The hook's own failure (redacted). */
  readonly cause?: unknown
}> {
  constructor(args: { readonly message: string; readonly hook: string; readonly cause?: unknown }) {
    super({ ...args, message: redactDsn(args.message), cause: redactCause(args.cause) })
  }

  /** `PoolHookError (setup): message`. */
  override toString(): string {
    return `${this._tag} (${this.hook}): ${this.message}`
  }
}

export type ClientError =
  | PoolHookError
  | PostgresConnectionError
  | ConnectionDoesNotExistError
  | AcquireTimeoutError
  | CommandTimeoutError
  | PoolClosedError
  | PoolExhaustedError
  | InterfaceError
  | ProtocolError
  | DataError
  | OutdatedSchemaCacheError
  | RowDecodeError

const NODE_CODE_REASONS: Readonly<Record<string, ConnectionErrorReason>> = {
  ECONNREFUSED: "refused",
  ECONNRESET: "reset",
  EPIPE: "reset",
  ECONNABORTED: "reset",
  ETIMEDOUT: "timeout",
  ESOCKETTIMEDOUT: "timeout",
  ENOTFOUND: "dns",
  EAI_AGAIN: "dns",
  EAI_NONAME: "dns",
  EAI_FAIL: "dns",
  EHOSTUNREACH: "refused",
  ENETUNREACH: "refused",
  ENOENT: "refused"
}

/**
 * Classifies a Node.js socket/TLS/DNS error as a {@link ConnectionErrorReason}
 * from its `code` (`ECONNREFUSED` → `"refused"`, `ERR_TLS_*` / OpenSSL codes
 * → `"tls"`, ...). An `AggregateError` (several addresses tried) is
 * classified by its first error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectionErrorReason = (cause: unknown): ConnectionErrorReason => {
  if (typeof cause !== "object" || cause === null) return "other"
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    return connectionErrorReason(cause.errors[0])
  }
  const code = (cause as { readonly code?: unknown }).code
  if (typeof code !== "string") return "other"
  const known = NODE_CODE_REASONS[code]
  if (known !== undefined) return known
  if (code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || code.startsWith("CERT_") ||
    code.includes("CERT") || code === "DEPTH_ZERO_SELF_SIGNED_CERT" || code === "SELF_SIGNED_CERT_IN_CHAIN") {
    return "tls"
  }
  return "other"
}
