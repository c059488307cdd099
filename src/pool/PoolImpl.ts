/**
 * The pool service's implementation over the callback engine
 * (`pool/core.ts`): exclusive leases (acquire, setup hook, ping, leak
 * watch, release and reset hook), pool-level queries on lanes or on
 * connections of their own, and the lifecycle (close, terminate, expire,
 * resize, stats).
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as Connection from "../Connection.js"
import * as Core from "../connection/Core.js"
import * as Errors from "../Errors.js"
import { PoolObservability } from "../observability/pool.js"
import * as Spans from "../observability/spans.js"
import type * as Copy from "../connection/copy/options.js"
import type { Session } from "../connection/Session.js"
import type { SchemaEpoch } from "../connection/statements.js"
import * as TxStatus from "../connection/txStatus.js"
import * as Budget from "./budget.js"
import { PoolCore, type Slot, type Waiter } from "./core.js"
import { toMillis } from "./durations.js"
import { hookError, userError } from "./hooks.js"
import * as Open from "./open.js"
import { isShareable } from "./shareable.js"
import type { AcquireError, AcquireOptions, PgPoolShape, PoolConnection, PoolOptions, PoolQueryError, PoolStats } from "./types.js"
import { validate } from "./validate.js"

/**
 * One lease: the guard its view checks (`released`), and what release needs.
 * A plain view carries it as its `lease` (no side table, so an acquire
 * costs no WeakMap entry); a view made by `connectionClass` is looked up in
 * the pool's table.
 */
interface Held extends Connection.Lease {
  readonly owner: PgPoolImpl
  readonly slot: Slot
  /** leakDetectionThreshold's timer, while borrowed */
  leak: ReturnType<typeof setTimeout> | undefined
}

/** The pool: what `PgPool.make` builds and `yield* PgPool` gives. */
export class PgPoolImpl implements PgPoolShape {
  readonly core: PoolCore
  private closed = false
  connectArgs: Connection.ConnectOptions
  private readonly held = new WeakMap<object, Held>()
  private readonly shareable = new Map<string, boolean>()
  readonly minSize: number
  readonly maxSize: number
  private readonly pipelining: boolean
  readonly commandTimeoutMs: number
  private readonly acquireTimeoutMs: number
  private readonly leakMs: number
  /** spans, metrics and the pool's name (observability/) */
  readonly obs: PoolObservability
  /** shared by the pool's sessions: one that finds the schema changed makes them all forget */
  readonly schemaEpoch: SchemaEpoch = { statements: 0, types: 0 }

