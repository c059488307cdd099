/**
 * Opening pool connections: the user's `connect` (or connectUnscoped), a
 * check that it gave an effect-pg connection, then the `init` hook; and the
 * fail-fast warm-up of `minSize` connections at construction.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Connection from "../Connection.js"
import * as Errors from "../Errors.js"
import * as ConnectProgress from "../connection/connectProgress.js"
import { Session } from "../connection/Session.js"
import type { SchemaEpoch } from "../connection/statements.js"
import type { PoolCore } from "./core.js"
import { hookError, userError } from "./hooks.js"
import type { AcquireError, PoolConnection, PoolOptions } from "./types.js"

/** What opening needs from the pool. */
export interface OpenContext {
  readonly options: PoolOptions
  readonly connectArgs: Connection.ConnectOptions
  readonly commandTimeoutMs: number
  /** the caller's view of a session behind a lease guard */
  readonly view: (session: Session, guard: Connection.Lease) => PoolConnection
  /** shared by the pool's sessions (asyncpg drops the statement and type caches of the whole pool) */
  readonly schemaEpoch: SchemaEpoch
}

/** connect, then init; runs outside any caller's fiber; returns an abort. */
export const openConnection = (
  ctx: OpenContext,
  cb: (error: unknown, conn: Connection.ConnectionImpl | undefined) => void,
  onProgress?: (progress: ConnectProgress.Progress) => void
): (() => void) => {
  // the connect option sees the callback only if it hands the options on to connectUnscoped
  const args = onProgress === undefined ? ctx.connectArgs : ConnectProgress.withCallback(ctx.connectArgs, onProgress)
  const connectFn = ctx.options.connect ?? Connection.connectUnscoped
  const init = ctx.options.init
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
    session.shareSchemaEpoch(ctx.schemaEpoch)
    const base = new Connection.ConnectionImpl(session, ctx.commandTimeoutMs)
    if (init !== undefined) {
      const guard: Connection.Lease = { released: false }
      const exit = yield* Effect.exit(Effect.suspend(() => init(ctx.view(session, guard))))
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

/** Opens `n` connections now and adopts them all, or fails with the first error (as asyncpg's `await create_pool()`). */
export const warm = (core: PoolCore, n: number, open: (cb: (error: unknown, conn: Connection.ConnectionImpl | undefined) => void) => () => void): Effect.Effect<void, AcquireError> => {
  if (n === 0) return Effect.void
  return Effect.callback<void, AcquireError>((resume) => {
    const started = performance.now()
    let left = n
    let failed = false
    const opened: Array<Connection.ConnectionImpl> = []
    const aborts: Array<() => void> = []
    for (let i = 0; i < n; i++) {
      aborts.push(
        open((err, conn) => {
          left--
          if (err !== undefined || conn === undefined) {
            if (!failed) {
              failed = true
              for (const a of aborts) a()
              resume(Effect.fail(err as AcquireError))
            }
          } else if (failed) conn.session.destroy()
          else {
            opened.push(conn)
            core.connected(performance.now() - started)
          }
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
