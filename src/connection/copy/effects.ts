/**
 * COPY in and out: asyncpg's `copy_from_table`, `copy_from_query`,
 * `copy_to_table` and `copy_records_to_table` as Effects and Streams.
 *
 * - Every COPY goes over the simple protocol (one Query message, one
 *   ReadyForQuery), so it pipelines like any other request.
 * - COPY FROM STDIN holds the socket alone from its Query to its
 *   ReadyForQuery (requests made meanwhile wait, then go out in order). Data
 *   is written as the socket drains, never buffered whole; a failing source,
 *   a bad record, a timeout or an interruption sends CopyFail, so the server
 *   rolls the whole COPY back and the connection stays usable.
 * - COPY TO STDOUT delivers ~64 KiB chunks; a slow consumer stops the socket
 *   from being read. Interrupting it sends a cancel request and drains to
 *   ReadyForQuery (or closes the connection after 5 s).
 * - File paths use Node's `fs` streams (no `FileSystem` service needed in
 *   the Effect's requirements; back-pressure stays in callbacks). To go
 *   through `effect`'s `FileSystem` instead, pass `fs.sink(path)` as the
 *   output or `fs.stream(path)` as the source.
 *
 * Internal: not exported by the package.
 */
import * as fs from "node:fs"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Errors from "../../Errors.js"
import * as Raw from "../../protocol/buffer.js"
import * as Reader from "../../protocol/Reader.js"
import type * as PgRecord from "../../Record.js"
import type { Codec } from "../../types/Codec.js"
import { CopyIn, CopyOut, OUT_CHUNK } from "./requests.js"
import { canUseBinary, FLUSH_AT, RecordEncoder, unencodable, type RecordColumn } from "./records.js"
import * as Sql from "./sql.js"
import { checkText } from "../sqltext.js"
import { errorFromFields, type Request, type SessionError } from "../request.js"
import type { Session } from "../Session.js"

import {
  CopyStreamError,
  type CopyError,
  type CopyFromQueryOptions,
  type CopyFromTableOptions,
  type CopyInOptions,
  type CopyOutOptions,
  type CopyOutput,
  type CopyRecordsOptions,
  type CopySource,
  type CopyToTableOptions
} from "./options.js"

export * from "./options.js"

