/**
 * asyncpg's `copy_from_table` and `copy_from_query`: `COPY table TO
 * STDOUT` and `COPY (query) TO STDOUT` into an output or as a Stream.
 *
 * Internal: not exported by the package.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { checkText } from "../sqltext.js"
import { build, timeoutOf, type CopyHost } from "./host.js"
import { inlineArgs } from "./inlineArgs.js"
import type { CopyError, CopyFromQueryOptions, CopyFromTableOptions, CopyOutOptions, CopyOutput, CopyStreamError } from "./options.js"
import * as Sql from "./sql.js"
import { copyOut, copyOutStream } from "./toStdout.js"

const copyOutSql = (target: string, options: CopyOutOptions): string =>
  `COPY ${target} TO STDOUT${Sql.formatCopyOptions(options)}`

const tableTarget = (table: string, options: CopyFromTableOptions): string =>
  `${Sql.qualifiedName(table, options.schemaName)}${Sql.columnList(options.columns)}`

const queryTarget = (query: string): string => `(\n${Sql.trimQuery(query)}\n)`

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

/** The COPY statement of a query, with its arguments inlined. */
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
