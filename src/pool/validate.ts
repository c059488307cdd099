/**
 * Checks pool options before anything opens: sizes, counts and durations,
 * each with a typed error that names the option and the bad value.
 */
import * as Duration from "effect/Duration"
import * as Errors from "../Errors.js"
import type { PoolOptions } from "./types.js"

/** The first thing wrong with `o`, or undefined when the options are usable. */
export const validate = (o: PoolOptions): Errors.InterfaceError | undefined => {
  const min = o.minSize ?? Math.min(10, o.maxSize ?? 10)
  const max = o.maxSize ?? 10
  const bad = (what: string) => new Errors.InterfaceError({ message: `invalid pool options: ${what}` })
  if (!Number.isInteger(max) || max <= 0) return bad(`maxSize must be a positive integer, got ${max}`)
  if (!Number.isInteger(min) || min < 0) return bad(`minSize must be a non-negative integer, got ${min}`)
  if (min > max) return bad(`minSize (${min}) must not be greater than maxSize (${max})`)
  const q = o.maxQueries ?? 50_000
  if (!Number.isInteger(q) || q <= 0) return bad(`maxQueries must be a positive integer, got ${q}`)
  const durations: ReadonlyArray<[string, Duration.Input | undefined]> = [
    ["maxInactiveConnectionLifetime", o.maxInactiveConnectionLifetime],
    ["acquireTimeout", o.acquireTimeout],
    ["closeTimeout", o.closeTimeout],
    ["commandTimeout", o.commandTimeout],
    ["maxLifetime", o.maxLifetime],
    ["pingIdleThreshold", o.pingIdleThreshold],
    ["pingTimeout", o.pingTimeout],
    ["healthCheckPeriod", o.healthCheckPeriod],
    ["leakDetectionThreshold", o.leakDetectionThreshold]
  ]
  for (const [name, d] of durations) {
    if (d === undefined) continue
    let ms: number
    try {
      ms = Duration.toMillis(d)
    } catch {
      return bad(`${name} is not a duration: ${String(d)}`)
    }
    if (!(ms >= 0)) return bad(`${name} must not be negative, got ${String(d)}`)
  }
  if (o.maxWaiting !== undefined && !(Number.isInteger(o.maxWaiting) && o.maxWaiting >= 0)) {
    return bad(`maxWaiting must be a non-negative integer, got ${o.maxWaiting}`)
  }
  const jitter = o.maxLifetimeJitter
  if (jitter !== undefined && !(jitter >= 0 && jitter <= 1)) return bad(`maxLifetimeJitter must be between 0 and 1, got ${jitter}`)
  if (o.pipelineDepth !== undefined && !(Number.isInteger(o.pipelineDepth) && o.pipelineDepth > 0)) {
    return bad(`pipelineDepth must be a positive integer, got ${o.pipelineDepth}`)
  }
  return undefined
}
