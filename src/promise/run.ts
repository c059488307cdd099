/**
 * How the Promise facade runs an Effect: on a runtime (a pool's
 * `ManagedRuntime`, or Effect's default one for a lone connection), with a
 * failure rejected as the tagged error itself (an `Error` subclass named
 * like the Effect error), never wrapped.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** Runs an Effect to a Promise that rejects with the Effect's own error. */
export type Runner = <A, E>(effect: Effect.Effect<A, E>) => Promise<A>

/** The value a Promise rejects with for `cause`: the typed error, else the defect, as an Error. */
export const rejection = (cause: Cause.Cause<unknown>): Error => {
  const e = Cause.squash(cause)
  if (e instanceof Error) return e
  return new Error(typeof e === "string" ? e : `effect-pg: the operation failed with a non-Error value (${String(e)})`)
}

/** A Runner over `runPromiseExit` (of a ManagedRuntime, or `Effect.runPromiseExit`). */
export const runner = (
  runPromiseExit: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, unknown>>
): Runner =>
<A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  runPromiseExit(effect).then((exit) => (Exit.isSuccess(exit) ? exit.value : Promise.reject(rejection(exit.cause))))
