/**
 * The pool of the Promise facade: asyncpg's `create_pool` as `createPool`,
 * one effect-pg pool on a `ManagedRuntime` of its own.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import type * as Connection from "../Connection.js"
import * as Pool from "../Pool.js"
import { PromiseConnectionImpl, type PooledConnection, QueriesImpl, type Queries } from "./Connection.js"
import { rejection, runner, type Runner } from "./run.js"

/** A hook as an async function of a pooled connection (`init`, `setup`, `reset`). */
export type PromiseHook = (conn: PooledConnection) => Promise<unknown>

/**
 * `createPool` options: every `PoolOptions` field (sizes, timeouts as
 * `Duration.Input`, where a number is milliseconds) with the hooks as async
 * functions.
 */
export interface PromisePoolOptions extends Omit<Pool.PoolOptions, "init" | "setup" | "reset" | "connect" | "connectionClass"> {
  /** runs once on every new connection */
  readonly init?: PromiseHook
  /** runs every time a connection is acquired, before the caller sees it */
  readonly setup?: PromiseHook
  /** runs on release instead of the default reset */
  readonly reset?: PromiseHook
}

/** The pool: asyncpg's pool API with Promises. */
export interface PromisePool extends Queries, AsyncDisposable {
  /** Borrows a connection; give it back with `release()` or `await using`. */
  acquire(options?: { readonly timeout?: Duration.Input }): Promise<PooledConnection>
  /** Gives a borrowed connection back (as `conn.release()`). */
  release(conn: PooledConnection): Promise<void>
  /** Runs `f` with a connection of its own, released when `f` settles. */
  withConnection<A>(f: (conn: PooledConnection) => Promise<A>, options?: { readonly timeout?: Duration.Input }): Promise<A>
  /** Waits for borrowed connections, closes everything; later calls fail with PoolClosedError. */
  close(): Promise<void>
  /** Closes every connection now. */
  terminate(): Promise<void>
  /** Replaces every connection: idle ones now, borrowed ones on release. */
  expireConnections(): Promise<void>
  isClosing(): boolean
  getSize(): number
  getIdleSize(): number
  getMinSize(): number
  getMaxSize(): number
  /** Counters of the pool. */
  stats(): Pool.PoolStats
  /** The effect-pg pool underneath. */
  readonly effect: Pool.PgPoolShape
}

/** A hook of the facade as a hook of the Effect pool (its rejection becomes a PoolHookError). */
const hook = (f: PromiseHook | undefined, run: () => Runner): Pool.Hook | undefined =>
  f === undefined
    ? undefined
    : (conn: Connection.Connection) =>
      Effect.tryPromise({
        try: () => f(new PromiseConnectionImpl(conn, run(), () => Promise.resolve())),
        catch: (e) => e
      })

class PromisePoolImpl extends QueriesImpl implements PromisePool {
  constructor(
    readonly effect: Pool.PgPoolShape,
    run: Runner,
    /** disposes the pool's runtime (closing its scope) */
    private readonly dispose: () => Promise<void>
  ) {
    super(effect, run)
  }
  async acquire(options?: { readonly timeout?: Duration.Input }): Promise<PooledConnection> {
    const conn = await this.run(this.effect.acquireUnscoped(options))
    return new PromiseConnectionImpl(conn, this.run, () => this.run(this.effect.release(conn)))
  }
  release(conn: PooledConnection): Promise<void> {
    return conn.release()
  }
  async withConnection<A>(f: (conn: PooledConnection) => Promise<A>, options?: { readonly timeout?: Duration.Input }): Promise<A> {
    const conn = await this.acquire(options)
    try {
      return await f(conn)
    } finally {
      await conn.release()
    }
  }
  async close(): Promise<void> {
    await this.run(this.effect.close())
    await this.dispose()
  }
  async terminate(): Promise<void> {
    await this.run(this.effect.terminate())
    await this.dispose()
  }
  expireConnections(): Promise<void> {
    return this.run(this.effect.expireConnections())
  }
  isClosing(): boolean {
    return this.effect.isClosing()
  }
  getSize(): number {
    return this.effect.getSize()
  }
  getIdleSize(): number {
    return this.effect.getIdleSize()
  }
  getMinSize(): number {
    return this.effect.getMinSize()
  }
  getMaxSize(): number {
    return this.effect.getMaxSize()
  }
  stats(): Pool.PoolStats {
    return this.effect.stats()
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * Creates a pool; resolves once `minSize` connections are open (a server
 * that is down rejects it, as asyncpg's `await create_pool()` does).
 *
 * ```ts
 * const pool = await createPool("postgres://localhost/app", { minSize: 5, maxSize: 20 })
 * const users = await pool.fetch("SELECT * FROM users WHERE active = $1", true)
 * await pool.close()
 * ```
 */
export function createPool(options?: PromisePoolOptions): Promise<PromisePool>
export function createPool(dsn: string | Redacted.Redacted<string> | undefined, options?: PromisePoolOptions): Promise<PromisePool>
export async function createPool(
  dsnOrOptions?: string | Redacted.Redacted<string> | PromisePoolOptions,
  maybeOptions?: PromisePoolOptions
): Promise<PromisePool> {
  const isOptions = typeof dsnOrOptions === "object" && dsnOrOptions !== null && !Redacted.isRedacted(dsnOrOptions)
  const given: PromisePoolOptions = isOptions ? (dsnOrOptions as PromisePoolOptions) : { ...maybeOptions }
  const dsn = isOptions ? undefined : (dsnOrOptions as string | Redacted.Redacted<string> | undefined)
  let run: Runner | undefined
  const late = (): Runner => run!
  const { init, reset, setup, ...rest } = given
  const hooks = { init: hook(init, late), setup: hook(setup, late), reset: hook(reset, late) }
  const options: Pool.PoolOptions = {
    ...rest,
    ...(dsn !== undefined ? { dsn } : {}),
    ...Object.fromEntries(Object.entries(hooks).filter(([, h]) => h !== undefined))
  }
  const runtime = ManagedRuntime.make(Layer.effect(Pool.PgPool, Pool.make(options)))
  let disposed = false
  // once the pool is closed its runtime is gone: later calls run on the default runtime and fail with PoolClosedError
  run = runner((effect) => (disposed ? Effect.runPromiseExit(effect) : runtime.runPromiseExit(effect)))
  const exit = await runtime.runPromiseExit(Effect.gen(function*() {
    return yield* Pool.PgPool
  }))
  if (Exit.isFailure(exit)) {
    await runtime.dispose()
    throw rejection(exit.cause)
  }
  return new PromisePoolImpl(exit.value, run, () => {
    disposed = true
    return runtime.dispose()
  })
}
