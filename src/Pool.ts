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
 * Built on `effect/Pool` (`makeWithTTL`), with what asyncpg adds and
 * `effect/Pool` lacks: a hard cap on live connections, fail-fast
 * construction, acquire timeouts, `maxQueries`, generations for
 * `expireConnections`, setup/init/reset hooks, graceful close and terminate.
 *
 * Pool-level one-shot queries (`pool.fetch`, ...) of plain DML/SELECT
 * statements share connections: they are pipelined onto "lanes" (connections
 * the pool borrows from itself) instead of taking one connection each. A
 * statement that can change session state (SET, LISTEN, advisory locks, a
 * script) always gets a connection of its own and the reset after it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as EffectPool from "effect/Pool"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Connection from "./Connection.js"
import * as Errors from "./Errors.js"
import type * as PgRecord from "./Record.js"
import type { Session } from "./internal/Session.js"
import type * as Copy from "./internal/copy.js"

/** A connection borrowed from the pool: the Connection API, usable until released. */
export type PoolConnection = Connection.Connection

/** A user hook (init, setup, reset): any Effect; its failure becomes a {@link PoolHookError}. */
export type Hook = (conn: Connection.Connection) => Effect.Effect<unknown, unknown>

/** Pool options: asyncpg's `create_pool` arguments plus every `Connection.connect` option. */
export interface PoolOptions extends Connection.ConnectOptions {
  /** connections opened at start and kept open (default 10) */
  readonly minSize?: number
  /** hard cap on live connections (default 10) */
  readonly maxSize?: number
  /** a connection is replaced after serving this many queries (default 50,000) */
  readonly maxQueries?: number
  /** idle connections above minSize are closed after this long (default 300 seconds; 0 disables) */
  readonly maxInactiveConnectionLifetime?: Duration.Input
  /** makes a connection instead of `Connection.connectUnscoped` */
  readonly connect?: (options: Connection.ConnectOptions) => Effect.Effect<Connection.Connection, Connection.ConnectError>
  /** runs once on every new connection (type codecs, `SET timezone`) */
  readonly init?: Hook
  /** runs every time a connection is acquired, before the caller sees it */
  readonly setup?: Hook
  /** runs on release instead of the default reset (an open transaction is always rolled back first) */
  readonly reset?: Hook
  /** wraps each acquired connection (asyncpg's connection_class) */
  readonly connectionClass?: (conn: Connection.Connection) => Connection.Connection
  /** let pool-level one-shot queries share connections, pipelined (default true) */
  readonly pipelining?: boolean
  /**
   * pool-level queries of a fast statement (the server answers it in under
   * 0.5 ms on average) in flight on one shared connection before another
   * connection is opened for them (default 64). Slow or new statements spread
   * over connections first; all pipeline deeper once maxSize are in use.
   */
  readonly pipelineDepth?: number
  /** how long close() waits before logging the connections still out (default 60 seconds) */
  readonly closeWarningAfter?: Duration.Input
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
  /** callers waiting in acquire */
  readonly waiting: number
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
}

/** Every error acquiring can fail with. */
export type AcquireError =
  | Errors.AcquireTimeoutError
  | Errors.PoolClosedError
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
  /** Stops new acquires, waits for borrowed connections, closes everything. */
  close(): Effect.Effect<void>
  /** Closes every connection now; borrowed ones fail their next query. */
  terminate(): Effect.Effect<void>
  /** Replaces every connection: idle ones now, borrowed ones on release. */
  expireConnections(): Effect.Effect<void>
  /** New connections use these arguments (existing ones are kept until replaced). */
  setConnectArgs(dsn?: string, options?: Connection.ConnectOptions): Effect.Effect<void>
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

interface Slot {
  readonly base: Connection.ConnectionImpl
  readonly session: Session
  readonly generation: number
  /** held by acquire() or by the shared lanes */
  borrowed: boolean
  /** shared (pipelined) queries in flight, when this slot is a lane */
  inFlight: number
  /** a lane that takes no new queries and returns when idle */
  draining: boolean
  /** the lane's lease, while a lane */
  laneScope: Scope.Closeable | undefined
}

