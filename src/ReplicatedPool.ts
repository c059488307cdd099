/**
 * A pool over a primary and its streaming replicas that routes reads to the
 * replicas and everything else to the primary, as one service.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ReplicatedPool } from "effect-pg/ReplicatedPool"
 *
 * const DbLive = ReplicatedPool.layer({
 *   primary: { dsn: "postgres://app@db-primary/app" },
 *   replicas: [{ dsn: "postgres://app@db-replica-1/app" }, { dsn: "postgres://app@db-replica-2/app" }],
 *   pool: { maxSize: 10 },
 *   maxReplicaLag: "5 seconds"
 * })
 *
 * const program = Effect.gen(function* () {
 *   const db = yield* ReplicatedPool
 *   yield* db.execute("UPDATE users SET seen = now() WHERE id = $1", [id]) // primary
 *   return yield* db.fetchrow("SELECT * FROM users WHERE id = $1", [id]) // a replica that has the update, else the primary
 * }).pipe(Effect.provide(DbLive))
 * ```
 *
 * - Reads (`fetch`, `fetchrow`, `fetchval`, `fetchmany`,
 *   `transaction(f, { readonly: true })`) go to the replicas in rotation in
 *   turn; `execute`, `executemany`, `acquire`, `withConnection` and
 *   read-write transactions go to the primary. `db.primary.*` and
 *   `db.replica.*` choose explicitly.
 * - Read-your-writes (default `"lsn"`): after a write, the caller's reads go
 *   to the primary until a replica has replayed the primary's WAL position
 *   taken after the write. Wrap a unit of work (a request) in
 *   `db.session(effect)` to make it one caller; outside any session the
 *   whole pool is one caller.
 * - A health fiber probes every member (reachability, `pg_is_in_recovery()`,
 *   WAL position) each `healthCheckInterval`; a replica that is down or
 *   lags past `maxReplicaLag` is out of rotation until it recovers; a read
 *   that loses its replica runs again on another member. After a promotion
 *   the member that now says it is the primary (highest timeline) takes the
 *   writes, and members whose role changed get their connections replaced.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Connection from "./Connection.js"
import * as Errors from "./Errors.js"
import { toMillis } from "./pool/durations.js"
import type { AcquireError } from "./pool/types.js"
import { NoServerAvailableError } from "./pool/replicated/errors.js"
import { Topology } from "./pool/replicated/health.js"
import { Member } from "./pool/replicated/member.js"
import { ReplicatedPoolImpl } from "./pool/replicated/ReplicatedPoolImpl.js"
import { CurrentSession } from "./pool/replicated/session.js"
import type { ReplicatedPoolOptions, ReplicatedPoolShape } from "./pool/replicated/types.js"

export { NoServerAvailableError } from "./pool/replicated/errors.js"
export type {
  MemberOptions,
  MemberRole,
  MemberStatus,
  ReadRoute,
  ReadYourWrites,
  ReplicatedPoolOptions,
  ReplicatedPoolShape,
  RoutedQueryError,
  RouteError,
  WriteRoute
} from "./pool/replicated/types.js"

/** What building a replicated pool can fail with: bad options, or no reachable primary. */
export type MakeError = Errors.InterfaceError | NoServerAvailableError | AcquireError

/** The replicated pool service: `yield* ReplicatedPool`, `ReplicatedPool.layer(options)`. */
export class ReplicatedPool extends Context.Service<ReplicatedPool, ReplicatedPoolShape>()("effect-pg/ReplicatedPool") {
  /** A scoped replicated pool; see {@link make}. */
  static readonly make = (options: ReplicatedPoolOptions) => make(options)
  /** The replicated pool as a Layer; see {@link layer}. */
  static readonly layer = (options: ReplicatedPoolOptions) => layer(options)
  /** Runs `effect` as one read-your-writes caller of every replicated pool; see {@link session}. */
  static readonly session = <A, E, R>(effect: Effect.Effect<A, E, R>) => session(effect)
}

const invalid = (message: string) => new Errors.InterfaceError({ message: `ReplicatedPool: ${message}` })

