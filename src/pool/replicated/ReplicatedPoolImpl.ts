/**
 * The replicated pool service: routes each request to a member's pool
 * (reads to replicas, the rest to the primary), runs a read again elsewhere
 * when its replica failed under it, keeps read-your-writes tokens and
 * reports the members' state.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type * as Connection from "../../Connection.js"
import type * as Transaction from "../../Transaction.js"
import { toMillis } from "../durations.js"
import type { AcquireOptions, PgPoolShape, PoolConnection } from "../types.js"
import { NoServerAvailableError } from "./errors.js"
import type { Topology } from "./health.js"
import type { Member } from "./member.js"
import { lostServer, refusedAsWrite, retryableOnReplica, Router, type Needs } from "./route.js"
import { CurrentSession, emptyToken, noteWrite, readNeeds, tokenOf, type Token } from "./session.js"
import type { MemberStatus, ReadRoute, ReplicatedPoolShape, RouteError, WriteRoute } from "./types.js"

/** How a read picks its member: as read-your-writes says (`auto`), or any replica (`replica`). */
type ReadKind = "auto" | "replica"

/** A request on a member's pool, given the options left for this attempt. */
type OnPool<A, E> = (pool: PgPoolShape, options: Connection.QueryOptions | undefined) => Effect.Effect<A, E>

/** The time left of a caller's `timeout` across attempts; undefined: no timeout. */
const remaining = <O extends Connection.QueryOptions>(options: O | undefined, deadline: number | undefined): O | undefined => {
  if (deadline === undefined) return options
  return { ...(options as O), timeout: Math.max(1, deadline - performance.now()) }
}

const deadlineOf = (options: Connection.QueryOptions | AcquireOptions | undefined): number | undefined => {
  const ms = toMillis(options?.timeout, 0)
  return ms > 0 ? performance.now() + ms : undefined
}

/** The replicated pool: what `ReplicatedPool.make` builds. */
export class ReplicatedPoolImpl implements ReplicatedPoolShape {
  readonly router: Router
  private readonly poolToken: Token = emptyToken()
  fiber: Fiber.Fiber<never> | undefined = undefined
  private closed = false
  readonly primary: WriteRoute
  readonly replica: ReadRoute

  constructor(
    readonly topology: Topology,
    private readonly rywMode: "off" | "lsn" | number,
    readFallback: "primary" | "fail"
  ) {
    this.router = new Router(topology, readFallback)
    this.primary = this.writeRoute()
    this.replica = this.readRoute("replica")
  }

  // -------------------------------------------------------------------------
  // Routing
  // -------------------------------------------------------------------------

  private token(): Effect.Effect<Token> {
    return Effect.map(Effect.service(CurrentSession), (s) => tokenOf(s, this, this.poolToken))
  }

  private needs(kind: ReadKind, token: Token): Needs {
    return kind === "auto" ? readNeeds(token, this.rywMode, this.topology.history) : "any"
  }

  /** Counts a request on a member while it runs. */
  private on<A, E, R>(m: Member, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.suspend(() => {
      m.inFlight++
      m.routed++
      m.started()
      return Effect.onExit(effect, () =>
        Effect.sync(() => {
          m.inFlight--
          m.finished()
        })
      )
    })
  }

  /** Runs a request on the writer; the caller's token records the write. */
  private write<A, E>(run: OnPool<A, E>, options: Connection.QueryOptions | undefined): Effect.Effect<A, E | RouteError> {
    return Effect.flatMap(this.token(), (token): Effect.Effect<A, E | RouteError> => {
      const w = this.router.writer()
      if (w instanceof NoServerAvailableError) return Effect.fail(w)
      return this.on(w, run(w.pool!, options)).pipe(
        Effect.tapError((e) => Effect.sync(() => lostServer(e) && this.topology.kick())),
        Effect.onExit(() => Effect.sync(() => this.rywMode !== "off" && noteWrite(token)))
      )
    })
  }