/** A slot with the inner pool's lease on it: closing the lease gives the slot back to the inner pool. */
interface Leased {
  readonly slot: Slot
  readonly lease: Scope.Closeable
}

/** An idle slot the pool keeps leased, for a fast next acquire. */
interface Parked extends Leased {
  readonly since: number
}

/** A caller waiting for a release (the inner pool has nothing to give). */
interface Waiter {
  /** resumes the caller: with a slot handed over, or "retry" to look again */
  readonly wake: (r: Leased | "retry") => void
  handed: Leased | undefined
}

interface Held {
  readonly slot: Slot
  readonly lease: Scope.Closeable
  /** shared with the caller's view: released once, then every use of the view fails */
  readonly guard: Connection.Lease
}

const toMillis = (d: Duration.Input | undefined, fallback: number): number => (d === undefined ? fallback : Duration.toMillis(d))

/** A lane whose server has not finished a request for this long counts as busy (ms). */
const STALL_MS = 2

/** A statement the server runs in less than this (ms, moving average) may be pipelined deeply. */
const FAST_MS = 0.5

/** Statements that cannot change session state: safe to pipeline on a shared connection. */
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

const hookError = (hook: string, cause: unknown) =>
  new Errors.PoolHookError({
    hook,
    message: `the pool's ${hook} hook failed: ${cause instanceof Error ? cause.message : String(cause)}; the connection was discarded`,
    cause
  })

/** The statements asyncpg's Connection.reset runs (what a released connection may have left behind). */
const RESET_SQL = "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;"

const validate = (o: PoolOptions): Errors.InterfaceError | undefined => {
  const min = o.minSize ?? 10
  const max = o.maxSize ?? 10
  const bad = (what: string) => new Errors.InterfaceError({ message: `invalid pool options: ${what}` })
  if (!Number.isInteger(max) || max <= 0) return bad(`maxSize must be a positive integer, got ${max}`)
  if (!Number.isInteger(min) || min < 0) return bad(`minSize must be a non-negative integer, got ${min}`)
  if (min > max) return bad(`minSize (${min}) must not be greater than maxSize (${max})`)
  const q = o.maxQueries ?? 50_000
  if (!Number.isInteger(q) || q <= 0) return bad(`maxQueries must be a positive integer, got ${q}`)
  const life = toMillis(o.maxInactiveConnectionLifetime, 300_000)
  if (!(life >= 0)) return bad("maxInactiveConnectionLifetime must not be negative")
  return undefined
}

class PgPoolImpl implements PgPoolShape {
  closing = false
  private closed = false
  private generation = 0
  private connectArgs: Connection.ConnectOptions
  private readonly slots = new Set<Slot>()
  private readonly held = new WeakMap<object, Held>()
  private readonly lanes: Array<Slot> = []
  private openingLanes = 0
  private waiting = 0
  private acquires = 0
  private acquireTimeouts = 0
  private acquireWaitMs = 0
  private sharedQueries = 0
  private borrowedCount = 0
  private readonly shareable = new Map<string, boolean>()
  private readonly whenAllReturned: Array<() => void> = []
  /** idle slots kept leased (LIFO: the warmest first) */
  private readonly parked: Array<Parked> = []
  /** callers waiting for a release, FIFO */
  private readonly waiters: Array<Waiter> = []
  /** callers inside the inner pool's get */
  private innerWaiting = 0
  /** connections being opened */
  private creating = 0
  private sweepTimer: NodeJS.Timeout | undefined
  inner!: EffectPool.Pool<Slot, AcquireError>
  scope!: Scope.Closeable
  readonly minSize: number
  readonly maxSize: number
  private readonly maxQueries: number
  private readonly pipelining: boolean
  private readonly pipelineDepth: number
  private readonly commandTimeoutMs: number
  /** how long an idle slot stays parked before it goes back to the inner pool */
  private readonly parkLingerMs: number

