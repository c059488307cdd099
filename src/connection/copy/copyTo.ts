/**
 * asyncpg's `copy_to_table`: `COPY table FROM STDIN` from a source of bytes
 * (a file path, a Node Readable, an (async) iterable or an Effect Stream).
 *
 * Internal: not exported by the package.
 */
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { build, isAsyncIterable, isIterable, iterableStream, sourceError, timeoutOf, type CopyHost } from "./host.js"
import { copyIn, copyInSql, writeChunks } from "./fromStdin.js"
import { CopyStreamError, type CopyError, type CopySource, type CopyToTableOptions } from "./options.js"
import * as Sql from "./sql.js"

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
  // bytes are one chunk (a Buffer is also an iterable, of numbers)
  if (source instanceof Uint8Array) return Stream.make(source)
  if (isIterable(source)) return iterableStream(source as Iterable<Uint8Array>, "iterable")
  return Stream.fail(new CopyStreamError({ message: "copy source must be a file path, bytes (a Uint8Array or Buffer), a Node Readable, an (async) iterable of Uint8Array or an Effect Stream" }))
}

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