  /**
   * Runs a read on the member the router picks; on a replica that failed
   * under it, again on another (then the primary), within the caller's
   * timeout; a statement a replica refused as a write, on the primary.
   */
  private read<A, E>(kind: ReadKind, run: OnPool<A, E>, options: Connection.QueryOptions | undefined): Effect.Effect<A, E | RouteError> {
    return Effect.flatMap(this.token(), (token): Effect.Effect<A, E | RouteError> => {
      const needs = this.needs(kind, token)
      const deadline = deadlineOf(options)
      const tried = new Set<Member>()
      const attempt = (): Effect.Effect<A, E | RouteError> => {
        const m = this.router.reader(needs, tried)
        if (m instanceof NoServerAvailableError) return Effect.fail(m)
        const onWriter = m === this.topology.writer
        return Effect.catch(this.on(m, run(m.pool!, remaining(options, deadline))), (e): Effect.Effect<A, E | RouteError> => {
          if (onWriter) {
            if (lostServer(e)) this.topology.kick()
            return Effect.fail(e)
          }
          if (refusedAsWrite(e)) return this.write(run, remaining(options, deadline))
          if (!retryableOnReplica(e) || (deadline !== undefined && deadline <= performance.now())) return Effect.fail(e)
          m.suspect = true
          tried.add(m)
          this.topology.kick()
          return attempt()
        })
      }
      return attempt()
    })
  }

  /** A connection on the writer (write) or a reader, with the member it came from; acquire failures on a replica try another. */
  private lease(kind: ReadKind | "write", options: AcquireOptions | undefined): Effect.Effect<{ conn: PoolConnection; member: Member; token: Token }, RouteError> {
    return Effect.flatMap(this.token(), (token) => {
      const take = (m: Member) =>
        Effect.suspend(() => {
          m.inFlight++
          m.routed++
          return Effect.tapError(m.pool!.acquireUnscoped(options), () => Effect.sync(() => m.inFlight--))
        }).pipe(Effect.map((conn) => ({ conn, member: m, token })))
      if (kind === "write") {
        const w = this.router.writer()
        if (w instanceof NoServerAvailableError) return Effect.fail(w)
        return Effect.tapError(take(w), (e) => Effect.sync(() => lostServer(e) && this.topology.kick()))
      }
      const needs = this.needs(kind, token)
      const tried = new Set<Member>()
      const attempt = (): Effect.Effect<{ conn: PoolConnection; member: Member; token: Token }, RouteError> => {
        const m = this.router.reader(needs, tried)
        if (m instanceof NoServerAvailableError) return Effect.fail(m)
        return Effect.catch(take(m), (e) => {
          if (m === this.topology.writer || !retryableOnReplica(e)) return Effect.fail(e)
          m.suspect = true
          tried.add(m)
          this.topology.kick()
          return attempt()
        })
      }
      return attempt()
    })
  }

  /** A lease handed to the caller: while a write lease is held, the caller's reads go to the primary (see `readNeeds`). */
  private held(lease: { token: Token }, kind: ReadKind | "write"): void {
    if (kind === "write") lease.token.leases++
  }

