/**
 * Durations as milliseconds, cached: callers pass the same few literals
 * ("30 seconds") on every call, and parsing them is not free.
 */
import * as Duration from "effect/Duration"

const parsedDurations = new Map<string, number>()

/** `d` in milliseconds (`fallback` when undefined); string forms are parsed once. */
export const toMillis = (d: Duration.Input | undefined, fallback: number): number => {
  if (d === undefined) return fallback
  if (typeof d === "number") return d
  if (typeof d !== "string") return Duration.toMillis(d)
  let ms = parsedDurations.get(d)
  if (ms === undefined) {
    ms = Duration.toMillis(d)
    if (parsedDurations.size > 256) parsedDurations.clear()
    parsedDurations.set(d, ms)
  }
  return ms
}
