/**
 * A connect option no user sets: a callback told how a connection attempt
 * gets on. `"last"`: the attempt is at the last address it will try (a
 * single host: at once). `"heard"`: the server answered it. A pool tells a
 * slow but live server (it answers, then takes its time) or a host list
 * still being walked (connect_timeout moves it on) from a black-holed
 * attempt that nothing will ever come back to, and gives up only the last.
 *
 * Internal: not exported by the package.
 */

/** How an attempt gets on: at its last address, or answered by the server. */
export type Progress = "last" | "heard"

/** The key of the callback in the options given to `Connection.connectUnscoped`. */
export const OnConnectProgress: unique symbol = Symbol.for("effect-pg/connect/onProgress")

/** The callback in `input`, if a pool put one there. */
export const callbackOf = (input: unknown): ((progress: Progress) => void) | undefined => {
  if (typeof input !== "object" || input === null) return undefined
  const f = (input as { readonly [OnConnectProgress]?: unknown })[OnConnectProgress]
  return typeof f === "function" ? (f as (progress: Progress) => void) : undefined
}

/** `options` with `onProgress` added under {@link OnConnectProgress}. */
export const withCallback = <O extends object>(options: O, onProgress: (progress: Progress) => void): O => ({
  ...options,
  [OnConnectProgress]: onProgress
})
