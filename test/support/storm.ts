/**
 * Load loops for fault tests: N fibers each calling an Effect in a loop until
 * told to stop, every call recorded (start, end, outcome). An outcome is
 * `"ok"`, `"wrong"` (a value that is not the caller's own), the `_tag` of a
 * typed failure, `"interrupted"`, or `"defect"` (an untyped failure: a bug).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"

export interface CallRecord {
  readonly fiber: number
  readonly seq: number
  /** Date.now() when the call was made / ended */
  readonly start: number
  readonly end: number
  readonly outcome: string
  /** the defect's or failure's text, for reports */
  readonly detail?: string
}

/** The tag of a failed Exit: the failure's `_tag`, `"interrupted"`, or `"defect"`. */
export const outcomeOf = <A, E>(exit: Exit.Exit<A, E>): { readonly outcome: string; readonly detail?: string } => {
  if (Exit.isSuccess(exit)) return { outcome: "ok" }
  const fail = exit.cause.reasons.find(Cause.isFailReason)
  if (fail !== undefined) {
    const e = fail.error as { readonly _tag?: unknown; readonly message?: unknown }
    if (typeof e === "object" && e !== null && typeof e._tag === "string") return { outcome: e._tag, detail: String(e.message ?? "") }
    return { outcome: "defect", detail: `untagged failure: ${String(e)}` }
  }
  if (exit.cause.reasons.some(Cause.isDieReason)) return { outcome: "defect", detail: Cause.pretty(exit.cause).slice(0, 500) }
  return { outcome: "interrupted" }
}

export interface StormOptions<E> {
  readonly fibers: number
  /** one call; succeeds with whether the value it got back is its own */
  readonly call: (fiber: number, seq: number) => Effect.Effect<boolean, E>
  /** checked before each call */
  readonly stop: () => boolean
  /** pause after a failed call, so a dead server is not hammered in a tight loop (default 5 ms) */
  readonly pauseAfterFailureMs?: number
  /** hard cap on calls per fiber (a bounded loop whatever happens; default 1,000,000) */
  readonly maxCallsPerFiber?: number
}

/** Runs the fibers until `stop()`; returns every call made. */
export const storm = <E>(options: StormOptions<E>): Effect.Effect<ReadonlyArray<CallRecord>> =>
  Effect.gen(function* () {
    const records: Array<CallRecord> = []
    const pause = options.pauseAfterFailureMs ?? 5
    const cap = options.maxCallsPerFiber ?? 1_000_000
    yield* Effect.forEach(
      Array.from({ length: options.fibers }, (_, i) => i),
      (fiber) =>
        Effect.gen(function* () {
          for (let seq = 0; seq < cap && !options.stop(); seq++) {
            const start = Date.now()
            const exit = yield* Effect.exit(options.call(fiber, seq))
            const end = Date.now()
            if (Exit.isSuccess(exit)) {
              records.push({ fiber, seq, start, end, outcome: exit.value ? "ok" : "wrong" })
            } else {
              records.push({ fiber, seq, start, end, ...outcomeOf(exit) })
              if (pause > 0) yield* Effect.sleep(pause)
            }
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    return records
  })

/** Counts of each outcome, for messages. */
export const tally = (records: ReadonlyArray<CallRecord>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const r of records) out[r.outcome] = (out[r.outcome] ?? 0) + 1
  return out
}

/** A readable sample of offending records. */
export const show = (records: ReadonlyArray<CallRecord>, t0: number, n = 5): string =>
  records
    .slice(0, n)
    .map((r) => `fiber ${r.fiber} #${r.seq}: ${r.outcome} ${r.start - t0}..${r.end - t0} ms${r.detail ? ` (${r.detail.slice(0, 120)})` : ""}`)
    .join("; ")

export interface Settled {
  /** "ok", a failure's tag, "interrupted", "defect", or "hang" (still running at the cap) */
  readonly outcome: string
  readonly ms: number
  readonly detail?: string
}

/**
 * Runs `effect` in a detached fiber and waits for it at most `capMs`: a hang
 * is reported as `"hang"` at the cap instead of waiting for an interruption
 * that may itself hang (the fiber is then interrupted in the background).
 */
export const settleWithin = <A, E>(effect: Effect.Effect<A, E>, capMs: number): Effect.Effect<Settled> =>
  Effect.gen(function* () {
    const start = Date.now()
    const fiber = yield* Effect.forkDetach(effect)
    const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(capMs))
    const ms = Date.now() - start
    if (Option.isNone(done)) {
      yield* Effect.forkDetach(Fiber.interrupt(fiber))
      return { outcome: "hang", ms }
    }
    return { ...outcomeOf(done.value), ms }
  })
