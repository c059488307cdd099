/**
 * What the COPY functions need from a connection ({@link CopyHost}), and
 * the small helpers they share: timeouts, usage errors, what a source or
 * an output is.
 *
 * Internal: not exported by the package.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Errors from "../../Errors.js"
import type { SessionError } from "../request.js"
import type { Session } from "../Session.js"
import { CopyStreamError } from "./options.js"

/** What the COPY functions need from a connection. */
export interface CopyHost {
  readonly session: Session
  readonly commandTimeoutMs: number
  guard(): SessionError | undefined
}

/**
 * The COPY's timeout in ms: the option, else the connection's command
 * timeout (0: none). A timeout of its own of 0 or below is spent (-1): the
 * COPY fails with `CommandTimeoutError` before anything is sent, as every
 * call's own timeout does; Infinity is none.
 */
export const timeoutOf = (host: CopyHost, t: Duration.Input | undefined): number => {
  if (t === undefined) return host.commandTimeoutMs
  const ms = Duration.toMillis(t)
  return ms === Infinity ? 0 : ms > 0 ? ms : -1
}

/** The error of a COPY whose own timeout was spent before it started (see {@link timeoutOf}), else undefined. */
export const spentTimeout = (timeoutMs: number, sql: string): Errors.CommandTimeoutError | undefined =>
  timeoutMs < 0
    ? new Errors.CommandTimeoutError({
      message: "the COPY's timeout was 0 or below, so it timed out before anything was sent (use Infinity for no timeout)",
      timeoutMs: 0,
      query: sql
    })
    : undefined

/** A misuse of the COPY API. */
export const usage = (message: string): Errors.InterfaceError => new Errors.InterfaceError({ message })

/** Runs `f` (which may throw a TypeError for bad options) and fails with an InterfaceError instead. */
export const build = <A>(what: string, f: () => A): Effect.Effect<A, Errors.InterfaceError> =>
  Effect.try({
    try: f,
    catch: (e) => usage(`${what}: ${e instanceof Error ? e.message : String(e)}`)
  })

/** The message of something thrown or failed with, whatever it is. */
export const messageOf = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === "object" && e !== null && "message" in e ? String(e.message) : String(e)

/** A Node writable stream. */
export const isWritable = (u: unknown): u is NodeJS.WritableStream =>
  typeof u === "object" && u !== null && typeof (u as { write?: unknown }).write === "function" &&
  typeof (u as { on?: unknown }).on === "function"

/** Something `for await` can read. */
export const isAsyncIterable = (u: unknown): u is AsyncIterable<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"

/** Something `for` can read. */
export const isIterable = (u: unknown): u is Iterable<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function"

/** The error of a COPY source that failed while being read. */
export const sourceError = (what: string) => (e: unknown) =>
  new CopyStreamError({ message: `reading the COPY source (${what}) failed: ${messageOf(e)}; nothing was copied`, cause: e })

/**
 * A synchronous iterable as a Stream, in batches; what its iterator throws is
 * a `CopyStreamError` (as from an async iterable), not a defect.
 */
export const iterableStream = <A>(iterable: Iterable<A>, what: string): Stream.Stream<A, CopyStreamError> =>
  Stream.suspend(() => {
    let iterator: Iterator<A> | undefined
    const pull = Effect.try({
      try: (): readonly [ReadonlyArray<A>, Option.Option<void>] => {
        iterator ??= iterable[Symbol.iterator]()
        const batch: Array<A> = []
        while (batch.length < 1024) {
          const r = iterator.next()
          if (r.done === true) return [batch, Option.none()]
          batch.push(r.value)
        }
        return [batch, Option.some(undefined)]
      },
      catch: sourceError(what)
    })
    return Stream.paginate(undefined, () => pull)
  })
