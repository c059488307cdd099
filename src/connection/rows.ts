/**
 * Rows: the one decoder of a DataRow body into values, and the one
 * row-collecting request that statements (`Session.execute`), portals
 * (`portal.ts`) and COPY (`copyFromQuery`'s arguments) share: it collects
 * one {@link Batch} per Execute and reports the first error.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import type { Codec } from "../types/Codec.js"
import { OutdatedTypeError } from "../types/composite.js"
import { serverError, type Callback, type Request, type SessionError } from "./request.js"
import { changesSession, dropsStatements } from "./sessionChanges.js"
import type { Wire } from "./wire.js"

const B = Reader.Backend

/** The result of one Execute: its rows and command tag. */
export interface ExecuteResult {
  readonly rows: Array<unknown>
  readonly status: string
}

/** The rows of one Execute, which may have stopped at its row limit. */
export interface Batch {
  readonly rows: Array<unknown>
  /** the command tag, or `undefined` when the portal was suspended (more rows remain) */
  readonly status: string | undefined
  /** true when the Execute stopped at its row limit (PortalSuspended) */
  readonly suspended: boolean
}

/** What decoding a column needs of its codec. */
export type ColumnDecoder = Pick<Codec, "name" | "decode">

/** Builds a row from its decoded values (a Record); `undefined`: the values array is the row. */
export type RowFactory = ((values: Array<unknown>) => unknown) | undefined

/** Column names, for error messages. */
export type ColumnNames = ReadonlyArray<{ readonly name: string }>

/** The error of a value that cannot be decoded: DataError, or OutdatedSchemaCacheError for a type that changed. */
export type DecodeError = Errors.DataError | Errors.OutdatedSchemaCacheError

/**
 * Decodes one DataRow body into its values with the statement's codecs.
 * On a decoder failure it returns a DataError naming the row and column
 * (OutdatedSchemaCacheError when a composite value does not have the
 * attributes its codec was built for).
 */
export const decodeRow = (
  buf: Buffer,
  start: number,
  codecs: ReadonlyArray<ColumnDecoder>,
  names: ColumnNames,
  rowIndex: number
): Array<unknown> | DecodeError => {
  const n = buf.readUInt16BE(start)
  const values = new Array<unknown>(n)
  let at = start + 2
  let i = 0
  try {
    for (; i < n; i++) {
      const len = buf.readInt32BE(at)
      at += 4
      if (len < 0) values[i] = null
      else {
        values[i] = codecs[i]!.decode(buf, at, at + len)
        at += len
      }
    }
  } catch (e) {
    const column = names[i]?.name ?? String(i)
    if (e instanceof OutdatedTypeError) {
      return new Errors.OutdatedSchemaCacheError({
        message: `could not decode row ${rowIndex}, column "${column}": ${e.message}; the connection forgot its introspected types and cached statements, run the query again`,
        dataTypeName: e.typeName,
        position: e.position,
        row: rowIndex,
        column
      })
    }
    return new Errors.DataError({
      message: `could not decode row ${rowIndex}, column "${column}" (type ${codecs[i]?.name ?? "?"}): ${e instanceof Error ? e.message : String(e)}`,
      row: rowIndex,
      column
    })
  }
  return values
}

/**
 * A request that collects one {@link Batch} per Execute (CommandComplete,
 * PortalSuspended or EmptyQueryResponse), decoding each DataRow with
 * `codecs` and `make`, and keeps the first error. Command tags go to the
 * session (`lastStatus`, and `stateDirty` for tags that change session
 * state). Other messages go to {@link RowCollector.other}, where a request
 * with more to do (the session's `execute`) takes them.
 */
export class RowCollector implements Request {
  abandoned = false
  onSettled: (() => void) | undefined = undefined
  exclusive = false
  sentAt?: number
  serverMs?: number
  notices?: Array<Errors.PostgresError>
  /** one per Execute, in order */
  readonly results: Array<Batch> = []
  /** the rows of the Execute in progress */
  protected rows: Array<unknown> = []
  /** the first error: the server's or a decoder's (later rows are dropped) */
  error: SessionError | undefined = undefined
  /** a PortalSuspended arrived (an Execute stopped at its row limit) */
  suspended = false
  /** rows are kept as copies of their DataRow bodies, to be decoded once their types are known */
  raw = false

  constructor(
    readonly session: Wire,
    readonly sql: string,
    public codecs: ReadonlyArray<ColumnDecoder>,
    public names: ColumnNames,
    public make: RowFactory,
    readonly skipRows: boolean,
    protected readonly cb: Callback<Array<Batch>>
  ) {}

  handle(type: number, buf: Buffer, start: number, end: number): void {
    if (type === B.DataRow) return this.DataRow(buf, start, end)
    switch (type) {
      case B.CommandComplete:
        return this.CommandComplete(buf, start, end)
      case B.PortalSuspended:
        this.suspended = true
        return this.endBatch(undefined, true)
      case B.EmptyQueryResponse:
        return this.endBatch("", false)
      case B.ErrorResponse:
        this.error ??= serverError(buf, start, end, this.sql)
        return
      default:
        return this.other(type, buf, start, end)
    }
  }

  protected DataRow(buf: Buffer, start: number, end: number): void {
    if (this.skipRows || this.error !== undefined) return
    if (this.raw) {
      this.rows.push(Buffer.from(buf.subarray(start, end)))
      return
    }
    const values = decodeRow(buf, start, this.codecs, this.names, this.rows.length)
    if (!Array.isArray(values)) {
      this.error = values
      // decoded with a stale codec: forget the introspected types (and, in a pool, tell the others)
      if (values._tag === "OutdatedSchemaCacheError") this.session.schemaOutdated(true)
      return
    }
    const make = this.make
    this.rows.push(make === undefined ? values : make(values))
  }

  protected CommandComplete(buf: Buffer, start: number, end: number): void {
    const status = Reader.parseCommandComplete(buf, start, end)
    const session = this.session
    session.lastStatus = status
    if (changesSession(status)) {
      session.stateDirty = true
      if (dropsStatements(status)) session.statementsDropped = true
    }
    this.endBatch(status, false)
  }

  protected endBatch(status: string | undefined, suspended: boolean): void {
    this.results.push({ rows: this.rows, status, suspended })
    this.rows = []
  }

  /** Any other message (ParseComplete, BindComplete, NoData, RowDescription, CopyData...): ignored here. */
  protected other(_type: number, _buf: Buffer, _start: number, _end: number): void {}

  done(): void {
    this.cb(this.error, this.error ? undefined : this.results)
  }

  fail(e: SessionError): void {
    this.cb(this.error ?? e, undefined)
  }
}
