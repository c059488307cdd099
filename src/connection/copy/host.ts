/**
 * What the COPY functions need from a connection ({@link CopyHost}), and
 * the small helpers they share: timeouts, usage errors, what a source or
 * an output is.
 *
 * Internal: not exported by the package.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
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

/** The COPY's timeout in ms: the option, else the connection's command timeout. */
export const timeoutOf = (host: CopyHost, t: Duration.Input | undefined): number =>
  t === undefined ? host.commandTimeoutMs : Duration.toMillis(t)

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
