/**
 * `npm run soak` lengthens the fault storms: FAULTS_SOAK_SECONDS sets how long
 * each storm runs (default: the short CI length), and the test's own vitest
 * timeout grows with it.
 */

/** Seconds a storm runs under `npm run soak`, or undefined in a normal run. */
export const soakSeconds: number | undefined = (() => {
  const v = Number(process.env.FAULTS_SOAK_SECONDS ?? "")
  return Number.isFinite(v) && v > 0 ? v : undefined
})()

/** How long a storm runs: the soak length when soaking, else `normalMs`. */
export const stormMs = (normalMs: number): number => (soakSeconds === undefined ? normalMs : soakSeconds * 1000)

/** The vitest timeout of a storm test: `normalMs`, or the soak length plus a minute. */
export const stormTestTimeout = (normalMs: number): number => (soakSeconds === undefined ? normalMs : soakSeconds * 1000 + 60_000)
