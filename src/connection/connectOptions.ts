/**
 * What `connect()` takes and how it is checked: the connection options
 * (asyncpg's `connect()` arguments, camelCased), their validation and
 * resolution (DSN, `PG*` variables, defaults), and the server version as
 * asyncpg reports it. Re-exported by `Connection.ts`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Errors from "../Errors.js"
import type * as PgRecord from "../Record.js"
import type { RegistryOptions } from "../types/Registry.js"
import * as Core from "./Core.js"
import * as Dsn from "./options.js"

/** Connection options: asyncpg's `connect()` arguments, camelCased. */
export interface ConnectOptions extends Omit<Dsn.ConnectInput, "dsn"> {
  /**
   * a libpq URL (`postgres://user@host:5432/db?sslmode=require`) or
   * `key=value` string; `Redacted` when it holds a password
   */
  readonly dsn?: string | Redacted.Redacted<string>
  /** how long to wait for the connection to be established (default 60 seconds) */
  readonly timeout?: Duration.Input
  /**
   * default timeout of every query on this connection (default none; 0 or
   * Infinity: none — unlike a call's own `{ timeout }`, where 0 or below
   * times out at once)
   */
  readonly commandTimeout?: Duration.Input
  /**
   * size of the prepared-statement LRU cache (default 100); 0 disables it,
   * which implies `prepare: false`
   */
  readonly statementCacheSize?: number
  /**
   * `false`: keep no named prepared statement on the server between
   * requests (postgres.js's name for it). Every query parses its SQL as the
   * unnamed statement and binds, describes and executes it under one Sync;
   * the parameter and result types of each SQL text are learnt once
   * (Parse/Describe) and kept in a small per-connection cache, and rows are
   * decoded by the columns the server reports for that execution. Use it
   * behind a pooler in transaction mode (PgBouncer `pool_mode =
   * transaction`), which runs each transaction on whichever server
   * connection is free. `conn.prepare()` and cursors still make named
   * statements: use them inside a transaction there. Costs a Parse per
   * query on the server. Default `true` (named statements, cached).
   */
  readonly prepare?: boolean
  /** a cached statement older than this is prepared again (default 300 seconds; 0 = forever) */
  readonly maxCachedStatementLifetime?: Duration.Input
  /** SQL longer than this (characters) is never cached (default 15 KiB) */
  readonly maxCacheableStatementSize?: number
  /** builds the row objects instead of the default {@link PgRecord.Record} */
  readonly recordClass?: PgRecord.RecordFactory<unknown>
  /** how some types are decoded (numeric as string or number, int8 as bigint ...) */
  readonly types?: RegistryOptions
  /**
   * log the server's notices (NOTICE, WARNING, ...) through Effect's logger,
   * in the fiber of the query that caused them, at the matching level
   * (default true)
   */
  readonly logNotices?: boolean
}

/** The server's version, as asyncpg reports it. */
export interface ServerVersion {
  readonly major: number
  readonly minor: number
  readonly micro: number
  readonly releaselevel: string
  readonly serial: number
}

/** Checks the recordClass and numeric connection options; throws an Error saying which one is wrong. */
const checkOptions = (options: ConnectOptions): void => {
  if (options.recordClass !== undefined && typeof options.recordClass !== "function") {
    throw new Error(`recordClass must be a function (shape, values) => row, got ${typeof options.recordClass}`)
  }
  const size = options.statementCacheSize
  if (size !== undefined && !(Number.isInteger(size) && size >= 0)) {
    throw new Error(`statementCacheSize must be a whole number of 0 or more (0 disables the cache), got ${String(size)}`)
  }
  const max = options.maxCacheableStatementSize
  if (max !== undefined && !(max >= 0)) {
    throw new Error(`maxCacheableStatementSize must be 0 or more, got ${String(max)}`)
  }
  for (const [name, d] of [["commandTimeout", options.commandTimeout], ["timeout", options.timeout]] as const) {
    if (d === undefined) continue
    const ms = Core.timeoutMillis(d, name)
    if (typeof ms === "string") throw new Error(ms)
  }
  // a lifetime is compared with Date.now(), not put in a timer: any length is fine
  const lifetime = options.maxCachedStatementLifetime
  if (lifetime !== undefined && ((typeof lifetime === "number" && Number.isNaN(lifetime)) || !(Core.toMillis(lifetime) >= 0))) {
    throw new Error(`maxCachedStatementLifetime must be a duration of 0 or more (0 = forever), got ${String(lifetime)}`)
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

/**
 * Resolves options (DSN, PG* variables, service file, password file,
 * defaults) or fails with an InterfaceError; what libpq would print as a
 * warning (an unsafe password file) is logged at warning level.
 */
export const resolveOptions = (input: string | ConnectOptions | undefined): Effect.Effect<Dsn.ResolvedConnectOptions, Errors.InterfaceError> =>
  Effect.tap(resolveQuietly(input), (r) => Effect.forEach(r.warnings ?? [], (w) => Effect.logWarning(w), { discard: true }))

const resolveQuietly = (input: string | ConnectOptions | undefined): Effect.Effect<Dsn.ResolvedConnectOptions, Errors.InterfaceError> =>
  Effect.try({
    try: () => {
      const options: ConnectOptions = typeof input === "string" ? { dsn: input } : (input ?? {})
      checkOptions(options)
      // Infinity: no connect timeout (0 means none)
      const timeout = options.timeout !== undefined ? (Core.timeoutMillis(options.timeout, "timeout") as number) : undefined
      const dsn = Redacted.isRedacted(options.dsn) ? Redacted.value(options.dsn) : options.dsn
      return Dsn.resolveConnectOptions({ ...options, dsn, ...(timeout !== undefined ? { connectTimeout: timeout } : {}) })
    },
    catch: (e) =>
      new Errors.InterfaceError({
        message: `invalid connection options: ${Errors.redactDsn(e instanceof Error ? e.message : String(e))}`
      })
  })

