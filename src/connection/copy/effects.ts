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
 * The functions live in files named for them: `copyFrom.ts`
 * (copyFromTable, copyFromQuery; `inlineArgs.ts` for the query's
 * arguments) on `toStdout.ts`; `copyTo.ts` (copyToTable) and
 * `copyRecords.ts` (copyRecordsToTable) on `fromStdin.ts`; the requests on
 * the wire in `requests.ts`. This module is the one the connection imports.
 *
 * Internal: not exported by the package.
 */
export * from "./options.js"
export type { CopyHost } from "./host.js"
export { copyFromQuery, copyFromQueryStream, copyFromTable, copyFromTableStream } from "./copyFrom.js"
export { copyToTable } from "./copyTo.js"
export { copyRecordsToTable } from "./copyRecords.js"