  constructor(readonly options: PoolOptions) {
    this.minSize = options.minSize ?? 10
    this.maxSize = options.maxSize ?? 10
    this.maxQueries = options.maxQueries ?? 50_000
    this.pipelining = options.pipelining ?? true
    this.pipelineDepth = Math.max(1, options.pipelineDepth ?? 64)
    this.commandTimeoutMs = toMillis(options.commandTimeout, 0)
    const lifetime = toMillis(options.maxInactiveConnectionLifetime, 300_000)
    this.parkLingerMs = lifetime > 0 ? Math.min(1000, lifetime / 4) : 1000
    this.connectArgs = options
  }

  /** What the inner pool runs to make an item: a permit of the hard cap, a connection, init. */
  makeSlot(permits: Semaphore.Semaphore): Effect.Effect<Slot, AcquireError, Scope.Scope> {
    const self = this
    return Effect.gen(function* () {
      // the hard cap: held from before connecting until after closing
      yield* Effect.acquireRelease(permits.take(1), () => permits.release(1))
      self.creating++
      yield* Effect.addFinalizer(() => Effect.sync(() => self.wakeOne()))
      const args = self.connectArgs
      const generation = self.generation
      const connectFn = self.options.connect ?? Connection.connectUnscoped
      const conn = yield* Effect.acquireRelease(connectFn(args), (c) => c.close()).pipe(
        Effect.ensuring(Effect.sync(() => self.creating--))
      )
      const base = conn as Connection.ConnectionImpl
      if (self.options.init) {
        yield* Effect.mapError(self.options.init(conn), (e) => hookError("init", e))
      }
      const slot: Slot = {
        base,
        session: base.session,
        generation,
        borrowed: false,
        inFlight: 0,
        draining: false,
        laneScope: undefined
      }
      self.slots.add(slot)
      yield* Effect.addFinalizer(() => Effect.sync(() => self.slots.delete(slot)))
      // a new connection sits in the inner pool: someone waiting on releases may take it
      self.wakeOne()
      return slot
    })
  }

  /** True when a slot must not be handed out again. */
  private spent(slot: Slot): boolean {
    const s = slot.session
    return s.closed || s.interrupted || slot.generation !== this.generation || s.queryCount >= this.maxQueries
  }

  private closedError(): Errors.PoolClosedError {
    return new Errors.PoolClosedError({ message: "the pool is closing or closed; no new connections are handed out" })
  }

  private markBorrowed(slot: Slot): void {
    slot.borrowed = true
    this.borrowedCount++
  }

  private markReturned(slot: Slot): void {
    if (!slot.borrowed) return
    slot.borrowed = false
    this.borrowedCount--
    if (this.borrowedCount === 0 && this.whenAllReturned.length > 0) {
      const waiters = this.whenAllReturned.splice(0)
      for (const w of waiters) w()
    }
  }

  /** Wakes the first caller waiting on releases to look again (capacity appeared elsewhere). */
  private wakeOne(): void {
    const w = this.waiters.shift()
    if (w !== undefined) w.wake("retry")
  }

  private wakeAll(): void {
    for (const w of this.waiters.splice(0)) w.wake("retry")
  }

