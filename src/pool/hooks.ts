/**
 * The errors of user hooks (init, setup, reset): the user's own error taken
 * out of the hook's Cause and wrapped in a PoolHookError that says which
 * hook failed and that the connection was discarded.
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Errors from "../Errors.js"

/** The user's error out of a hook's Cause (its failure, else its defect). */
export const userError = (cause: Cause.Cause<unknown>): unknown => {
  const found = Cause.findErrorOption(cause)
  return Option.isSome(found) ? found.value : Cause.squash(cause)
}

/** A PoolHookError for `hook` failing with `cause`. */
export const hookError = (hook: string, cause: unknown): Errors.PoolHookError =>
  new Errors.PoolHookError({
    hook,
    message: `the pool's ${hook} hook failed: ${cause instanceof Error ? cause.message : String(cause)}; the connection was discarded`,
    cause
  })