/** Reads a non-negative duration option, or says why it is wrong. */
const millis = (name: string, value: unknown, fallback: number): number | Errors.InterfaceError => {
  try {
    const ms = toMillis(value as Parameters<typeof toMillis>[0], fallback)
    return Number.isFinite(ms) && ms >= 0 ? ms : invalid(`${name} must be a finite, non-negative duration (got ${String(value)})`)
  } catch {
    return invalid(`${name} is not a duration (got ${String(value)})`)
  }
}

/** A member's name: its own, else the first address of its DSN. */
const nameOf = (given: string | undefined, options: ReplicatedPoolOptions["primary"], index: number) =>
  Effect.map(Connection.resolveOptions(options), (r) => {
    if (given !== undefined) return given
    const a = r.addresses[0]
    return a !== undefined ? `${a.host}:${a.port}` : index === 0 ? "primary" : `replica-${index}`
  })

/**
 * Creates a replicated pool in the current scope: probes every member once,
 * opens a pool on each that answers, and fails when no member is a
 * reachable primary (a replica that is down only starts out of rotation).
 * Closing the scope stops the health fiber and closes every member's pool.
 */
export const make = (options: ReplicatedPoolOptions): Effect.Effect<ReplicatedPoolShape, MakeError, Scope.Scope> =>
  Effect.gen(function* () {
    if (options === undefined || options.primary === undefined || !Array.isArray(options.replicas)) {
      return yield* Effect.fail(invalid("give `primary` (pool options with a DSN) and `replicas` (an array, possibly empty)"))
    }
    const interval = millis("healthCheckInterval", options.healthCheckInterval, 250)
    const probe = millis("probeTimeout", options.probeTimeout, 2_000)
    const maxLag = millis("maxReplicaLag", options.maxReplicaLag, 10_000)
    for (const v of [interval, probe, maxLag]) if (v instanceof Errors.InterfaceError) return yield* Effect.fail(v)
    if ((interval as number) === 0 || (probe as number) === 0) return yield* Effect.fail(invalid("healthCheckInterval and probeTimeout must be above 0"))
    const ryw = options.readYourWrites ?? "lsn"
    let mode: "off" | "lsn" | number
    if (ryw === false) mode = "off"
    else if (ryw === "lsn") mode = "lsn"
    else if (typeof ryw === "object" && ryw !== null && "window" in ryw) {
      const w = millis("readYourWrites.window", ryw.window, 0)
      if (w instanceof Errors.InterfaceError) return yield* Effect.fail(w)
      mode = w
    } else return yield* Effect.fail(invalid(`readYourWrites must be false, "lsn" or { window } (got ${String(ryw)})`))
    const readFallback = options.readFallback ?? "primary"
    if (readFallback !== "primary" && readFallback !== "fail") return yield* Effect.fail(invalid(`readFallback must be "primary" or "fail"`))

    const specs = [options.primary, ...options.replicas]
    const members: Array<Member> = []
    for (let i = 0; i < specs.length; i++) {
      const { name, ...own } = specs[i]!
      const merged = { ...options.pool, ...own }
      members.push(new Member(i, yield* nameOf(name, merged, i), merged))
    }
    const topology = new Topology(members, { intervalMs: interval as number, probeTimeoutMs: probe as number, maxLagMs: maxLag as number })
    yield* Effect.addFinalizer(() => Effect.forEach(members, (m) => m.close(), { concurrency: "unbounded", discard: true }))
    yield* topology.cycle()
    if (topology.writer === undefined) {
      return yield* Effect.fail(
        new NoServerAvailableError({
          route: "write",
          message: "no member of the replicated pool answered as a primary at start; check the primary's DSN and that it is up",
          members: topology.describe()
        })
      )
    }
    const impl = new ReplicatedPoolImpl(topology, mode, readFallback)
    impl.fiber = yield* Effect.forkScoped(topology.loop())
    return impl as ReplicatedPoolShape
  })

/** The replicated pool as a Layer: `Effect.provide(ReplicatedPool.layer({ primary, replicas }))`. */
export const layer = (options: ReplicatedPoolOptions): Layer.Layer<ReplicatedPool, MakeError> => Layer.effect(ReplicatedPool, make(options))

/**
 * Runs `effect` as one read-your-writes caller (a request, a job): its reads
 * see its own writes, while other callers' writes do not hold its reads on
 * the primary. Nested sessions are callers of their own; forked fibers share
 * their parent's session.
 */
export const session = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, CurrentSession, { tokens: new Map() })
