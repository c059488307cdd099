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
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Connection from "./Connection.js"
import type * as Errors from "./Errors.js"
import * as PoolConfig from "./pool/config.js"
import { PgPoolImpl } from "./pool/PoolImpl.js"
import type { AcquireError, PgPoolShape, PoolOptions } from "./pool/types.js"
import { validate } from "./pool/validate.js"

export type {
  AcquireError,
  AcquireOptions,
  Hook,
  PgPoolShape,
  PoolConnection,
  PoolOptions,
  PoolQueryError,
  PoolStats
} from "./pool/types.js"

/** The pool service: `yield* PgPool`, `PgPool.layer(options)`. */
export class PgPool extends Context.Service<PgPool, PgPoolShape>()("effect-pg/PgPool") {
  /** A scoped pool; see {@link make}. */
  static readonly make = <O extends PoolOptions = PoolOptions>(options: O = {} as O) => make(options)
  /** The pool as a Layer; see {@link layer}. */
  static readonly layer = (options: PoolOptions = {}) => layer(options)
  /** The pool as a Layer configured from DATABASE_URL / PG*; see {@link layerConfig}. */
  static readonly layerConfig = (config: PoolConfig.OptionsInput<PoolOptions> = {}) => layerConfig(config)
  /** A pool service under a key of your own, for several pools in one app; see {@link Tag}. */
  static readonly Tag = <const Key extends string>(key: Key) => Tag(key)
  /** A pool as a Layer under any tag with the pool's shape; see {@link layerAs}. */
  static readonly layerAs = <I>(tag: Context.Key<I, PgPoolShape>, options: PoolOptions = {}) => layerAs(tag, options)
}

/**
 * A pool service class under a key of your own, so that several pools (a
 * primary and a replica, two databases) live in one app side by side:
 *
 * ```ts
 * class ReplicaPool extends PgPool.Tag("app/ReplicaPool") {}
 * const Live = Layer.mergeAll(PgPool.layer({ dsn: primary }), ReplicaPool.layer({ dsn: replica }))
 * const rows = yield* (yield* ReplicaPool).fetch("SELECT ...")
 * ```
 *
 * The class has the `PgPool` shape and `layer` / `layerConfig` of its own;
 * each key is a different service, so no pool shadows another.
 */
export const Tag = <const Key extends string>(key: Key): TaggedPoolClass<Key> => {
  const Base = Context.Service<TaggedPool<Key>, PgPoolShape>()(key)
  return class TaggedPool extends Base {
    static readonly layer = (options: PoolOptions = {}) => layerAs(Base, options)
    static readonly layerConfig = (config: PoolConfig.OptionsInput<PoolOptions> = {}) => Layer.effect(Base, Effect.flatMap(PoolConfig.options(config), make))
  }
}

/** What a {@link Tag} class gives: `yield* ReplicaPool` is a pool; the class's identity is its key. */
export type TaggedPool<Key extends string> = Context.ServiceClass.Shape<Key, PgPoolShape>

/** The class {@link Tag} returns: a service key with the pool's shape and layers of its own. */
export interface TaggedPoolClass<Key extends string> extends Context.ServiceClass<TaggedPool<Key>, Key, PgPoolShape> {
  /** This pool as a Layer; see {@link layer}. */
  readonly layer: (options?: PoolOptions) => Layer.Layer<TaggedPool<Key>, AcquireError | Errors.InterfaceError>
  /** This pool as a Layer whose options come from `effect/Config`; see {@link layerConfig}. */
  readonly layerConfig: (config?: PoolConfig.OptionsInput<PoolOptions>) => Layer.Layer<TaggedPool<Key>, AcquireError | Errors.InterfaceError | Config.ConfigError>
}

/** A pool as a Layer under `tag`: `PgPool.layerAs(ReplicaPool, { dsn })`. */
export const layerAs = <I>(tag: Context.Key<I, PgPoolShape>, options: PoolOptions = {}): Layer.Layer<I, AcquireError | Errors.InterfaceError> =>
  Layer.effect(tag, make(options))


/**
 * Creates a pool in the current scope. When it succeeds, `minSize`
 * connections are open (a server that is down fails it, as asyncpg's
 * `await create_pool()` does); closing the scope closes the pool gracefully.
 * With a `recordClass`, rows of queries that ask for no other shape are
 * typed as that class.
 */
export const make = <O extends PoolOptions = PoolOptions>(
  options: O = {} as O
): Effect.Effect<PgPoolShape<Connection.DefaultRowOf<O>>, AcquireError | Errors.InterfaceError, Scope.Scope> =>
  Effect.gen(function* () {
    const invalid = validate(options)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    // resolve once so a bad DSN fails here, with a typed error
    yield* Connection.resolveOptions(options)
    const impl = new PgPoolImpl(options)
    // fail fast: minSize connections must open now
    yield* impl.warm()
    yield* Effect.addFinalizer(() => impl.close())
    return impl as unknown as PgPoolShape<Connection.DefaultRowOf<O>>
  })

/** The pool as a Layer: `Effect.provide(PgPool.layer({ dsn, minSize: 5 }))`. */
export const layer = (options: PoolOptions = {}): Layer.Layer<PgPool, AcquireError | Errors.InterfaceError> =>
  Layer.effect(PgPool, make(options))

/**
 * The pool as a Layer whose options come from `effect/Config`: each option a
 * value or a `Config` (`Config.Wrap<PoolOptions>`), or one `Config` of them
 * all; `DATABASE_URL` (a secret) and libpq's `PG*` variables fill what is
 * left unset, as described in `pool/config.ts`.
 */
export const layerConfig = (
  config: PoolConfig.OptionsInput<PoolOptions> = {}
): Layer.Layer<PgPool, AcquireError | Errors.InterfaceError | Config.ConfigError> =>
  Layer.effect(PgPool, Effect.flatMap(PoolConfig.options(config), make))
