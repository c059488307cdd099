/**
 * A connection pool with asyncpg's semantics, as an Effect service.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { PgPool } from "effect-pg/Pool"
 *
 * const PgPoolLive = PgPool.layer({ dsn: "postgres://localhost/app", minSize: 5, maxSize: 20 })
 *
 * const program = Effect.gen(function* () {
 *   const pool = yield* PgPool
 *   const users = yield* pool.fetch("SELECT * FROM users WHERE active = $1", [true])
 *   yield* Effect.scoped(
 *     Effect.flatMap(pool.acquire({ timeout: "5 seconds" }), (conn) => conn.execute("SET search_path = app"))
 *   )
 * }).pipe(Effect.provide(PgPoolLive))
 * ```
 *
 * The engine (`pool/core.ts`) serves one FIFO queue of callers, each with
 * its own deadline, from whatever frees first; a hard cap keeps live
 * connections at `maxSize` even while replacements open; a released
 * connection that ran anything gets asyncpg's reset (ROLLBACK, advisory
 * locks, cursors, LISTENs, settings, session authorization) written into its
 * pipeline at once, so the next borrower does not wait a round trip for it,
 * and listeners, log listeners, query loggers and transaction bookkeeping of
 * the lease are forgotten.
 *
 * Pool-level one-shot queries (`pool.fetch`, ...) of plain DML/SELECT
 * statements share connections ("lanes"), as a transaction-mode pooler
 * (PgBouncer) shares server connections: state that outlives a statement
 * (a `set_config(..., false)` inside a function, a session advisory lock
 * taken by a function) is visible to other pool-level queries on the same
 * lane until the lane goes back to the pool and is reset. Code that keys
 * row-level security or tenancy on session settings must use
 * `acquire`/`withConnection` (or `pipelining: false`, which gives every
 * pool-level query a connection of its own and the reset after it, as
 * asyncpg does). Only statements the server is known to answer fast are
 * pipelined behind each other; a slow or new statement gets a lane of its
 * own, so it never holds a fast one up.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Connection from "./Connection.js"
import * as Errors from "./Errors.js"
import type * as Copy from "./connection/copy/options.js"
import { Session } from "./connection/Session.js"
import { PoolCore, type Slot, type Waiter } from "./pool/core.js"
import type * as PgRecord from "./Record.js"

/** A connection borrowed from the pool: the Connection API, usable until released. */
export type PoolConnection = Connection.Connection

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
   * commandTimeout, else until served)
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
}

/** Options of `acquire` and `release`. */
export interface AcquireOptions {
  /** fail with `AcquireTimeoutError` when no connection is free within this long */
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

/** The pool, as `yield* PgPool` gives it. */
export interface PgPoolShape {
  /** Borrows a connection for the scope; released (and reset) when the scope closes. */
  acquire(options?: AcquireOptions): Effect.Effect<PoolConnection, AcquireError, Scope.Scope>
  /** Borrows a connection that the caller gives back with {@link PgPoolShape.release}. */
  acquireUnscoped(options?: AcquireOptions): Effect.Effect<PoolConnection, AcquireError>
  /** Gives a connection back (idempotent; also what closing an acquire scope does). */
  release(conn: PoolConnection, options?: AcquireOptions): Effect.Effect<void, Errors.InterfaceError>
  execute(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions): Effect.Effect<string, PoolQueryError>
  fetch<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions): Effect.Effect<ReadonlyArray<R>, PoolQueryError>
  fetchrow<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions): Effect.Effect<R | null, PoolQueryError>
  fetchval(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: Connection.QueryOptions & { readonly column?: number | string }
  ): Effect.Effect<unknown, PoolQueryError>
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions): Effect.Effect<void, PoolQueryError>
  fetchmany<R = PgRecord.Record>(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: Connection.QueryOptions
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<R>>, PoolQueryError>
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
  withConnection<A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: AcquireOptions): Effect.Effect<A, E | AcquireError, R>
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

/** The pool service: `yield* PgPool`, `PgPool.layer(options)`. */
export class PgPool extends Context.Service<PgPool, PgPoolShape>()("effect-pg/PgPool") {
  /** A scoped pool; see {@link make}. */
  static readonly make = (options: PoolOptions = {}) => make(options)
  /** The pool as a Layer; see {@link layer}. */
  static readonly layer = (options: PoolOptions = {}) => layer(options)
  /** The pool as a Layer configured from DATABASE_URL / PG*; see {@link layerConfig}. */
  static readonly layerConfig = (options: PoolOptions = {}) => layerConfig(options)
}