/** What the COPY functions need from a connection. */
export interface CopyHost {
  readonly session: Session
  readonly commandTimeoutMs: number
  guard(): SessionError | undefined
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const timeoutOf = (host: CopyHost, t: Duration.Input | undefined): number =>
  t === undefined ? host.commandTimeoutMs : Duration.toMillis(t)

const usage = (message: string) => new Errors.InterfaceError({ message })

/** Runs `f` (which may throw a TypeError for bad options) and fails with an InterfaceError instead. */
const build = <A>(what: string, f: () => A): Effect.Effect<A, Errors.InterfaceError> =>
  Effect.try({
    try: f,
    catch: (e) => usage(`${what}: ${e instanceof Error ? e.message : String(e)}`)
  })

const messageOf = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === "object" && e !== null && "message" in e ? String(e.message) : String(e)

const isWritable = (u: unknown): u is NodeJS.WritableStream =>
  typeof u === "object" && u !== null && typeof (u as { write?: unknown }).write === "function" &&
  typeof (u as { on?: unknown }).on === "function"

const isAsyncIterable = (u: unknown): u is AsyncIterable<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"

const isIterable = (u: unknown): u is Iterable<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function"

// ---------------------------------------------------------------------------
// COPY TO STDOUT
// ---------------------------------------------------------------------------

const copyOutSql = (target: string, options: CopyOutOptions): string =>
  `COPY ${target} TO STDOUT${Sql.formatCopyOptions(options)}`

const tableTarget = (table: string, options: CopyFromTableOptions): string =>
  `${Sql.qualifiedName(table, options.schemaName)}${Sql.columnList(options.columns)}`

const queryTarget = (query: string): string => `(\n${Sql.trimQuery(query)}\n)`

/** The data of one COPY TO as a Stream; `onStatus` gets the command tag when it completes. */
const copyOutStream = (
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
            const bad = host.guard()
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
    const bad = host.guard()
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

/** Runs a COPY TO into an output. */
const copyOut = <E, R>(
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

/** `COPY table TO STDOUT` into an output; returns the command tag. */
export const copyFromTable = <E = never, R = never>(
  host: CopyHost,
  table: string,
  options: CopyFromTableOptions & { readonly output: CopyOutput<E, R> }
): Effect.Effect<string, CopyError | CopyStreamError | E, R> =>
  copyOut(host, build("copyFromTable", () => copyOutSql(tableTarget(table, options), options)), options.output, timeoutOf(host, options.timeout))

/** `COPY table TO STDOUT` as a Stream of ~64 KiB chunks. */
export const copyFromTableStream = (
  host: CopyHost,
  table: string,
  options: CopyFromTableOptions = {}
): Stream.Stream<Uint8Array, CopyError> =>
  copyOutStream(host, build("copyFromTable", () => copyOutSql(tableTarget(table, options), options)), timeoutOf(host, options.timeout))

const querySql = (host: CopyHost, query: string, args: ReadonlyArray<unknown> | undefined, options: CopyOutOptions) =>
  Effect.flatMap(
    // a NUL would cut the COPY command short on the server: refuse it before anything is sent
    checkText(query, "copyFromQuery query") !== undefined
      ? Effect.fail(checkText(query, "copyFromQuery query")!)
      : args === undefined || args.length === 0 ? Effect.succeed(query) : inlineArgs(host, query, args),
    (q) => build("copyFromQuery", () => copyOutSql(queryTarget(q), options))
  )

/** `COPY (query) TO STDOUT` into an output, `args` inlined as literals; returns the command tag. */
export const copyFromQuery = <E = never, R = never>(
  host: CopyHost,
  query: string,
  args: ReadonlyArray<unknown> | undefined,
  options: CopyFromQueryOptions & { readonly output: CopyOutput<E, R> }
): Effect.Effect<string, CopyError | CopyStreamError | E, R> =>
  copyOut(host, querySql(host, query, args, options), options.output, timeoutOf(host, options.timeout))

/** `COPY (query) TO STDOUT` as a Stream of ~64 KiB chunks. */
export const copyFromQueryStream = (
  host: CopyHost,
  query: string,
  args?: ReadonlyArray<unknown>,
  options: CopyFromQueryOptions = {}
): Stream.Stream<Uint8Array, CopyError> =>
  copyOutStream(host, querySql(host, query, args, options), timeoutOf(host, options.timeout))

// ---------------------------------------------------------------------------
// Query arguments → literals
// ---------------------------------------------------------------------------

/**
 * COPY (query) takes no parameters, so `args` are inlined as literals, like
 * asyncpg: the query is prepared to learn its parameter types, the server
 * turns each argument (bound with its type's codec) into a quoted literal
 * (`quote_nullable($n::text)`) and its type name (`format_type`), and each
 * `$n` outside strings, quoted names and comments becomes
 * `('literal'::type)`. The literals are the server's own output, so no
 * value can break out of its quotes.
 */
const inlineArgs = (host: CopyHost, query: string, args: ReadonlyArray<unknown>): Effect.Effect<string, CopyError> =>
  Effect.callback<string, CopyError>((resume) => {
    const bad = host.guard()
    if (bad !== undefined) {
      resume(Effect.fail(bad))
      return
    }
    const session = host.session
    session.statement(
      query,
      (err, st) => {
        if (err !== undefined || st === undefined) {
          resume(Effect.fail(err!))
          return
        }
        session.evict(st)
        const values = session.encodeArgs(st, args)
        if (!Array.isArray(values)) {
          resume(Effect.fail(values))
          return
        }
        const oids = st.paramOids
        const cols = oids.map((oid, i) => `quote_nullable($${i + 1}::text), format_type(${oid}, NULL)`).join(", ")
        const select = `SELECT ${cols}`
        let texts: Array<string> = []
        let error: SessionError | undefined
        const r: Request = {
          abandoned: false,
          onSettled: undefined,
          handle(type, buf, start, end) {
            if (type === Reader.Backend.DataRow) {
              const n = buf.readInt16BE(start)
              let at = start + 2
              texts = new Array<string>(n)
              for (let i = 0; i < n; i++) {
                const len = buf.readInt32BE(at)
                at += 4
                texts[i] = len < 0 ? "NULL" : Raw.utf8Slice(buf, at, at + len)
                if (len > 0) at += len
              }
            } else if (type === Reader.Backend.ErrorResponse) {
              error ??= errorFromFields(Reader.parseErrorFields(buf, start, end), select)
            }
          },
          done() {
            if (error !== undefined) {
              resume(Effect.fail(error))
              return
            }
            const replacements = oids.map((_, i) => `(${texts[2 * i]}::${texts[2 * i + 1]})`)
            const scsOff = session.parameters.get("standard_conforming_strings") === "off"
            resume(Effect.succeed(Sql.replacePlaceholders(query, Sql.findPlaceholders(query, scsOff), replacements)))
          },
          fail(e) {
            resume(Effect.fail(error ?? e))
          }
        }
        session.sendRequest(r, (w) =>
          w.parse("", select, oids).bind("", "", st.paramFormats, values, [0]).execute("", 0).sync()
        )
      },
      true
    )
  })

// ---------------------------------------------------------------------------
// COPY FROM STDIN
// ---------------------------------------------------------------------------

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
const copyIn = <E, R>(
  host: CopyHost,
  sql: string,
  timeoutMs: number,
  pump: (op: CopyIn) => Effect.Effect<void, E | CopyError, R>
): Effect.Effect<string, CopyError | E, R> =>
  Effect.suspend(() => {
    const bad = host.guard()
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
const writeChunks = (op: CopyIn, chunks: ReadonlyArray<Uint8Array | string>): Effect.Effect<void, CopyError> =>
  Effect.suspend(() => {
    const r = op.write(chunks)
    return r === true ? Effect.void : r === false ? awaitWritable(op) : Effect.fail(r)
  })

const sourceError = (what: string) => (e: unknown) =>
  new CopyStreamError({ message: `reading the COPY source (${what}) failed: ${messageOf(e)}; nothing was copied`, cause: e })

/** The source as a Stream of byte chunks. */
const sourceStream = <E, R>(source: CopySource<E, R>): Stream.Stream<Uint8Array | string, E | CopyStreamError, R> => {
  if (typeof source === "string") {
    return Stream.suspend(() =>
      Stream.fromAsyncIterable(
        fs.createReadStream(source, { highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>,
        sourceError(`file ${source}`)
      )
    )
  }
  if (Stream.isStream(source)) return source as Stream.Stream<Uint8Array, E, R>
  if (isAsyncIterable(source)) return Stream.fromAsyncIterable(source as AsyncIterable<Uint8Array | string>, sourceError("async iterable"))
  if (isIterable(source)) return Stream.fromIterable(source as Iterable<Uint8Array>)
  return Stream.fail(new CopyStreamError({ message: "copy source must be a file path, a Node Readable, an (async) iterable of Uint8Array or an Effect Stream" }))
}

const copyInSql = (target: string, options: CopyInOptions): string =>
  `COPY ${target} FROM STDIN${Sql.formatCopyOptions(options)}${options.where === undefined ? "" : ` WHERE ${options.where}`}`

/** `COPY table FROM STDIN` from a source of bytes; returns the command tag. */
export const copyToTable = <E = never, R = never>(
  host: CopyHost,
  table: string,
  options: CopyToTableOptions<E, R>
): Effect.Effect<string, CopyError | CopyStreamError | E, R> =>
  Effect.flatMap(
    build("copyToTable", () => copyInSql(`${Sql.qualifiedName(table, options.schemaName)}${Sql.columnList(options.columns)}`, options)),
    (sql) =>
      copyIn(host, sql, timeoutOf(host, options.timeout), (op) =>
        Stream.runForEachArray(sourceStream(options.source), (chunks) => writeChunks(op, chunks))
      )
  )

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

const COLUMNS_SQL = `SELECT a.attname::text AS "name", a.atttypid AS "oid", a.attgenerated::text AS "generated"
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

/** The target columns with their codecs (introspecting unknown types once). */
const resolveColumns = (
  host: CopyHost,
  table: string,
  schemaName: string | undefined,
  columns: ReadonlyArray<string> | undefined
): Effect.Effect<Array<RecordColumn>, CopyError> =>
  Effect.callback<Array<RecordColumn>, CopyError>((resume) => {
    const bad = host.guard()
    if (bad !== undefined) {
      resume(Effect.fail(bad))
      return
    }
    const session = host.session
    let qualified: string
    try {
      qualified = Sql.qualifiedName(table, schemaName)
      // column names are checked (NUL) before they are looked up
      Sql.columnList(columns)
    } catch (e) {
      resume(Effect.fail(usage(`copyRecordsToTable: ${messageOf(e)}`)))
      return
    }
    session.query(COLUMNS_SQL, [qualified], (err, result) => {
      if (err !== undefined || result === undefined) {
        resume(Effect.fail(err!))
        return
      }
      const attrs = (result.rows as Array<PgRecord.Record>).map((row) => ({
        name: String(row.get("name")),
        oid: Number(row.get("oid")),
        generated: String(row.get("generated") ?? "") !== ""
      }))
      let picked: Array<{ name: string; oid: number }>
      if (columns === undefined || columns.length === 0) {
        picked = attrs.filter((a) => !a.generated)
      } else {
        picked = []
        for (const name of columns) {
          const a = attrs.find((x) => x.name === name)
          if (a === undefined) {
            resume(
              Effect.fail(
                Errors.fromServerFields({
                  severity: "ERROR",
                  code: "42703",
                  message: `column "${name}" of relation "${table}" does not exist (columns: ${attrs.map((x) => x.name).join(", ")}); names are case-sensitive`,
                  table,
                  column: name
                })
              )
            )
            return
          }
          picked.push(a)
        }
      }
      const registry = session.registry
      const unknown = [...new Set(picked.map((a) => a.oid).filter((oid) => registry.needsIntrospection(oid)))]
      const finish = () =>
        resume(Effect.succeed(picked.map((a): RecordColumn => ({ name: a.name, codec: registry.codecFor(a.oid) as Codec }))))
      if (unknown.length === 0) finish()
      else {
        session.introspect(unknown, (e) => {
          if (e !== undefined) resume(Effect.fail(e))
          else finish()
        })
      }
    })
  })

/** Encodes and writes `rows`, waiting for the socket whenever it is full. */
/** What encoding records threw, as a DataError (a hostile record, e.g. a Proxy, may throw anything). */
const asRecordError = (e: unknown): Errors.DataError => {
  if (e instanceof Errors.DataError) return e
  let why = "reading it threw"
  try {
    why = e instanceof Error ? e.message : String(e)
  } catch {
    // keep the generic reason
  }
  return new Errors.DataError({ message: `a record could not be read (${why}); pass each record as a plain array of values` })
}

const writeRows = (op: CopyIn, enc: RecordEncoder, rows: ReadonlyArray<unknown>): Effect.Effect<void, CopyError> =>
  Effect.callback<void, CopyError>((resume) => {
    let i = 0
    let stopped = false
    const step = (): void => {
      if (stopped) return
      try {
        while (i < rows.length) {
          if (!enc.canTake) {
            // every buffer is still in the socket: continue when one comes back
            waitFree()
            return
          }
          i = enc.encode(rows, i)
          if (enc.pending >= FLUSH_AT) {
            const message = enc.take()
            const r = op.writeMessage(message, () => enc.release(message))
            if (r === false) {
              op.onWritable(step)
              return
            }
            if (r !== true) {
              resume(Effect.fail(r))
              return
            }
          }
        }
      } catch (e) {
        resume(Effect.fail(asRecordError(e)))
        return
      }
      const bad = op.notWritable()
      resume(bad === undefined ? Effect.void : Effect.fail(bad))
    }
    const waitFree = (): void => {
      let called = false
      const once = () => {
        if (called) return
        called = true
        step()
      }
      enc.onFree(once)
      op.onSettle(once)
    }
    step()
    return Effect.sync(() => {
      stopped = true
    })
  })

/** Pulls rows from an async iterable in batches (one promise per row is the iterable's own cost). */
const writeAsyncRows = (
  op: CopyIn,
  enc: RecordEncoder,
  rows: AsyncIterable<ReadonlyArray<unknown>>
): Effect.Effect<void, CopyError | CopyStreamError> => {
  const iterator = rows[Symbol.asyncIterator]()
  const nextBatch = Effect.tryPromise({
    try: async () => {
      const batch: Array<ReadonlyArray<unknown>> = []
      while (batch.length < 1024) {
        const r = await iterator.next()
        if (r.done === true) return { batch, done: true }
        batch.push(r.value)
      }
      return { batch, done: false }
    },
    catch: sourceError("async iterable of records")
  })
  let exhausted = false
  const loop: Effect.Effect<void, CopyError | CopyStreamError> = Effect.flatMap(nextBatch, ({ batch, done }) => {
    exhausted = done
    return Effect.flatMap(writeRows(op, enc, batch), () => (done ? Effect.void : loop))
  })
  // stop the iterator when the COPY ends early (without waiting: a pending next() may never settle)
  return Effect.ensuring(
    loop,
    Effect.sync(() => {
      if (!exhausted && iterator.return !== undefined) void iterator.return().catch(() => {})
    })
  )
}

/** `COPY table FROM STDIN` of records encoded by the columns' codecs; returns the command tag. */
export const copyRecordsToTable = <E = never, R = never>(
  host: CopyHost,
  table: string,
  options: CopyRecordsOptions<E, R>
): Effect.Effect<string, CopyError | CopyStreamError | E, R> =>
  Effect.flatMap(resolveColumns(host, table, options.schemaName, options.columns), (columns) =>
    Effect.suspend(() => {
      const none = unencodable(columns)
      if (none !== undefined) {
        return Effect.fail(usage(`copyRecordsToTable: column "${none.name}" (type ${none.codec.name}) has neither a binary nor a text encoder; set one with setTypeCodec`))
      }
      const binary = canUseBinary(columns)
      const enc = new RecordEncoder(columns, binary, host.session.registry)
      const names = columns.map((c) => c.name)
      let sql: string
      try {
        sql = copyInSql(`${Sql.qualifiedName(table, options.schemaName)}${Sql.columnList(names)}`, {
          format: binary ? "binary" : "text",
          where: options.where
        })
      } catch (e) {
        return Effect.fail(usage(`copyRecordsToTable: ${messageOf(e)}`))
      }
      const records = options.records
      const body = (op: CopyIn): Effect.Effect<void, CopyError | CopyStreamError | E, R> => {
        if (Array.isArray(records)) return writeRows(op, enc, records)
        if (Stream.isStream(records)) {
          return Stream.runForEachArray(records as Stream.Stream<ReadonlyArray<unknown>, E, R>, (rows) => writeRows(op, enc, rows))
        }
        if (isAsyncIterable(records)) return writeAsyncRows(op, enc, records as AsyncIterable<ReadonlyArray<unknown>>)
        if (isIterable(records)) {
          return Stream.runForEachArray(Stream.fromIterable(records as Iterable<ReadonlyArray<unknown>>), (rows) => writeRows(op, enc, rows))
        }
        return Effect.fail(usage("records must be an array, an (async) iterable or a Stream of arrays"))
      }
      return copyIn(host, sql, timeoutOf(host, options.timeout), (op) =>
        Effect.flatMap(body(op), () =>
          Effect.suspend(() => {
            const message = enc.end()
            const r = op.writeMessage(message, () => enc.release(message))
            return r === true || r === false ? Effect.void : Effect.fail(r)
          })
        )
      )
    })
  )

