/**
 * Running a `COPY ... TO STDOUT` as an Effect: its data as a Stream (a
 * pulling consumer; the socket stops being read above 1 MiB queued), into a
 * Node writable (paced by its drain) or into an Effect Sink. Interrupting it
 * cancels the COPY on the server and drains to ReadyForQuery.
 *
 * Internal: not exported by the package.
 */
import * as fs from "node:fs"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { isWritable, messageOf, spentTimeout, usage, type CopyHost } from "./host.js"
import { CopyStreamError, type CopyError, type CopyOutput } from "./options.js"
import { CopyOut, OUT_CHUNK } from "./requests.js"

/** The data of one COPY TO as a Stream; `onStatus` gets the command tag when it completes. */
export const copyOutStream = (
  host: CopyHost,
  sql: Effect.Effect<string, CopyError>,
  timeoutMs: number,
  onStatus?: (status: string) => void
): Stream.Stream<Uint8Array, CopyError> =>
  Stream.unwrap(
    Effect.map(
      Effect.acquireRelease(
        Effect.flatMap(sql, (text) =>
          Effect.suspend(() => {
            const bad = host.guard() ?? spentTimeout(timeoutMs, text)
            if (bad !== undefined) return Effect.fail(bad)
            const op = new CopyOut(host.session, text, timeoutMs)
            return Effect.succeed(new PullQueue(op))
          })
        ),
        (q) => (q.op.finished ? Effect.void : Effect.callback<void>((resume) => q.op.abandonNow(() => resume(Effect.void))))
      ),
      (q) => {
        q.start()
        return Stream.fromPull(Effect.succeed(q.pull(onStatus)))
      }
    )
  )

/** Queues a CopyOut's chunks for a pulling consumer; the socket pauses above 1 MiB queued. */
class PullQueue {
  private chunks: Array<Uint8Array> = []
  private bytes = 0
  private waiter: (() => void) | undefined = undefined
  static readonly HIGH_WATER = 16 * OUT_CHUNK

  constructor(readonly op: CopyOut) {
    op.push = (chunk) => {
      this.chunks.push(chunk)
      this.bytes += chunk.length
      this.wake()
      return this.bytes < PullQueue.HIGH_WATER
    }
    op.onEnd = () => this.wake()
  }

  start(): void {
    this.op.start()
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    if (w !== undefined) w()
  }

  pull(onStatus: ((status: string) => void) | undefined): Effect.Effect<NonEmptyReadonlyArray<Uint8Array>, CopyError | Cause.Done> {
    const next = (): Effect.Effect<NonEmptyReadonlyArray<Uint8Array>, CopyError | Cause.Done> => {
      if (this.chunks.length > 0) {
        const out = this.chunks as unknown as NonEmptyReadonlyArray<Uint8Array>
        this.chunks = []
        this.bytes = 0
        this.op.resume()
        return Effect.succeed(out)
      }
      if (this.op.finished) {
        const err = this.op.failure()
        if (err !== undefined) return Effect.fail(err)
        onStatus?.(this.op.status)
        return Cause.done()
      }
      return Effect.callback<NonEmptyReadonlyArray<Uint8Array>, CopyError | Cause.Done>((resume) => {
        this.waiter = () => resume(Effect.suspend(next))
        return Effect.sync(() => {
          this.waiter = undefined
        })
      })
    }
    return Effect.suspend(next)
  }
}

/** Runs a COPY TO into a Node writable; `own` ends (file) or leaves it open (caller's). */
const copyOutToWritable = (
  host: CopyHost,
  sql: string,
  timeoutMs: number,
  open: () => NodeJS.WritableStream,
  own: boolean,
  describeTarget: string
): Effect.Effect<string, CopyError | CopyStreamError> =>
  Effect.callback<string, CopyError | CopyStreamError>((resume) => {
    const bad = host.guard() ?? spentTimeout(timeoutMs, sql)
    if (bad !== undefined) {
      resume(Effect.fail(bad))
      return
    }
    let out: NodeJS.WritableStream
    try {
      out = open()
    } catch (e) {
      resume(Effect.fail(new CopyStreamError({ message: `could not open ${describeTarget}: ${messageOf(e)}`, cause: e })))
      return
    }
    const op = new CopyOut(host.session, sql, timeoutMs)
    let streamError: unknown = undefined
    let settled = false
    const onDrain = () => op.resume()
    const onError = (e: unknown) => {
      if (settled || streamError !== undefined) return
      streamError = e
      op.abandonNow(() => finish())
    }
    const cleanup = () => {
      out.removeListener("drain", onDrain)
      out.removeListener("error", onError)
    }
    const destroy = () => {
      const d = (out as { destroy?: () => void }).destroy
      if (typeof d === "function") d.call(out)
    }
    const finish = () => {
      if (settled) return
      settled = true
      cleanup()
      // a late error of our own file stream (after destroy) must not go unhandled
      if (own) out.on("error", () => {})
      if (streamError !== undefined) {
        if (own) destroy()
        resume(
          Effect.fail(
            new CopyStreamError({
              message: `writing the COPY output to ${describeTarget} failed: ${messageOf(streamError)}; the COPY was cancelled`,
              cause: streamError
            })
          )
        )
        return
      }
      const err = op.failure()
      if (err !== undefined) {
        if (own) destroy()
        resume(Effect.fail(err))
        return
      }
      if (!own) {
        resume(Effect.succeed(op.status))
        return
      }
      const onCloseError = (e: unknown) =>
        resume(Effect.fail(new CopyStreamError({ message: `writing ${describeTarget} failed: ${messageOf(e)}`, cause: e })))
      out.once("error", onCloseError)
      out.once("close", () => {
        out.removeListener("error", onCloseError)
        resume(Effect.succeed(op.status))
      })
      try {
        out.end()
      } catch (e) {
        onCloseError(e)
      }
    }
    out.on("drain", onDrain)
    out.on("error", onError)
    op.push = (chunk) => {
      if (streamError !== undefined) return true
      try {
        return out.write(chunk)
      } catch (e) {
        // runs inside the session's message loop: never let it throw there
        queueMicrotask(() => onError(e))
        return true
      }
    }
    op.onEnd = finish
    op.start()
    return Effect.callback<void>((resumeCancel) => {
      op.abandonNow(() => {
        settled = true
        cleanup()
        if (own) {
          out.on("error", () => {})
          destroy()
        }
        resumeCancel(Effect.void)
      })
    })
  })

/** Runs a COPY TO into an output: a file path, a Node writable or an Effect Sink. */
export const copyOut = <E, R>(
  host: CopyHost,
  sql: Effect.Effect<string, CopyError>,
  output: CopyOutput<E, R>,
  timeoutMs: number
): Effect.Effect<string, CopyError | CopyStreamError | E, R> => {
  if (typeof output === "string") {
    return Effect.flatMap(sql, (text) =>
      copyOutToWritable(host, text, timeoutMs, () => fs.createWriteStream(output), true, `file ${output}`)
    )
  }
  if (Sink.isSink(output)) {
    const sink = output as Sink.Sink<unknown, Uint8Array, unknown, E, R>
    return Effect.suspend(() => {
      let status = ""
      return Effect.map(Stream.run(copyOutStream(host, sql, timeoutMs, (s) => (status = s)), sink), () => status)
    })
  }
  if (isWritable(output)) {
    return Effect.flatMap(sql, (text) => copyOutToWritable(host, text, timeoutMs, () => output, false, "the output stream"))
  }
  return Effect.fail(usage("copy output must be a file path, a Node Writable or an Effect Sink of Uint8Array"))
}
