/**
 * The public types of COPY: where data comes from and goes to, the options
 * of each COPY method, and `CopyStreamError`.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type { QueryError } from "../query.js"

/**
 * A source or destination of COPY data failed: a file could not be read or
 * written, a Node stream or async iterable threw. The COPY was rolled back
 * (COPY FROM) or cancelled (COPY TO); the connection is still usable.
 *
 * @since 0.1.0
 * @category errors
 */
export class CopyStreamError extends Data.TaggedError("CopyStreamError")<{
  /** What failed and what to do. */
  readonly message: string
  /** The error thrown by the file, stream or iterable. */
  readonly cause?: unknown
}> {}

/** The errors a COPY can fail with, besides its source's or sink's own. */
export type CopyError = QueryError

/** A COPY data format. */
export type CopyFormat = "text" | "csv" | "binary"

/** Options of `COPY ... TO STDOUT`; unset ones are left to the server's defaults. */
export interface CopyOutOptions {
  /** `text` (default), `csv` or `binary` */
  readonly format?: CopyFormat | undefined
  /** column separator (one character; tab for text, `,` for csv) */
  readonly delimiter?: string | undefined
  /** the string written for NULL (`\N` for text, empty for csv) */
  readonly null?: string | undefined
  /** csv: write a header line with the column names */
  readonly header?: boolean | undefined
  /** csv: the quote character (default `"`) */
  readonly quote?: string | undefined
  /** csv: the escape character (default: the quote) */
  readonly escape?: string | undefined
  /** csv: quote every non-NULL value (`true`) or those of these columns */
  readonly forceQuote?: boolean | ReadonlyArray<string> | undefined
  /** the encoding of the data (default: the client encoding, UTF8) */
  readonly encoding?: string | undefined
  /** cancel the COPY and fail with `CommandTimeoutError` after this long (default: the connection's `commandTimeout`) */
  readonly timeout?: Duration.Input | undefined
}

/** Where COPY TO data goes: a file path, a Node `Writable` (not ended), or an Effect `Sink` of bytes. */
export type CopyOutput<E = never, R = never> =
  | string
  | NodeJS.WritableStream
  | Sink.Sink<unknown, Uint8Array, unknown, E, R>

/** Options of `copyFromTable` without the output. */
export interface CopyFromTableOptions extends CopyOutOptions {
  /** copy only these columns, in this order (names are used as given, case-sensitive) */
  readonly columns?: ReadonlyArray<string> | undefined
  /** the table's schema (default: the search_path) */
  readonly schemaName?: string | undefined
}

/** Options of `copyFromQuery` without the output. */
export interface CopyFromQueryOptions extends CopyOutOptions {}

/** Options of `COPY ... FROM STDIN`; unset ones are left to the server's defaults. */
export interface CopyInOptions {
  /** `text` (default), `csv` or `binary` */
  readonly format?: CopyFormat | undefined
  /** load into a just-created or truncated table with rows already frozen */
  readonly freeze?: boolean | undefined
  /** column separator (one character) */
  readonly delimiter?: string | undefined
  /** the string that stands for NULL */
  readonly null?: string | undefined
  /** csv: the first line is a header (skipped; `"match"` checks the names, PostgreSQL 15+) */
  readonly header?: boolean | "match" | undefined
  /** csv: the quote character */
  readonly quote?: string | undefined
  /** csv: the escape character */
  readonly escape?: string | undefined
  /** csv: never read these columns' values as NULL */
  readonly forceNotNull?: ReadonlyArray<string> | undefined
  /** csv: read these columns' quoted values that match the null string as NULL */
  readonly forceNull?: ReadonlyArray<string> | undefined
  /** the encoding of the data (default: the client encoding, UTF8) */
  readonly encoding?: string | undefined
  /** keep only the rows for which this SQL condition holds (PostgreSQL 12+); raw SQL, not escaped */
  readonly where?: string | undefined
  /** abort the COPY (nothing is inserted) and fail with `CommandTimeoutError` after this long */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Where COPY FROM data comes from: a file path, bytes (a `Uint8Array` or
 * `Buffer`, one chunk), a Node `Readable` or any `AsyncIterable` of bytes
 * (strings are UTF-8), an `Iterable` of byte chunks, or an Effect `Stream`
 * of bytes. What an iterable throws is a `CopyStreamError`. Chunks go to the socket without
 * a copy: like with `Writable.write`, do not change a chunk once produced.
 */
export type CopySource<E = never, R = never> =
  | string
  | Uint8Array
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array>
  | Stream.Stream<Uint8Array, E, R>

/** Options of `copyToTable`. */
export interface CopyToTableOptions<E = never, R = never> extends CopyInOptions {
  /** the data, in `format` */
  readonly source: CopySource<E, R>
  /** the columns the data fills, in order (default: all but generated ones) */
  readonly columns?: ReadonlyArray<string> | undefined
  /** the table's schema (default: the search_path) */
  readonly schemaName?: string | undefined
}

/** Records for `copyRecordsToTable`: arrays of values, one per column. */
export type CopyRecords<E = never, R = never> =
  | Iterable<ReadonlyArray<unknown>>
  | AsyncIterable<ReadonlyArray<unknown>>
  | Stream.Stream<ReadonlyArray<unknown>, E, R>

/** Options of `copyRecordsToTable`. */
export interface CopyRecordsOptions<E = never, R = never> {
  /** the rows: one array per row, one value per column (`null`/`undefined` for NULL) */
  readonly records: CopyRecords<E, R>
  /** the columns the values fill, in order (default: all but generated ones, in table order) */
  readonly columns?: ReadonlyArray<string> | undefined
  /** the table's schema (default: the search_path) */
  readonly schemaName?: string | undefined
  /** keep only the rows for which this SQL condition holds (PostgreSQL 12+); raw SQL, not escaped */
  readonly where?: string | undefined
  /** abort the COPY (nothing is inserted) and fail with `CommandTimeoutError` after this long */
  readonly timeout?: Duration.Input | undefined
}