// ---------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------

/** One lease: the caller's view of a slot, guarded until released. */
interface Held {
  readonly slot: Slot
  readonly guard: Connection.Lease
  /** leakDetectionThreshold's timer, while borrowed */
  leak: ReturnType<typeof setTimeout> | undefined
}

/** Parsed duration strings ("30 seconds"): callers pass the same few literals on every call. */
const parsedDurations = new Map<string, number>()

const toMillis = (d: Duration.Input | undefined, fallback: number): number => {
  if (d === undefined) return fallback
  if (typeof d === "number") return d
  if (typeof d !== "string") return Duration.toMillis(d)
  let ms = parsedDurations.get(d)
  if (ms === undefined) {
    ms = Duration.toMillis(d)
    if (parsedDurations.size > 256) parsedDurations.clear()
    parsedDurations.set(d, ms)
  }
  return ms
}

/** Statements that cannot change session state by themselves: pool-level queries that may share a lane. */
const SHAREABLE = /^\s*(?:\(\s*)*(?:select|insert|update|delete|with|values|table|merge)\b/i
const SESSION_CHANGING = /pg_advisory|set_config|\bfor\s+(?:update|share|no\s+key|key)\b|\binto\s+temp|\bcreate\b|\blisten\b|\bnotify\b|dblink|lo_/i

const isShareable = (cache: Map<string, boolean>, sql: string): boolean => {
  let v = cache.get(sql)
  if (v === undefined) {
    v = SHAREABLE.test(sql) && !SESSION_CHANGING.test(sql) && !sql.includes(";")
    if (cache.size > 1000) cache.clear()
    cache.set(sql, v)
  }
  return v
}

/** The user's error out of a hook's Cause (its failure, else its defect). */
const userError = (cause: Cause.Cause<unknown>): unknown => {
  const found = Cause.findErrorOption(cause)
  return Option.isSome(found) ? found.value : Cause.squash(cause)
}

const hookError = (hook: string, cause: unknown) =>
  new Errors.PoolHookError({
    hook,
    message: `the pool's ${hook} hook failed: ${cause instanceof Error ? cause.message : String(cause)}; the connection was discarded`,
    cause
  })

const validate = (o: PoolOptions): Errors.InterfaceError | undefined => {
  const min = o.minSize ?? Math.min(10, o.maxSize ?? 10)
  const max = o.maxSize ?? 10
  const bad = (what: string) => new Errors.InterfaceError({ message: `invalid pool options: ${what}` })
  if (!Number.isInteger(max) || max <= 0) return bad(`maxSize must be a positive integer, got ${max}`)
  if (!Number.isInteger(min) || min < 0) return bad(`minSize must be a non-negative integer, got ${min}`)
  if (min > max) return bad(`minSize (${min}) must not be greater than maxSize (${max})`)
  const q = o.maxQueries ?? 50_000
  if (!Number.isInteger(q) || q <= 0) return bad(`maxQueries must be a positive integer, got ${q}`)
  const durations: ReadonlyArray<[string, Duration.Input | undefined]> = [
    ["maxInactiveConnectionLifetime", o.maxInactiveConnectionLifetime],
    ["acquireTimeout", o.acquireTimeout],
    ["closeTimeout", o.closeTimeout],
    ["commandTimeout", o.commandTimeout],
    ["maxLifetime", o.maxLifetime],
    ["pingIdleThreshold", o.pingIdleThreshold],
    ["pingTimeout", o.pingTimeout],
    ["healthCheckPeriod", o.healthCheckPeriod],
    ["leakDetectionThreshold", o.leakDetectionThreshold]
  ]
  for (const [name, d] of durations) {
    if (d === undefined) continue
    let ms: number
    try {
      ms = Duration.toMillis(d)
    } catch {
      return bad(`${name} is not a duration: ${String(d)}`)
    }
    if (!(ms >= 0)) return bad(`${name} must not be negative, got ${String(d)}`)
  }
  if (o.maxWaiting !== undefined && !(Number.isInteger(o.maxWaiting) && o.maxWaiting >= 0)) {
    return bad(`maxWaiting must be a non-negative integer, got ${o.maxWaiting}`)
  }
  const jitter = o.maxLifetimeJitter
  if (jitter !== undefined && !(jitter >= 0 && jitter <= 1)) return bad(`maxLifetimeJitter must be between 0 and 1, got ${jitter}`)
  if (o.pipelineDepth !== undefined && !(Number.isInteger(o.pipelineDepth) && o.pipelineDepth > 0)) {
    return bad(`pipelineDepth must be a positive integer, got ${o.pipelineDepth}`)
  }
  return undefined
}

/** Where a waiting caller's deadline came from: it decides the error it gets. */
interface Budget {
  /** performance.now() deadline, or 0 */
  readonly deadline: number
  readonly timeoutMs: number
  /** "command": the query's own timeout or commandTimeout (CommandTimeoutError); "acquire": AcquireTimeoutError */
  readonly kind: "command" | "acquire"
}

const NO_BUDGET: Budget = { deadline: 0, timeoutMs: 0, kind: "acquire" }

class PgPoolImpl implements PgPoolShape {
  readonly core: PoolCore
  private closed = false
  private connectArgs: Connection.ConnectOptions
  private readonly held = new WeakMap<object, Held>()
  private readonly shareable = new Map<string, boolean>()
  readonly minSize: number
  readonly maxSize: number
  private readonly pipelining: boolean
  private readonly commandTimeoutMs: number
  private readonly acquireTimeoutMs: number
  private readonly leakMs: number

  constructor(readonly options: PoolOptions) {
    this.minSize = options.minSize ?? Math.min(10, options.maxSize ?? 10)
    this.maxSize = options.maxSize ?? 10
    // with hooks, every pool-level query borrows a connection of its own so the hooks run around it
    this.pipelining = (options.pipelining ?? true) && options.setup === undefined && options.reset === undefined
    this.commandTimeoutMs = toMillis(options.commandTimeout, 0)
    this.acquireTimeoutMs = toMillis(options.acquireTimeout, 0)
    this.connectArgs = options
    this.core = new PoolCore(
      {
        minSize: this.minSize,
        maxSize: this.maxSize,
        maxQueries: options.maxQueries ?? 50_000,
        idleLifetimeMs: toMillis(options.maxInactiveConnectionLifetime, 300_000),
        pipelineDepth: Math.max(1, options.pipelineDepth ?? 64),
        closeTimeoutMs: toMillis(options.closeTimeout, 5_000),
        maxWaiting: options.maxWaiting ?? 0,
        maxLifetimeMs: toMillis(options.maxLifetime, 0),
        lifetimeJitter: options.maxLifetimeJitter ?? 0.2,
        pingIdleMs: toMillis(options.pingIdleThreshold, 1_000),
        pingTimeoutMs: toMillis(options.pingTimeout, 2_000),
        healthCheckMs: toMillis(options.healthCheckPeriod, 60_000)
      },
      (generation, cb) => this.openConnection(generation, cb),
      (message) => Effect.runFork(Effect.logWarning(message))
    )
    this.core.closedError = () => this.closedError()
    this.core.exhaustedError = () =>
      new Errors.PoolExhaustedError({
        message: `${this.core.config.maxWaiting} callers already wait for a connection (maxWaiting); the pool of ${this.core.config.maxSize} is saturated — retry later, raise maxSize or maxWaiting, or shed load`,
        maxWaiting: this.core.config.maxWaiting
      })
    this.leakMs = toMillis(options.leakDetectionThreshold, 0)
  }

  // -------------------------------------------------------------------------
  // Opening connections
  // -------------------------------------------------------------------------

  /** A caller's view of a session: the Connection API (or the connectionClass instance) behind a lease guard. */
  private view(session: Session, guard: Connection.Lease): PoolConnection {
    const raw = new Connection.ConnectionImpl(session, this.commandTimeoutMs, guard)
    return this.options.connectionClass ? this.options.connectionClass(raw) : raw
  }

  /** connect (the user's `connect` or connectUnscoped), then init; runs outside any caller's fiber. */
  private openConnection(_generation: number, cb: (error: unknown, conn: Connection.ConnectionImpl | undefined) => void): () => void {
    const self = this
    const args = this.connectArgs
    const connectFn = this.options.connect ?? Connection.connectUnscoped
    const init = this.options.init
    const effect = Effect.gen(function* () {
      const conn: unknown = yield* Effect.suspend(() => connectFn(args))
      const session = (conn as { session?: unknown } | null | undefined)?.session
      if (!(session instanceof Session)) {
        if (conn !== null && typeof conn === "object" && typeof (conn as Connection.Connection).close === "function") {
          yield* Effect.ignore((conn as Connection.Connection).close())
        }
        return yield* Effect.fail(
          new Errors.InterfaceError({
            message: `the pool's connect option returned ${conn === null ? "null" : typeof conn === "object" ? "an object that is not an effect-pg connection" : typeof conn}; it must return the connection that Connection.connectUnscoped(options) gives`
          })
        )
      }
      const base = new Connection.ConnectionImpl(session, self.commandTimeoutMs)
      if (init !== undefined) {
        const guard: Connection.Lease = { released: false }
        const exit = yield* Effect.exit(Effect.suspend(() => init(self.view(session, guard))))
        guard.released = true
        if (Exit.isFailure(exit)) {
          session.destroy()
          return yield* Effect.fail(hookError("init", userError(exit.cause)))
        }
      }
      return base
    })
    const cancel = Effect.runCallback(effect, {
      onExit: (exit) => {
        if (Exit.isSuccess(exit)) cb(undefined, exit.value)
        else if (Cause.hasInterrupts(exit.cause)) cb(new Errors.PostgresConnectionError({ message: "connection attempt interrupted", reason: "other" }), undefined)
        else cb(userError(exit.cause), undefined)
      }
    })
    return () => cancel()
  }

  /** Opens minSize connections now (fail-fast construction, as asyncpg's `await create_pool()`). */
  warm(): Effect.Effect<void, AcquireError> {
    const n = this.minSize
    if (n === 0) return Effect.void
    const core = this.core
    return Effect.callback<void, AcquireError>((resume) => {
      let left = n
      let failed = false
      const opened: Array<Connection.ConnectionImpl> = []
      const aborts: Array<() => void> = []
      for (let i = 0; i < n; i++) {
        aborts.push(
          this.openConnection(core.generation, (err, conn) => {
            left--
            if (err !== undefined || conn === undefined) {
              if (!failed) {
                failed = true
                for (const a of aborts) a()
                resume(Effect.fail(err as AcquireError))
              }
            } else if (failed) conn.session.destroy()
            else opened.push(conn)
            if (left === 0 && !failed) {
              for (const c of opened) core.adopt(c, core.generation, false)
              core.counters.created += opened.length
              resume(Effect.void)
            }
            if (left === 0 && failed) for (const c of opened) c.session.destroy()
          })
        )
      }
      return Effect.sync(() => {
        for (const a of aborts) a()
      })
    })
  }

  private closedError(): Errors.PoolClosedError {
    return new Errors.PoolClosedError({ message: "the pool is closing or closed; no new connections are handed out" })
  }

  // -------------------------------------------------------------------------
  // Exclusive leases
  // -------------------------------------------------------------------------

  private budget(timeout: Duration.Input | undefined, commandFallback: boolean): Budget {
    if (timeout !== undefined) {
      const ms = toMillis(timeout, 0)
      if (ms > 0) return { deadline: performance.now() + ms, timeoutMs: ms, kind: commandFallback ? "command" : "acquire" }
    }
    if (this.acquireTimeoutMs > 0) return { deadline: performance.now() + this.acquireTimeoutMs, timeoutMs: this.acquireTimeoutMs, kind: "acquire" }
    if (commandFallback && this.commandTimeoutMs > 0) {
      return { deadline: performance.now() + this.commandTimeoutMs, timeoutMs: this.commandTimeoutMs, kind: "command" }
    }
    return NO_BUDGET
  }

  private timeoutError(budget: Budget, sql: string | undefined): Errors.AcquireTimeoutError | Errors.CommandTimeoutError {
    const core = this.core
    const state = `pool of ${core.config.maxSize}: ${core.slots.size} open, ${core.borrowed} busy, ${core.waiting} waiting`
    return budget.kind === "command"
      ? new Errors.CommandTimeoutError({
          message: `the query did not get a connection within its ${budget.timeoutMs} ms timeout (${state}); raise the timeout or maxSize, or hold connections for less time`,
          timeoutMs: budget.timeoutMs,
          query: sql
        })
      : new Errors.AcquireTimeoutError({
          message: `no connection became free within ${budget.timeoutMs} ms (${state}); raise the timeout or maxSize, or hold connections for less time`,
          timeoutMs: budget.timeoutMs
        })
  }

  /** Waits in the pool's queue for a slot (exclusive, or a lane for `sql`). */
  private wait(shared: boolean, sql: string | undefined, budget: Budget): Effect.Effect<{ slot: Slot; waiter: Waiter }, AcquireError | Errors.CommandTimeoutError> {
    return Effect.callback((resume) => {
      const started = performance.now()
      const onTimeout = () => this.timeoutError(budget, sql)
      const cb = (error: unknown, slot: Slot | undefined, waiter: Waiter) => {
        this.core.counters.acquireWaitMs += performance.now() - started
        if (slot !== undefined) resume(Effect.succeed({ slot, waiter }))
        else resume(Effect.fail(error as AcquireError))
      }
      const w = shared ? this.core.waitLane(sql!, budget.deadline, onTimeout, cb) : this.core.waitExclusive(budget.deadline, onTimeout, cb)
      return Effect.sync(() => this.core.cancel(w))
    })
  }

  /** Hands a slot to a caller: a guarded view, then the setup hook. */
  private handOut(slot: Slot): Effect.Effect<PoolConnection, AcquireError> {
    const guard: Connection.Lease = { released: false }
    const view = this.view(slot.session, guard)
    const held: Held = { slot, guard, leak: undefined }
    if (this.leakMs > 0) held.leak = this.watchLeak(slot)
    this.held.set(view, held)
    const setup = this.options.setup
    if (setup === undefined) return Effect.succeed(view)
    return Effect.matchCauseEffect(Effect.suspend(() => setup(view)), {
      onSuccess: () => Effect.succeed(view),
      onFailure: (cause) => {
        guard.released = true
        this.held.delete(view)
        this.core.retire(slot, "hook")
        return Cause.hasInterrupts(cause) ? Effect.failCause(cause as Cause.Cause<never>) : Effect.fail(hookError("setup", userError(cause)))
      }
    })
  }

  acquireUnscoped(options?: AcquireOptions): Effect.Effect<PoolConnection, AcquireError> {
    return this.acquireWithin(options, undefined)
  }

  private acquireWithin(options: AcquireOptions | undefined, known: Budget | undefined): Effect.Effect<PoolConnection, AcquireError> {
    return Effect.suspend(() => {
      const core = this.core
      if (core.closing) return Effect.fail(this.closedError())
      const slot = core.take()
      if (slot !== undefined) {
        return core.needsPing(slot) ? this.pinged(slot, options, known ?? this.budget(options?.timeout, false)) : this.handOut(slot)
      }
      const budget = known ?? this.budget(options?.timeout, false)
      // only the wait (and the setup hook) can be interrupted; the hand-over cannot
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(this.wait(false, undefined, budget)) as Effect.Effect<{ slot: Slot; waiter: Waiter }, AcquireError>, ({ slot, waiter }) => {
          core.consumed(waiter)
          return core.needsPing(slot) ? this.pinged(slot, options, budget) : this.handOut(slot)
        })
      )
    })
  }

  /**
   * Hands out a connection that sat idle a while only once it answered a
   * ping; a dead one is dropped (its place frees at once) and the caller
   * gets another, within the same deadline.
   */
  private pinged(slot: Slot, options: AcquireOptions | undefined, budget: Budget): Effect.Effect<PoolConnection, AcquireError> {
    const core = this.core
    const left = budget.deadline > 0 ? Math.max(1, budget.deadline - performance.now()) : Infinity
    const timeoutMs = Math.min(core.config.pingTimeoutMs, left)
    return Effect.flatMap(
      Effect.callback<boolean>((resume) => core.ping(slot, timeoutMs, (ok) => resume(Effect.succeed(ok)))),
      (ok) => {
        if (ok) return this.handOut(slot)
        core.release(slot)
        return this.acquireWithin(options, budget)
      }
    )
  }

  /** Logs where a connection was acquired when it is still borrowed after leakDetectionThreshold. */
  private watchLeak(slot: Slot): ReturnType<typeof setTimeout> {
    const where = new Error("acquired here").stack ?? ""
    const timer = setTimeout(() => {
      Effect.runFork(
        Effect.logWarning(
          `effect-pg: a connection (backend ${slot.session.processId}) has been borrowed for more than ${this.leakMs} ms; release it (a leak?). ${where}`
        )
      )
    }, this.leakMs)
    timer.unref()
    return timer
  }

  acquire(options?: AcquireOptions): Effect.Effect<PoolConnection, AcquireError, Scope.Scope> {
    return Effect.acquireRelease(this.acquireUnscoped(options), (conn) => this.releaseQuietly(conn), { interruptible: true })
  }

  /** Forgets what the lease added to the session on the client: listeners, loggers, transactions. */
  private clearClientState(session: Session): void {
    Connection.forgetClientState(session)
  }

  private releaseQuietly(conn: PoolConnection, options?: AcquireOptions): Effect.Effect<void> {
    return Effect.ignore(this.release(conn, options))
  }

  release(conn: PoolConnection, options?: AcquireOptions): Effect.Effect<void, Errors.InterfaceError> {
    return Effect.suspend(() => {
      const h = this.held.get(conn)
      if (h === undefined) {
        return Effect.fail(new Errors.InterfaceError({ message: "release(): this connection does not belong to this pool" }))
      }
      if (h.guard.released) return Effect.void
      h.guard.released = true
      if (h.leak !== undefined) clearTimeout(h.leak)
      const slot = h.slot
      this.clearClientState(slot.session)
      const hook = this.options.reset
      if (!this.core.release(slot, hook !== undefined)) return Effect.void
      // the user's reset hook: ROLLBACK first, then the hook, within the release's time budget
      const s = slot.session
      const base = slot.conn
      const rollback: Effect.Effect<unknown, unknown> = s.txStatus !== 0x49 ? base.execute("ROLLBACK") : Effect.void
      const guard: Connection.Lease = { released: false }
      const run = Effect.andThen(rollback, Effect.suspend(() => hook!(this.view(s, guard))))
      const timeoutMs = toMillis(options?.timeout, 0)
      const bounded = timeoutMs > 0 ? Effect.timeout(run, timeoutMs) : run
      return Effect.uninterruptible(
        Effect.map(Effect.exit(bounded), (exit) => {
          guard.released = true
          this.core.finishReset(slot, Exit.isSuccess(exit))
        })
      )
    })
  }

  withConnection<A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: AcquireOptions): Effect.Effect<A, E | AcquireError, R> {
    // acquire, use, release without a Scope: the cheapest way to borrow a connection
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(this.acquireUnscoped(options)), (conn) =>
        Effect.onExit(restore(f(conn)), () => this.releaseQuietly(conn))
      )
    )
  }

  // -------------------------------------------------------------------------
  // Pool-level queries
  // -------------------------------------------------------------------------

  /** The query's options with its timeout shortened by the time it waited. */
  private remaining(options: Connection.QueryOptions | undefined, budget: Budget): Connection.QueryOptions | undefined {
    if (budget.kind !== "command" || budget.deadline === 0) return options
    const left = Math.max(1, budget.deadline - performance.now())
    return { ...options, timeout: left }
  }

  /** A pool-level query on a connection of its own (not shareable, or no lanes). */
  private runExclusive<A>(
    sql: string,
    options: Connection.QueryOptions | undefined,
    f: (conn: Connection.ConnectionImpl, options: Connection.QueryOptions | undefined) => Effect.Effect<A, Connection.QueryError>
  ): Effect.Effect<A, PoolQueryError> {
    return Effect.suspend(() => {
      const core = this.core
      if (core.closing) return Effect.fail(this.closedError())
      const slot = core.take()
      if (slot !== undefined) return this.onLease(slot, options, f)
      const budget = this.budget(options?.timeout, true)
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(this.wait(false, sql, budget)), ({ slot, waiter }) => {
          core.consumed(waiter)
          return restore(this.onLease(slot, this.remaining(options, budget), f))
        })
      )
    })
  }

  private onLease<A>(
    slot: Slot,
    options: Connection.QueryOptions | undefined,
    f: (conn: Connection.ConnectionImpl, options: Connection.QueryOptions | undefined) => Effect.Effect<A, Connection.QueryError>
  ): Effect.Effect<A, PoolQueryError> {
    if (this.options.setup === undefined && this.options.reset === undefined) {
      return Effect.onExit(f(slot.conn, options), () =>
        Effect.sync(() => {
          this.clearClientState(slot.session)
          this.core.release(slot)
        })
      )
    }
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(this.handOut(slot), (conn) =>
        Effect.onExit(restore(f(conn as Connection.ConnectionImpl, options)), () => this.releaseQuietly(conn))
      )
    )
  }

  /** Runs a pool-level query: on a shared lane when the statement allows it, else on a connection of its own. */
  private run<A>(
    sql: string,
    shareable: boolean,
    options: Connection.QueryOptions | undefined,
    f: (conn: Connection.ConnectionImpl, options: Connection.QueryOptions | undefined) => Effect.Effect<A, Connection.QueryError>
  ): Effect.Effect<A, PoolQueryError> {
    if (!this.pipelining || !shareable) return this.runExclusive(sql, options, f)
    return Effect.suspend(() => {
      const core = this.core
      if (core.closing) return Effect.fail(this.closedError())
      const lane = core.tryLane(sql)
      if (lane !== undefined) {
        const fast = core.lastFast
        return Effect.onExit(f(lane.conn, options), () => Effect.sync(() => core.laneDone(lane, sql, fast)))
      }
      const budget = this.budget(options?.timeout, true)
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(this.wait(true, sql, budget)), ({ slot, waiter }) => {
          core.consumed(waiter)
          const fast = waiter.fast
          return Effect.onExit(restore(f(slot.conn, this.remaining(options, budget))), () => Effect.sync(() => core.laneDone(slot, sql, fast)))
        })
      )
    })
  }

  execute(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) {
    const shareable = args !== undefined && args.length > 0 && isShareable(this.shareable, sql)
    return this.run(sql, shareable, options, (c, o) => c.execute(sql, args, o))
  }
  fetch<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) {
    return this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.fetch<R>(sql, args, o))
  }
  fetchrow<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) {
    return this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.fetchrow<R>(sql, args, o))
  }
  fetchval(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions & { readonly column?: number | string }) {
    return this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.fetchval(sql, args, o))
  }
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions) {
    return this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.executemany(sql, argsList, o))
  }
  fetchmany<R = PgRecord.Record>(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions) {
    return this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.fetchmany<R>(sql, argsList, o))
  }

  copyFromTable<E = never, R = never>(table: string, options: Copy.CopyFromTableOptions & { readonly output: Copy.CopyOutput<E, R> }) {
    return this.withConnection((c) => c.copyFromTable(table, options))
  }
  copyFromQuery<E = never, R = never>(
    query: string,
    args: ReadonlyArray<unknown> | undefined,
    options: Copy.CopyFromQueryOptions & { readonly output: Copy.CopyOutput<E, R> }
  ) {
    return this.withConnection((c) => c.copyFromQuery(query, args ?? [], options))
  }
  copyToTable<E = never, R = never>(table: string, options: Copy.CopyToTableOptions<E, R>) {
    return this.withConnection((c) => c.copyToTable(table, options))
  }
  copyRecordsToTable<E = never, R = never>(table: string, options: Copy.CopyRecordsOptions<E, R>) {
    return this.withConnection((c) => c.copyRecordsToTable(table, options))
  }

  // -------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------

  /** Waits until nothing is borrowed, opening or closing. */
  private awaitQuiet(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      const forget = this.core.onQuiet(() => resume(Effect.void))
      return Effect.sync(forget)
    })
  }

  close(options?: { readonly timeout?: Duration.Input }): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      if (self.closed) return
      self.core.beginClose()
      // pool-level queries are the pool's own borrowers: they get closeTimeout to finish, then their
      // connections are destroyed (a black-holed network must not hold close() forever)
      const core = self.core
      const lanesTimer = setTimeout(
        () =>
          core.abortLanes(
            new Errors.ConnectionDoesNotExistError({
              message: `the pool closed and this pool-level query did not finish within closeTimeout (${core.config.closeTimeoutMs} ms); its connection was closed`
            })
          ),
        core.config.closeTimeoutMs
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => clearTimeout(lanesTimer)))
      const limitMs = toMillis(options?.timeout, 0)
      if (limitMs > 0) {
        yield* Effect.timeoutOrElse(self.awaitQuiet(), {
          duration: limitMs,
          orElse: () => Effect.sync(() => self.core.terminate())
        })
      } else {
        const warnAfter = toMillis(self.options.closeWarningAfter, 60_000)
        yield* Effect.timeoutOrElse(self.awaitQuiet(), {
          duration: warnAfter,
          orElse: () =>
            Effect.andThen(
              Effect.logWarning(
                `effect-pg: pool.close() has waited ${warnAfter} ms; ${self.core.borrowed} connection(s) are still borrowed — release them, or use terminate()`
              ),
              self.awaitQuiet()
            )
        })
      }
      self.closed = true
    }).pipe(Effect.scoped)
  }

  terminate(): Effect.Effect<void> {
    return Effect.sync(() => {
      if (this.closed) return
      this.closed = true
      this.core.terminate()
    })
  }

  expireConnections(): Effect.Effect<void> {
    return Effect.sync(() => this.core.expire())
  }

  setConnectArgs(dsn?: string, options?: Connection.ConnectOptions): Effect.Effect<void> {
    return Effect.sync(() => {
      const base: Connection.ConnectOptions = { ...this.options }
      // applicationName is shorthand for serverSettings.application_name: a new one of either replaces the old
      if (options?.serverSettings?.["application_name"] !== undefined && options.applicationName === undefined) {
        delete (base as { applicationName?: string }).applicationName
      }
      this.connectArgs = { ...base, ...options, ...(dsn !== undefined ? { dsn } : {}) }
    })
  }

  resize(minSize: number, maxSize: number): Effect.Effect<void, Errors.InterfaceError> {
    return Effect.suspend(() => {
      const invalid = validate({ ...this.options, minSize, maxSize })
      if (invalid !== undefined) return Effect.fail(invalid)
      return Effect.sync(() => this.core.resize(minSize, maxSize))
    })
  }

  isClosing(): boolean {
    return this.core.closing
  }
  getSize(): number {
    return this.core.slots.size
  }
  getIdleSize(): number {
    return this.core.slots.size - this.core.borrowed
  }
  getMinSize(): number {
    return this.core.config.minSize
  }
  getMaxSize(): number {
    return this.core.config.maxSize
  }
  stats(): PoolStats {
    const core = this.core
    const c = core.counters
    return {
      size: core.slots.size,
      idle: core.slots.size - core.borrowed,
      borrowed: core.borrowed,
      waiting: core.waiting,
      opening: core.opening,
      minSize: core.config.minSize,
      maxSize: core.config.maxSize,
      acquires: c.acquires,
      acquireTimeouts: c.acquireTimeouts,
      acquireWaitMs: c.acquireWaitMs,
      sharedQueries: c.sharedQueries,
      emptyAcquires: c.emptyAcquires,
      canceledAcquires: c.canceledAcquires,
      exhausted: c.exhausted,
      borrowedMs: c.borrowedMs,
      created: c.created,
      closedByReason: { ...c.retired }
    }
  }
}