  /** Gives a leased connection back to its member; a write lease records the write. */
  private giveBack(lease: { conn: PoolConnection; member: Member; token: Token }, wrote: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      lease.member.inFlight--
      if (wrote) {
        lease.token.leases--
        if (this.rywMode !== "off") noteWrite(lease.token)
      }
      const pool = lease.member.pool
      return pool === undefined ? lease.conn.close() : Effect.ignore(pool.release(lease.conn))
    })
  }

  private acquireOn(kind: ReadKind | "write", options?: AcquireOptions): Effect.Effect<PoolConnection, RouteError, Scope.Scope> {
    return Effect.map(
      Effect.acquireRelease(
        Effect.tap(this.lease(kind, options), (l) => Effect.sync(() => this.held(l, kind))),
        (l) => this.giveBack(l, kind === "write"),
        { interruptible: true }
      ),
      (l) => l.conn
    )
  }

  private withConnectionOn<A, E, R>(
    kind: ReadKind | "write",
    f: (conn: PoolConnection) => Effect.Effect<A, E, R>,
    options?: AcquireOptions
  ): Effect.Effect<A, E | RouteError, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(this.lease(kind, options)), (l) => {
        this.held(l, kind)
        return Effect.onExit(restore(f(l.conn)), () => this.giveBack(l, kind === "write"))
      })
    )
  }

  private transactionOn<A, E, R>(
    kind: ReadKind | "write",
    f: (conn: PoolConnection) => Effect.Effect<A, E, R>,
    options?: Transaction.TransactionOptions & AcquireOptions
  ) {
    const tx: Transaction.TransactionOptions = { isolation: options?.isolation, readonly: options?.readonly, deferrable: options?.deferrable }
    const acquire: AcquireOptions = options?.timeout === undefined ? {} : { timeout: options.timeout }
    return this.withConnectionOn(kind, (conn) => conn.transaction(f(conn), tx), acquire)
  }

  // -------------------------------------------------------------------------
  // Routes
  // -------------------------------------------------------------------------

  private readRoute(kind: ReadKind): ReadRoute {
    return {
      fetch: <O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) =>
        this.read(kind, (p, o) => p.fetch(sql, args, o as O | undefined), options),
      fetchrow: <O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) =>
        this.read(kind, (p, o) => p.fetchrow(sql, args, o as O | undefined), options),
      fetchval: <O extends Connection.FetchvalOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) =>
        this.read(kind, (p, o) => p.fetchval(sql, args, o as O | undefined), options),
      fetchmany: <O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: O) => {
        // an iterable may be read once only: take it now, so a retry sends the same arguments
        const list = Array.from(argsList)
        return this.read(kind, (p, o) => p.fetchmany(sql, list, o as O | undefined), options)
      },
      acquire: (options?: AcquireOptions) => this.acquireOn(kind, options),
      withConnection: <A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: AcquireOptions) =>
        this.withConnectionOn(kind, f, options),
      transaction: <A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: Transaction.TransactionOptions & AcquireOptions) =>
        this.transactionOn(kind, f, { ...options, readonly: true })
    }
  }

  private writeRoute(): WriteRoute {
    return {
      fetch: <O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) =>
        this.write((p, o) => p.fetch(sql, args, o as O | undefined), options),
      fetchrow: <O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) =>
        this.write((p, o) => p.fetchrow(sql, args, o as O | undefined), options),
      fetchval: <O extends Connection.FetchvalOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) =>
        this.write((p, o) => p.fetchval(sql, args, o as O | undefined), options),
      fetchmany: <O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: O) =>
        this.write((p, o) => p.fetchmany(sql, argsList, o as O | undefined), options),
      execute: (sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) => this.write((p, o) => p.execute(sql, args, o), options),
      executemany: (sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions) =>
        this.write((p, o) => p.executemany(sql, argsList, o), options),
      acquire: (options?: AcquireOptions) => this.acquireOn("write", options),
      withConnection: <A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: AcquireOptions) =>
        this.withConnectionOn("write", f, options),
      transaction: <A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: Transaction.TransactionOptions & AcquireOptions) =>
        this.transactionOn("write", f, options)
    }
  }

  // -------------------------------------------------------------------------
  // The pool's own methods: reads routed, the rest on the primary
  // -------------------------------------------------------------------------

  fetch<O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) {
    return this.read("auto", (p, o) => p.fetch(sql, args, o as O | undefined), options)
  }
  fetchrow<O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) {
    return this.read("auto", (p, o) => p.fetchrow(sql, args, o as O | undefined), options)
  }
  fetchval<O extends Connection.FetchvalOptions = Connection.QueryOptions>(sql: string, args?: ReadonlyArray<unknown>, options?: O) {
    return this.read("auto", (p, o) => p.fetchval(sql, args, o as O | undefined), options)
  }
  fetchmany<O extends Connection.FetchOptions = Connection.QueryOptions>(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: O) {
    const list = Array.from(argsList)
    return this.read("auto", (p, o) => p.fetchmany(sql, list, o as O | undefined), options)
  }
  execute(sql: string, args?: ReadonlyArray<unknown>, options?: Connection.QueryOptions) {
    return this.primary.execute(sql, args, options)
  }
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: Connection.QueryOptions) {
    return this.primary.executemany(sql, argsList, options)
  }
  acquire(options?: AcquireOptions) {
    return this.acquireOn("write", options)
  }
  withConnection<A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: AcquireOptions) {
    return this.withConnectionOn("write", f, options)
  }
  transaction<A, E, R>(f: (conn: PoolConnection) => Effect.Effect<A, E, R>, options?: Transaction.TransactionOptions & AcquireOptions) {
    return this.transactionOn(options?.readonly === true ? "auto" : "write", f, options)
  }

  session<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.provideService(effect, CurrentSession, { tokens: new Map() })
  }

  refresh(): Effect.Effect<void> {
    return this.topology.refresh()
  }

  members(): ReadonlyArray<MemberStatus> {
    const writer = this.topology.writer
    return this.topology.members.map((m) => ({
      name: m.name,
      index: m.index,
      role: m.role,
      up: m.up,
      writer: m === writer,
      inRotation: m.inRotation,
      lagMs: m.lagMs,
      lsn: m.lsnText,
      lastError: m.lastError,
      inFlight: m.inFlight,
      routed: m.routed,
      pool: m.pool?.stats()
    }))
  }

  close(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function* () {
      if (this.closed) return
      this.closed = true
      const fiber = this.fiber
      this.fiber = undefined
      if (fiber !== undefined) yield* Fiber.interrupt(fiber)
      yield* Effect.forEach(this.topology.members, (m) => m.close(), { concurrency: "unbounded", discard: true })
    })
  }
}
