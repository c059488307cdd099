/**
 * asyncpg's `copy_records_to_table`: the target's columns are looked up
 * (and their types introspected), then records are encoded by the columns'
 * codecs (binary when every column can) and written as the socket drains.
 *
 * Internal: not exported by the package.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Errors from "../../Errors.js"
import type * as PgRecord from "../../Record.js"
import type { Codec } from "../../types/Codec.js"
import { copyIn, copyInSql } from "./fromStdin.js"
import { isAsyncIterable, isIterable, iterableStream, messageOf, sourceError, timeoutOf, usage, type CopyHost } from "./host.js"
import type { CopyError, CopyRecordsOptions, CopyStreamError } from "./options.js"
import { canUseBinary, FLUSH_AT, RecordEncoder, unencodable, type RecordColumn } from "./records.js"
import type { CopyIn } from "./requests.js"
import * as Sql from "./sql.js"

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
    session.internalQuery(COLUMNS_SQL, [qualified], (err, result) => {
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
          return Stream.runForEachArray(iterableStream(records as Iterable<ReadonlyArray<unknown>>, "iterable of records"), (rows) => writeRows(op, enc, rows))
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