/**
 * Creates a pool in the current scope. When it succeeds, `minSize`
 * connections are open (a server that is down fails it, as asyncpg's
 * `await create_pool()` does); closing the scope closes the pool gracefully.
 */
export const make = (options: PoolOptions = {}): Effect.Effect<PgPoolShape, AcquireError | Errors.InterfaceError, Scope.Scope> =>
  Effect.gen(function* () {
    const invalid = validate(options)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    // resolve once so a bad DSN fails here, with a typed error
    yield* Connection.resolveOptions(options)
    const impl = new PgPoolImpl(options)
    // fail fast: minSize connections must open now
    yield* impl.warm()
    yield* Effect.addFinalizer(() => impl.close())
    return impl as PgPoolShape
  })

/** The pool as a Layer: `Effect.provide(PgPool.layer({ dsn, minSize: 5 }))`. */
export const layer = (options: PoolOptions = {}): Layer.Layer<PgPool, AcquireError | Errors.InterfaceError> =>
  Layer.effect(PgPool, make(options))

/**
 * The pool as a Layer whose DSN comes from configuration: `DATABASE_URL`
 * (read as a secret), else the `PG*` variables and libpq defaults. Explicit
 * options win.
 */
export const layerConfig = (
  options: PoolOptions = {}
): Layer.Layer<PgPool, AcquireError | Errors.InterfaceError | Config.ConfigError> =>
  Layer.effect(
    PgPool,
    Effect.gen(function* () {
      const url = yield* Config.option(Config.Redacted("DATABASE_URL"))
      const dsn = options.dsn ?? Option.getOrUndefined(Option.map(url, Redacted.value))
      return yield* make({ ...options, ...(dsn !== undefined ? { dsn } : {}) })
    })
  )
