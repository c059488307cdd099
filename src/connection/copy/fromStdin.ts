/**
 * Running a `COPY ... FROM STDIN` as an Effect: the data is written as the
 * socket drains; CopyDone ends it, and any failure, timeout or interruption
 * of the data source sends CopyFail, so the server rolls the whole COPY
 * back and the connection stays usable.
 *
 * Internal: not exported by the package.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Errors from "../../Errors.js"
import { messageOf, spentTimeout, type CopyHost } from "./host.js"
import type { CopyError, CopyInOptions } from "./options.js"
import { CopyIn } from "./requests.js"
import * as Sql from "./sql.js"

const abortReason = (cause: Cause.Cause<unknown>): string => {
  if (Cause.hasInterruptsOnly(cause)) return "the COPY was interrupted by the client"
  const e = Cause.squash(cause)
  return `the COPY was aborted by the client: ${messageOf(e)}`.slice(0, 1000)
}

/**
 * Runs `COPY ... FROM STDIN`: `pump` writes the data; then CopyDone and
 * the command tag. Any failure or interruption of `pump` (or the timeout)
 * sends CopyFail and waits for the server before the Effect ends.
 */
export const copyIn = <E, R>(
  host: CopyHost,
  sql: string,
  timeoutMs: number,
  pump: (op: CopyIn) => Effect.Effect<void, E | CopyError, R>
): Effect.Effect<string, CopyError | E, R> =>
  Effect.suspend(() => {
    const bad = host.guard() ?? spentTimeout(timeoutMs, sql)
    if (bad !== undefined) return Effect.fail(bad)
    return Effect.uninterruptibleMask((restore) => {
      const op = new CopyIn(host.session, sql)
      op.start()
      const run: Effect.Effect<string, CopyError | E, R> = Effect.flatMap(awaitReady(op), () =>
        Effect.flatMap(pump(op), () => awaitDone(op))
      )
      const timed = timeoutMs > 0
        ? Effect.timeoutOrElse(run, {
          duration: Duration.millis(timeoutMs),
          orElse: () =>
            Effect.fail(
              new Errors.CommandTimeoutError({
                message: `the COPY did not finish within ${timeoutMs} ms and was rolled back; raise the timeout or copy less`,
                timeoutMs,
                query: sql
              })
            )
        })
        : run
      return Effect.matchCauseEffect(restore(timed), {
        onSuccess: (status) => Effect.succeed(status),
        onFailure: (cause) =>
          Effect.flatMap(
            Effect.callback<void>((resume) => op.abort(abortReason(cause), () => resume(Effect.void))),
            // a timeout that fired after CopyDone, when the rows were in anyway: report what happened
            (): Effect.Effect<string, CopyError | E> =>
              op.succeeded && !Cause.hasInterrupts(cause) ? Effect.succeed(op.status) : Effect.failCause(cause)
          )
      })
    })
  })

const awaitReady = (op: CopyIn): Effect.Effect<void, CopyError> =>
  Effect.callback<void, CopyError>((resume) => {
    op.onReady(() => {
      const bad = op.notWritable()
      resume(bad === undefined ? Effect.void : Effect.fail(bad))
    })
  })

const awaitDone = (op: CopyIn): Effect.Effect<string, CopyError> =>
  Effect.callback<string, CopyError>((resume) => {
    op.finish()
    op.onSettle(() => resume(op.error !== undefined ? Effect.fail(op.error) : Effect.succeed(op.status)))
  })

const awaitWritable = (op: CopyIn): Effect.Effect<void, CopyError> =>
  Effect.callback<void, CopyError>((resume) => {
    op.onWritable(() => {
      const bad = op.notWritable()
      resume(bad === undefined ? Effect.void : Effect.fail(bad))
    })
  })

/** Writes byte chunks, then waits for the socket when it is full. */
export const writeChunks = (op: CopyIn, chunks: ReadonlyArray<Uint8Array | string>): Effect.Effect<void, CopyError> =>
  Effect.suspend(() => {
    const r = op.write(chunks)
    return r === true ? Effect.void : r === false ? awaitWritable(op) : Effect.fail(r)
  })

/** The `COPY target FROM STDIN` statement with its options. */
export const copyInSql = (target: string, options: CopyInOptions): string =>
  `COPY ${target} FROM STDIN${Sql.formatCopyOptions(options)}${options.where === undefined ? "" : ` WHERE ${options.where}`}`