  constructor(readonly options: PoolOptions) {
    this.obs = new PoolObservability(options, () => this.stats())
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
      (_generation, cb, onProgress) => Open.openConnection(this, this.obs.adopting(cb), onProgress),
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
  view(session: Session, guard: Connection.Lease): PoolConnection {
    const raw = new Connection.ConnectionImpl(session, this.commandTimeoutMs, guard)
    return this.options.connectionClass ? this.options.connectionClass(raw) : raw
  }

  /** Opens minSize connections now (fail-fast construction, as asyncpg's `await create_pool()`). */
  warm(): Effect.Effect<void, AcquireError> {
    return Effect.tap(Open.warm(this.core, this.minSize, (cb) => Open.openConnection(this, this.obs.adopting(cb))), () => this.obs.register())
  }

  private closedError(): Errors.PoolClosedError {
    return new Errors.PoolClosedError({ message: "the pool is closing or closed; no new connections are handed out" })
  }

  // -------------------------------------------------------------------------
  // Exclusive leases
  // -------------------------------------------------------------------------

  /** The budget of a caller that gave no timeout of its own: the pool's defaults. */
  private defaultBudget(commandFallback: boolean): Budget.Budget {
    return Budget.budgetOf(undefined, commandFallback, this.acquireTimeoutMs, this.commandTimeoutMs)
  }

  /**
   * The budget of a caller's own `timeout`: {@link Budget.SPENT} for 0 or
   * below (the caller does not wait), none for Infinity, or the
   * InterfaceError of a value that is not a timeout.
   */
  private ownBudget(timeout: Duration.Input, commandFallback: boolean): Budget.Budget | Errors.InterfaceError {
    const ms = Core.callTimeoutMillis(timeout, "the timeout")
    if (typeof ms === "string") return new Errors.InterfaceError({ message: ms })
    if (ms === Core.EXPIRED) return Budget.SPENT
    return Budget.budgetOf(ms, commandFallback, this.acquireTimeoutMs, this.commandTimeoutMs)
  }

  /**
   * The budget of a pool-level query's own timeout, or the error it fails
   * with before it takes anything: CommandTimeoutError for a timeout of 0 or
   * below (nothing sent, as asyncpg), InterfaceError for a value that is not
   * a timeout.
   */
  private queryBudget(timeout: Duration.Input, sql: string): Budget.Budget | Errors.InterfaceError | Errors.CommandTimeoutError {
    const budget = this.ownBudget(timeout, true)
    return budget === Budget.SPENT ? Core.expiredError(sql) : budget
  }

  /** Waits in the pool's queue for a slot (exclusive, or a lane for `sql`). */
  private wait(shared: boolean, sql: string | undefined, budget: Budget.Budget): Effect.Effect<{ slot: Slot; waiter: Waiter }, AcquireError | Errors.CommandTimeoutError> {
    return Effect.callback((resume) => {
      const started = performance.now()
      const onTimeout = () => Budget.timeoutError(this.core, budget, sql)
      const cb = (error: unknown, slot: Slot | undefined, waiter: Waiter) => {
        this.core.counters.acquireWaitMs += performance.now() - started
        this.obs.meter.waited(performance.now() - started)
        if (slot !== undefined) resume(Effect.succeed({ slot, waiter }))
        else resume(Effect.fail(error as AcquireError))
      }
      const w = shared ? this.core.waitLane(sql!, budget.deadline, onTimeout, cb) : this.core.waitExclusive(budget.deadline, onTimeout, cb)
      return Effect.sync(() => this.core.cancel(w))
    })
  }

  /** Hands a slot to a caller: a guarded view, then the setup hook. */
  private handOut(slot: Slot): Effect.Effect<PoolConnection, AcquireError> {
    const held: Held = { released: false, owner: this, slot, leak: undefined }
    const view = this.view(slot.session, held)
    if (this.leakMs > 0) held.leak = this.watchLeak(slot)
    if (!(view instanceof Connection.ConnectionImpl) || view.lease !== held) this.held.set(view, held)
    const setup = this.options.setup
    if (setup === undefined) return Effect.succeed(view)
    return Effect.matchCauseEffect(Effect.suspend(() => setup(view)), {
      onSuccess: () => Effect.succeed(view),
      onFailure: (cause) => {
        held.released = true
        this.held.delete(view)
        this.core.retire(slot, "hook")
        return Cause.hasInterrupts(cause) ? Effect.failCause(cause as Cause.Cause<never>) : Effect.fail(hookError("setup", userError(cause)))
      }
    })
  }

  acquireUnscoped(options?: AcquireOptions): Effect.Effect<PoolConnection, AcquireError> {
    return Spans.acquire(this.obs, this.acquireWithin(options, undefined))
  }

  private acquireWithin(options: AcquireOptions | undefined, known: Budget.Budget | undefined): Effect.Effect<PoolConnection, AcquireError> {
    return Effect.suspend(() => {
      const core = this.core
      if (core.closing) return Effect.fail(this.closedError())
      const own = known ?? (options?.timeout === undefined ? undefined : this.ownBudget(options.timeout, false))
      if (own instanceof Errors.InterfaceError) return Effect.fail(own)
      if (own === Budget.SPENT) return this.tryAcquire(own)
      const slot = core.take()
      if (slot !== undefined) return core.needsPing(slot) ? this.pinged(slot, options, own ?? this.defaultBudget(false)) : this.handOut(slot)
      const budget = own ?? this.defaultBudget(false)
      // back from a dead connection's ping with the deadline passed: no waiting in line for a timer
      if (known !== undefined && known.deadline > 0 && known.deadline <= performance.now()) return this.timedOut(known)
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
   * An acquire whose timeout was 0 or below (asyncpg: `acquire(timeout=0)`
   * times out): served only by an idle connection that is free right now,
   * nobody queued ahead and no ping due; else AcquireTimeoutError at once.
   */
  private tryAcquire(budget: Budget.Budget): Effect.Effect<PoolConnection, AcquireError> {
    const slot = this.core.takeReady()
    return slot !== undefined ? this.handOut(slot) : this.timedOut(budget)
  }

  /** An acquire whose budget ran out before it waited in line: AcquireTimeoutError, counted. */
  private timedOut(budget: Budget.Budget): Effect.Effect<never, Errors.AcquireTimeoutError> {
    this.core.counters.acquireTimeouts++
    // an acquire's budget (never a pool-level query's here): the error is AcquireTimeoutError
    return Effect.fail(Budget.timeoutError(this.core, budget, undefined) as Errors.AcquireTimeoutError)
  }

  /**
   * Hands out a connection that sat idle a while only once it answered a
   * ping; a dead one is dropped (its place frees at once) and the caller
   * gets another, within the same deadline. Once the deadline has passed,
   * the caller gets AcquireTimeoutError at once, whatever the number of
   * idle connections left to check.
   */
  private pinged(slot: Slot, options: AcquireOptions | undefined, budget: Budget.Budget): Effect.Effect<PoolConnection, AcquireError> {
    const core = this.core
    const left = budget.deadline > 0 ? budget.deadline - performance.now() : Infinity
    if (left < 1) {
      // the deadline has passed (a dead connection's ping took it): this one is checked in the background
      core.pingLater(slot)
      return this.timedOut(budget)
    }
    // the other idle connections due for a ping are pinged now too, in the background: on a dead network
    // they are not tried one after another, and a live one is ready when this one turns out dead
    core.pingStale()
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

  /** The lease of a connection this pool handed out, if it is one. */
  private heldOf(conn: PoolConnection): Held | undefined {
    if (conn instanceof Connection.ConnectionImpl) {
      const lease = conn.lease as Partial<Held> | undefined
      if (lease !== undefined && lease.owner === this) return lease as Held
    }
    return this.held.get(conn)
  }

  release(conn: PoolConnection, options?: AcquireOptions): Effect.Effect<void, Errors.InterfaceError> {
    return Effect.suspend(() => {
      const h = this.heldOf(conn)
      if (h === undefined) {
        return Effect.fail(new Errors.InterfaceError({ message: "release(): this connection does not belong to this pool" }))
      }
      if (h.released) return Effect.void
      h.released = true
      if (h.leak !== undefined) clearTimeout(h.leak)
      const slot = h.slot
      this.clearClientState(slot.session)
      const hook = this.options.reset
      if (!this.core.release(slot, hook !== undefined)) return Effect.void
      // the user's reset hook: ROLLBACK first, then the hook, within the release's time budget
      const s = slot.session
      const base = slot.conn
      const rollback: Effect.Effect<unknown, unknown> = s.txStatus !== TxStatus.IDLE ? base.execute("ROLLBACK") : Effect.void
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

  /** A pool-level query on a connection of its own (not shareable, or no lanes). */
  private runExclusive<A>(
    sql: string,
    options: Connection.QueryOptions | undefined,
    f: (conn: Connection.ConnectionImpl, options: Connection.QueryOptions | undefined) => Effect.Effect<A, Connection.QueryError>
  ): Effect.Effect<A, PoolQueryError> {
    return Effect.suspend(() => {
      const core = this.core
      if (core.closing) return Effect.fail(this.closedError())
      const own = options?.timeout === undefined ? undefined : this.queryBudget(options.timeout, sql)
      if (own !== undefined && "_tag" in own) return Effect.fail(own)
      const slot = core.take()
      if (slot !== undefined) return this.onLease(slot, options, f)
      const budget = own ?? this.defaultBudget(true)
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(Spans.acquire(this.obs, this.wait(false, sql, budget))), ({ slot, waiter }) => {
          core.consumed(waiter)
          return restore(this.onLease(slot, Budget.remaining(options, budget), f))
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
      // a query's own timeout is read before it takes anything (one comparison when it has none)
      const own = options?.timeout === undefined ? undefined : this.queryBudget(options.timeout, sql)
      if (own !== undefined && "_tag" in own) return Effect.fail(own)
      const lane = core.tryLane(sql)
      if (lane !== undefined) {
        const fast = core.lastFast
        return Effect.onExit(f(lane.conn, options), () => Effect.sync(() => core.laneDone(lane, sql, fast)))
      }
      const budget = own ?? this.defaultBudget(true)
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(Spans.acquire(this.obs, this.wait(true, sql, budget))), ({ slot, waiter }) => {
          core.consumed(waiter)
          const fast = waiter.fast
          return Effect.onExit(restore(f(slot.conn, Budget.remaining(options, budget))), () => Effect.sync(() => core.laneDone(slot, sql, fast)))
        })
      )
    })
  }

  execute(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) {
    const shareable = args !== undefined && args.length > 0 && isShareable(this.shareable, sql)
    return Spans.poolCall(this.obs, "execute", sql, args, this.run(sql, shareable, options, (c, o) => c.execute(sql, args, o)))
  }
  // the options reach the connection whole (recordClass, schema), the timeout shortened by the wait
  fetch<O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) {
    return Spans.poolCall(this.obs, "fetch", sql, args, this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.fetch(sql, args, o as O | undefined)))
  }
  fetchrow<O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) {
    return Spans.poolCall(this.obs, "fetchrow", sql, args, this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.fetchrow(sql, args, o as O | undefined)))
  }
  fetchval<O extends Connection.FetchvalOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) {
    return Spans.poolCall(this.obs, "fetchval", sql, args, this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.fetchval(sql, args, o as O | undefined)))
  }
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions) {
    return Spans.poolCall(this.obs, "executemany", sql, argsList, this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.executemany(sql, argsList, o)))
  }
  fetchmany<O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: O) {
    return Spans.poolCall(this.obs, "fetchmany", sql, argsList, this.run(sql, isShareable(this.shareable, sql), options, (c, o) => c.fetchmany(sql, argsList, o as O | undefined)))
  }

  copyFromTable<E = never, R = never>(table: string, options: Copy.CopyFromTableOptions & { readonly output: Copy.CopyOutput<E, R> }) {
    return Spans.poolCopy(this.obs, "copyFromTable", table, undefined, undefined, this.withConnection((c) => c.copyFromTable(table, options)))
  }
  copyFromQuery<E = never, R = never>(
    query: string,
    args: ReadonlyArray<unknown> | undefined,
    options: Copy.CopyFromQueryOptions & { readonly output: Copy.CopyOutput<E, R> }
  ) {
    return Spans.poolCopy(this.obs, "copyFromQuery", undefined, query, args, this.withConnection((c) => c.copyFromQuery(query, args ?? [], options)))
  }
  copyToTable<E = never, R = never>(table: string, options: Copy.CopyToTableOptions<E, R>) {
    return Spans.poolCopy(this.obs, "copyToTable", table, undefined, undefined, this.withConnection((c) => c.copyToTable(table, options)))
  }
  copyRecordsToTable<E = never, R = never>(table: string, options: Copy.CopyRecordsOptions<E, R>) {
    return Spans.poolCopy(this.obs, "copyRecordsToTable", table, undefined, undefined, this.withConnection((c) => c.copyRecordsToTable(table, options)))
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
      self.obs.unregister()
    }).pipe(Effect.scoped)
  }

  terminate(): Effect.Effect<void> {
    return Effect.sync(() => {
      if (this.closed) return
      this.closed = true
      this.core.terminate()
      this.obs.unregister()
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