  /** Gives a lease back to the inner pool, retiring the slot first when it is spent or broken. */
  private giveBack(l: Leased, retire: boolean): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      if (retire) yield* EffectPool.invalidate(self.inner, l.slot)
      yield* Scope.close(l.lease, Exit.void)
      self.wakeOne()
    })
  }

  /** A parked slot that is still good, or undefined. Spent ones are retired on the way. */
  private popParked(): Leased | undefined {
    while (this.parked.length > 0) {
      const p = this.parked.pop()!
      if (!this.spent(p.slot)) return p
      Effect.runFork(this.giveBack(p, true))
    }
    return undefined
  }

  /** True when the inner pool has an idle slot or may open one. */
  private innerHasRoom(): boolean {
    return this.slots.size - this.borrowedCount - this.parked.length > 0 || this.slots.size + this.creating < this.maxSize
  }

  /** Borrows from the inner pool (retiring spent slots on the way). */
  private fromInner(): Effect.Effect<Leased, AcquireError> {
    const self = this
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        while (true) {
          const lease = yield* Scope.make()
          self.innerWaiting++
          const exit = yield* Effect.exit(restore(Scope.provide(EffectPool.get(self.inner), lease)))
          self.innerWaiting--
          if (Exit.isFailure(exit)) {
            yield* Scope.close(lease, Exit.void)
            return yield* Effect.failCause(exit.cause)
          }
          const slot = exit.value
          if (self.spent(slot)) {
            yield* self.giveBack({ slot, lease }, true)
            continue
          }
          return { slot, lease }
        }
      })
    )
  }

  /**
   * Waits for a release to hand a slot over (or for a reason to look again),
   * until `deadline` (a Date.now() time; 0 = no limit). The timer is a plain
   * setTimeout armed only when the caller really waits.
   */
  private awaitRelease(timeoutMs: number, deadline: number): Effect.Effect<Leased | "retry", Errors.AcquireTimeoutError> {
    const w: Waiter = { wake: () => {}, handed: undefined }
    const wait = Effect.callback<Leased | "retry", Errors.AcquireTimeoutError>((resume) => {
      let timer: NodeJS.Timeout | undefined
      ;(w as { wake: Waiter["wake"] }).wake = (r) => {
        if (timer !== undefined) clearTimeout(timer)
        if (r !== "retry") w.handed = r
        resume(Effect.succeed(r))
      }
      this.waiters.push(w)
      if (deadline > 0) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(w)
          if (i < 0) return
          this.waiters.splice(i, 1)
          resume(Effect.fail(this.acquireTimeoutError(timeoutMs)))
        }, Math.max(0, deadline - Date.now()))
      }
      return Effect.sync(() => {
        if (timer !== undefined) clearTimeout(timer)
        const i = this.waiters.indexOf(w)
        if (i >= 0) this.waiters.splice(i, 1)
      })
    })
    // handed a slot, then interrupted before taking it: pass it on
    return Effect.onInterrupt(wait, () => (w.handed !== undefined ? this.putBack(w.handed) : Effect.void))
  }

  /**
   * Gets a good slot with its lease: a parked one, else from the inner pool
   * when it has room, else the next release. Interruptible while waiting;
   * fails with AcquireTimeoutError at `deadline` (0 = never).
   */
  private obtain(timeoutMs = 0, deadline = 0): Effect.Effect<Leased, AcquireError> {
    return Effect.suspend(() => {
      if (this.closing) return Effect.fail(this.closedError())
      const p = this.popParked()
      if (p !== undefined) return Effect.succeed(p)
      if (this.innerHasRoom()) {
        if (deadline === 0) return this.fromInner()
        return Effect.timeoutOrElse(this.fromInner(), {
          duration: Math.max(0, deadline - Date.now()),
          orElse: () => Effect.fail(this.acquireTimeoutError(timeoutMs))
        })
      }
      return Effect.flatMap(this.awaitRelease(timeoutMs, deadline), (r) =>
        r === "retry" ? this.obtain(timeoutMs, deadline) : Effect.succeed(r)
      )
    })
  }

  /**
   * A good, clean slot comes back: hand it to a waiting caller, or return it
   * to the inner pool when others wait there (or the pool closes), or park it.
   */
  private putBack(l: Leased): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closing || this.innerWaiting > 0) return this.giveBack(l, false)
      const w = this.waiters.shift()
      if (w !== undefined) {
        w.wake(l)
        return Effect.void
      }
      this.parked.push({ slot: l.slot, lease: l.lease, since: Date.now() })
      this.scheduleSweep()
      return Effect.void
    })
  }

  /** Parked slots idle for a moment go back to the inner pool (its TTL then applies). */
  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined) return
    this.sweepTimer = setInterval(() => {
      const cutoff = Date.now() - this.parkLingerMs
      while (this.parked.length > 0 && this.parked[0]!.since < cutoff) {
        Effect.runFork(this.giveBack(this.parked.shift()!, false))
      }
      if (this.parked.length === 0) {
        clearInterval(this.sweepTimer)
        this.sweepTimer = undefined
      }
    }, Math.max(10, this.parkLingerMs / 2))
    this.sweepTimer.unref()
  }

  /** Every parked slot goes back to the inner pool now (close, terminate). */
  private unparkAll(): Effect.Effect<void> {
    if (this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer)
      this.sweepTimer = undefined
    }
    const all = this.parked.splice(0)
    return Effect.forEach(all, (p) => this.giveBack(p, this.spent(p.slot)), { discard: true })
  }

  /** When callers wait and nothing is idle, ask one lane to finish and come back. */
  private drainLaneForAcquirer(): void {
    if (this.lanes.length === 0) return
    if (this.slots.size - this.borrowedCount > 0) return
    let pick: Slot | undefined
    for (const l of this.lanes) if (!l.draining && (pick === undefined || l.inFlight < pick.inFlight)) pick = l
    if (pick !== undefined) {
      pick.draining = true
      if (pick.inFlight === 0) this.returnLane(pick)
    }
  }

  /** Hands a slot to a caller: a view of the session guarded by a lease. */
  private lease(l: Leased): { view: PoolConnection; guard: Connection.Lease } {
    const slot = l.slot
    this.markBorrowed(slot)
    const guard: Connection.Lease = { released: false }
    const raw = new Connection.ConnectionImpl(slot.session, this.commandTimeoutMs, guard)
    const view = this.options.connectionClass ? this.options.connectionClass(raw) : raw
    this.held.set(view, { slot, lease: l.lease, guard })
    return { view, guard }
  }

  private acquireTimeoutError(timeoutMs: number): Errors.AcquireTimeoutError {
    this.acquireTimeouts++
    return new Errors.AcquireTimeoutError({
      message: `no connection became free within ${timeoutMs} ms (pool of ${this.maxSize}, ${this.waiting} waiting); raise the timeout or maxSize, or hold connections for less time`,
      timeoutMs
    })
  }

  acquireUnscoped(options?: AcquireOptions): Effect.Effect<PoolConnection, AcquireError> {
    const timeoutMs = toMillis(options?.timeout, 0)
    // only the wait (and the user's setup hook) can be interrupted; the hand-over cannot
    return Effect.uninterruptibleMask((restore) => {
      if (this.closing) return Effect.fail(this.closedError())
      const started = Date.now()
      this.waiting++
      this.drainLaneForAcquirer()
      const get = this.obtain(timeoutMs, timeoutMs > 0 ? started + timeoutMs : 0)
      return Effect.matchCauseEffect(restore(get), {
        onFailure: (cause): Effect.Effect<PoolConnection, AcquireError> => {
          this.waiting--
          this.acquireWaitMs += Date.now() - started
          return this.closing ? Effect.fail(this.closedError()) : Effect.failCause(cause)
        },
        onSuccess: (l): Effect.Effect<PoolConnection, AcquireError> => {
          this.waiting--
          this.acquireWaitMs += Date.now() - started
          if (this.closing) return Effect.andThen(this.giveBack(l, false), Effect.fail(this.closedError()))
          const { view, guard } = this.lease(l)
          this.acquires++
          const setup = this.options.setup
          if (setup === undefined) return Effect.succeed(view)
          return Effect.matchCauseEffect(restore(setup(view)), {
            onSuccess: () => Effect.succeed(view),
            onFailure: (cause) => {
              guard.released = true
              this.held.delete(view)
              this.markReturned(l.slot)
              return Effect.andThen(this.giveBack(l, true), Effect.fail(hookError("setup", cause)))
            }
          })
        }
      })
    })
  }

  acquire(options?: AcquireOptions): Effect.Effect<PoolConnection, AcquireError, Scope.Scope> {
    // interruptible: acquireUnscoped only lets interruption in while waiting (it masks the rest itself)
    return Effect.acquireRelease(this.acquireUnscoped(options), (conn) => Effect.ignore(this.release(conn)), { interruptible: true })
  }

  /** Rolls back, resets (user hook or asyncpg's reset when anything may be dirty). */
  private resetSlot(slot: Slot): Effect.Effect<void, unknown> {
    const s = slot.session
    const base = slot.base
    const rollback: Effect.Effect<unknown, unknown> = s.txStatus !== 0x49 ? base.execute("ROLLBACK") : Effect.void
    if (this.options.reset) {
      const hook = this.options.reset
      return Effect.andThen(rollback, Effect.suspend(() => hook(base)))
    }
    if (!s.stateDirty) return Effect.asVoid(rollback)
    return Effect.andThen(
      rollback,
      Effect.andThen(base.execute(RESET_SQL), Effect.sync(() => (s.stateDirty = false)))
    )
  }

  release(conn: PoolConnection, options?: AcquireOptions): Effect.Effect<void, Errors.InterfaceError> {
    return Effect.suspend(() => {
      const h = this.held.get(conn)
      if (h === undefined) {
        return Effect.fail(new Errors.InterfaceError({ message: "release(): this connection does not belong to this pool" }))
      }
      if (h.guard.released) return Effect.void
      h.guard.released = true
      const slot = h.slot
      const s = slot.session
      // nothing can be dirty: hand over (or park) without a round trip
      if (this.options.reset === undefined && s.txStatus === 0x49 && !s.stateDirty && !this.spent(slot)) {
        this.markReturned(slot)
        return this.putBack(h)
      }
      const timeoutMs = toMillis(options?.timeout, 0)
      const reset = this.spent(slot) ? Effect.fail("spent") : this.resetSlot(slot)
      const timedReset = timeoutMs > 0 ? Effect.timeout(reset, timeoutMs) : reset
      return Effect.uninterruptible(
        Effect.flatMap(Effect.exit(timedReset), (exit) => {
          this.markReturned(slot)
          return Exit.isSuccess(exit) && !this.spent(slot) ? this.putBack(h) : this.giveBack(h, true)
        })
      )
    })
  }

  withConnection<A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: AcquireOptions): Effect.Effect<A, E | AcquireError, R> {
    // acquire, use, release without a Scope: the cheapest way to borrow a connection
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(this.acquireUnscoped(options)), (conn) =>
        Effect.onExit(restore(f(conn)), () => Effect.ignore(this.release(conn)))
      )
    )
  }

  // -------------------------------------------------------------------------
  // Shared lanes: pool-level queries pipelined on borrowed connections
  // -------------------------------------------------------------------------

  /**
   * Chooses the shared connection for a pool-level query, or undefined to
   * open another. Statements the server answers fast are packed onto the
   * busiest lane that still has room (up to pipelineDepth in flight): fewer
   * connections mean fewer syscalls and context switches, and idle lanes go
   * back to the pool. Slow or not yet measured statements go to the least
   * busy lane, or a new one, so a slow query does not hold up others.
   */
  private pickLane(sql: string): Slot | undefined {
    const lanes = this.lanes
    let least: Slot | undefined
    let serverMs: number | undefined
    for (let i = 0; i < lanes.length; i++) {
      const l = lanes[i]!
      if (l.draining || l.session.closed) continue
      if (least === undefined || l.inFlight < least.inFlight) least = l
      if (serverMs === undefined) serverMs = l.session.statementServerMs(sql)
    }
    if (least === undefined || least.inFlight === 0 && (serverMs === undefined || serverMs >= FAST_MS)) return least
    if (serverMs !== undefined && serverMs < FAST_MS) {
      const now = performance.now()
      let packed: Slot | undefined
      for (let i = 0; i < lanes.length; i++) {
        const l = lanes[i]!
        if (l.draining || l.session.closed || l.inFlight >= this.pipelineDepth) continue
        if (l.inFlight > 0 && now - l.session.lastProgressAt >= STALL_MS) continue
        if (packed === undefined || l.inFlight > packed.inFlight) packed = l
      }
      if (packed !== undefined) return packed
    }
    return this.canGrowLanes() ? undefined : least
  }

  private canGrowLanes(): boolean {
    if (this.waiting > 0) return false
    const idle = this.slots.size - this.borrowedCount
    const spare = this.maxSize - this.slots.size
    return this.openingLanes < idle + spare
  }

  private openLane(): Effect.Effect<Slot, AcquireError> {
    const self = this
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        self.openingLanes++
        const exit = yield* Effect.exit(restore(self.obtain()))
        self.openingLanes--
        if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause)
        const { slot, lease: scope } = exit.value
        self.markBorrowed(slot)
        if (self.options.setup) {
          // a lane is a borrowed connection: setup runs as on acquire (reset runs when it goes back)
          const setupExit = yield* Effect.exit(restore(self.options.setup(slot.base)))
          if (Exit.isFailure(setupExit)) {
            self.markReturned(slot)
            yield* self.giveBack(exit.value, true)
            return yield* Effect.fail(hookError("setup", setupExit.cause))
          }
        }
        slot.laneScope = scope
        slot.draining = false
        self.lanes.push(slot)
        return slot
      })
    )
  }

  /** Gives an idle lane back to the pool (after a reset if it got dirty). */
  private returnLane(slot: Slot): void {
    const i = this.lanes.indexOf(slot)
    if (i < 0) return
    this.lanes.splice(i, 1)
    const scope = slot.laneScope!
    slot.laneScope = undefined
    const self = this
    Effect.runFork(
      Effect.gen(function* () {
        const spent = self.spent(slot)
        const ok = spent ? false : Exit.isSuccess(yield* Effect.exit(self.resetSlot(slot)))
        self.markReturned(slot)
        if (!ok || self.spent(slot)) yield* self.giveBack({ slot, lease: scope }, true)
        else yield* self.putBack({ slot, lease: scope })
      })
    )
  }

  private laneDone = (slot: Slot): void => {
    slot.inFlight--
    if (slot.inFlight === 0 && (slot.draining || this.closing || this.spent(slot))) {
      this.returnLane(slot)
    } else if (slot.inFlight === 0) {
      // keep it for the next burst; hand it back if nobody uses it this turn
      setImmediate(() => {
        if (slot.inFlight === 0 && slot.laneScope !== undefined) this.returnLane(slot)
      })
    }
  }

  private onLane<A>(slot: Slot, f: (conn: Connection.ConnectionImpl) => Effect.Effect<A, Connection.QueryError>): Effect.Effect<A, Connection.QueryError> {
    slot.inFlight++
    this.sharedQueries++
    // queries assigned but not yet sent count too: maxQueries holds under bursts
    if (this.spent(slot) || slot.session.queryCount + slot.inFlight >= this.maxQueries) slot.draining = true
    return Effect.onExit(f(slot.base), () => Effect.sync(() => this.laneDone(slot)))
  }

  /** Runs a pool-level query: on a shared lane when safe, else on a connection of its own. */
  private run<A>(
    sql: string,
    shareable: boolean,
    f: (conn: Connection.ConnectionImpl) => Effect.Effect<A, Connection.QueryError>
  ): Effect.Effect<A, PoolQueryError> {
    if (!this.pipelining || !shareable) {
      return this.withConnection((conn) => f(conn as Connection.ConnectionImpl))
    }
    return Effect.suspend(() => {
      if (this.closing) return Effect.fail(this.closedError())
      const lane = this.pickLane(sql)
      if (lane !== undefined) return this.onLane(lane, f)
      return Effect.flatMap(this.openLane(), (slot) => this.onLane(slot, f))
    })
  }

  execute(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) {
    const shareable = args !== undefined && args.length > 0 && isShareable(this.shareable, sql)
    return this.run(sql, shareable, (c) => c.execute(sql, args, options))
  }
  fetch<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) {
    return this.run(sql, isShareable(this.shareable, sql), (c) => c.fetch<R>(sql, args, options))
  }
  fetchrow<R = PgRecord.Record>(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) {
    return this.run(sql, isShareable(this.shareable, sql), (c) => c.fetchrow<R>(sql, args, options))
  }
  fetchval(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions & { readonly column?: number | string }) {
    return this.run(sql, isShareable(this.shareable, sql), (c) => c.fetchval(sql, args, options))
  }
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions) {
    return this.run(sql, isShareable(this.shareable, sql), (c) => c.executemany(sql, argsList, options))
  }
  fetchmany<R = PgRecord.Record>(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions) {
    return this.run(sql, isShareable(this.shareable, sql), (c) => c.fetchmany<R>(sql, argsList, options))
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

  private awaitAllReturned(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      if (this.borrowedCount === 0) {
        resume(Effect.void)
        return
      }
      const w = () => resume(Effect.void)
      this.whenAllReturned.push(w)
      return Effect.sync(() => {
        const i = this.whenAllReturned.indexOf(w)
        if (i >= 0) this.whenAllReturned.splice(i, 1)
      })
    })
  }

  close(): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      if (self.closed) return
      self.closing = true
      self.wakeAll()
      yield* self.unparkAll()
      for (const l of [...self.lanes]) {
        l.draining = true
        if (l.inFlight === 0) self.returnLane(l)
      }
      const warnAfter = toMillis(self.options.closeWarningAfter, 60_000)
      yield* self.awaitAllReturned().pipe(
        Effect.timeoutOrElse({
          duration: warnAfter,
          orElse: () =>
            Effect.andThen(
              Effect.logWarning(
                `effect-pg: pool.close() has waited ${warnAfter} ms; ${self.borrowedCount} connection(s) are still borrowed — release them, or use terminate()`
              ),
              self.awaitAllReturned()
            )
        })
      )
      self.closed = true
      yield* self.unparkAll()
      yield* Scope.close(self.scope, Exit.void)
    })
  }

  terminate(): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      if (self.closed) return
      self.closing = true
      self.closed = true
      self.wakeAll()
      for (const slot of self.slots) slot.session.destroy()
      yield* self.unparkAll()
      // borrowers get errors now; the inner pool finishes closing when their scopes end
      yield* Effect.forkDetach(Scope.close(self.scope, Exit.void))
    })
  }

  expireConnections(): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      self.generation++
      // parked slots are idle: retire them now (popParked would on the next acquire anyway)
      const parked = self.parked.splice(0)
      for (const p of parked) yield* self.giveBack(p, true)
      const parkedSlots = new Set(parked.map((p) => p.slot))
      for (const slot of [...self.slots]) {
        if (parkedSlots.has(slot)) continue
        if (!slot.borrowed) yield* EffectPool.invalidate(self.inner, slot)
        else if (slot.laneScope !== undefined) slot.draining = true
      }
    })
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

  isClosing(): boolean {
    return this.closing
  }
  getSize(): number {
    return this.slots.size
  }
  getIdleSize(): number {
    return this.slots.size - this.borrowedCount
  }
  getMinSize(): number {
    return this.minSize
  }
  getMaxSize(): number {
    return this.maxSize
  }
  stats(): PoolStats {
    return {
      size: this.slots.size,
      idle: this.slots.size - this.borrowedCount,
      borrowed: this.borrowedCount,
      waiting: this.waiting,
      minSize: this.minSize,
      maxSize: this.maxSize,
      acquires: this.acquires,
      acquireTimeouts: this.acquireTimeouts,
      acquireWaitMs: this.acquireWaitMs,
      sharedQueries: this.sharedQueries
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
    const permits = yield* Semaphore.make(impl.maxSize)
    const scope = yield* Scope.make()
    impl.scope = scope
    const lifetime = toMillis(options.maxInactiveConnectionLifetime, 300_000)
    impl.inner = yield* Scope.provide(
      EffectPool.makeWithTTL({
        acquire: impl.makeSlot(permits),
        min: impl.minSize,
        max: impl.maxSize,
        timeToLive: lifetime > 0 ? lifetime : Duration.infinity,
        timeToLiveStrategy: "usage"
      }),
      scope
    )
    // fail fast: minSize connections must open now
    const warm = yield* Effect.exit(
      Effect.scoped(
        Effect.forEach(Array.from({ length: impl.minSize }), () => EffectPool.get(impl.inner), {
          concurrency: "unbounded",
          discard: true
        })
      )
    )
    if (Exit.isFailure(warm)) {
      yield* Scope.close(scope, Exit.void)
      return yield* Effect.failCause(warm.cause)
    }
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
