/**
 * A connect option no user sets: a callback for the moment the server first
 * answers a connection attempt. A pool tells a slow but live server (it
 * answers, then takes its time) from a black-holed one (nothing ever comes
 * back) by it, and never gives up on an attempt the server answers.
 *
 * Internal: not exported by the package.
 */

/** The key of the callback in the options given to `Connection.connectUnscoped`. */
export const OnServerHeard: unique symbol = Symbol.for("effect-pg/connect/onServerHeard")

/** The callback in `input`, if a pool put one there. */
export const callbackOf = (input: unknown): (() => void) | undefined => {
  if (typeof input !== "object" || input === null) return undefined
  const f = (input as { readonly [OnServerHeard]?: unknown })[OnServerHeard]
  return typeof f === "function" ? (f as () => void) : undefined
}

/** `options` with `onHeard` added under {@link OnServerHeard}. */
export const withCallback = <O extends object>(options: O, onHeard: () => void): O => ({ ...options, [OnServerHeard]: onHeard })
