/**
 * Extended-protocol requests beyond the session's own `query`/`execute`:
 * Bind into a named portal and Execute it a batch at a time (cursors),
 * Execute a suspended portal again, Close a portal or a statement, and
 * one-shot Parse/Bind/Execute of SQL whose result columns are already known
 * (`FETCH` from a declared cursor). Plain callbacks, like the session: each
 * function builds one request that ends with exactly one Sync.
 *
 * Internal: not exported by the package.
 */
import { randomBytes } from "node:crypto"
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import type { WireValue } from "../protocol/Writer.js"
import type { Codec } from "../types/Codec.js"
import { errorFromFields, type Callback, type Request, type SessionError } from "./request.js"
import { decodeRow } from "./rows.js"
import type { Session } from "./Session.js"
import type { Statement } from "./statement.js"

const B = Reader.Backend

/** How to turn DataRows into rows: the result codecs and the row factory. */
export interface RowShape {
  readonly codecs: ReadonlyArray<Codec>
  readonly make: ((values: Array<unknown>) => unknown) | undefined
}

/** The rows of one Execute. */
export interface Batch {
  readonly rows: Array<unknown>
  /** the command tag, or `undefined` when the portal was suspended (more rows remain) */
  readonly status: string | undefined
  /** true when the Execute stopped at its row limit (PortalSuspended) */
  readonly suspended: boolean
}

let portalCounter = 0

/**
 * A random part of this process's portal and cursor names (48 bits, base
 * 36): they live inside a transaction, but even so never collide with
 * another process's behind a pooler.
 */
const processNameId = randomBytes(6).readUIntBE(0, 6).toString(36)

/** A fresh portal (or cursor) name, unique across processes; lowercase letters, digits and `_` (a valid SQL identifier). */
export const portalName = (prefix = "__epg_p"): string => `${prefix}${processNameId}_${(++portalCounter).toString(36)}`

/** The shape of a ready statement's rows. */
export const shapeOf = (st: Statement): RowShape => ({ codecs: st.resultCodecs, make: st.make })

/** Server error of an ErrorResponse body. */
const serverError = (buf: Buffer, start: number, end: number, sql: string): Errors.PostgresError =>
  errorFromFields(Reader.parseErrorFields(buf, start, end), sql)

/**
 * A request that collects one {@link Batch} per Execute (CommandComplete,
 * PortalSuspended or EmptyQueryResponse), decoding rows with `shape`.
 */
const collecting = (session: Session, shape: RowShape, sql: string, skipRows: boolean, cb: Callback<Array<Batch>>): Request => {
  const batches: Array<Batch> = []
  let rows: Array<unknown> = []
  let error: SessionError | undefined
  const codecs = shape.codecs
  const make = shape.make
  return {
    abandoned: false,
    onSettled: undefined,
    handle(type, buf, start, end) {
      if (type === B.DataRow) {
        if (skipRows || error !== undefined) return
        const values = decodeRow(buf, start, codecs, [], rows.length)
        if (!Array.isArray(values)) {
          error = values
          return
        }
        rows.push(make === undefined ? values : make(values))
        return
      }
      switch (type) {
        case B.CommandComplete: {
          const status = Reader.parseCommandComplete(buf, start, end)
          session.lastStatus = status
          batches.push({ rows, status, suspended: false })
          rows = []
          return
        }
        case B.PortalSuspended:
          batches.push({ rows, status: undefined, suspended: true })
          rows = []
          return
        case B.EmptyQueryResponse:
          batches.push({ rows, status: "", suspended: false })
          rows = []
          return
        case B.ErrorResponse:
          error ??= serverError(buf, start, end, sql)
          return
        default:
          return // ParseComplete, BindComplete, CloseComplete, NoData, RowDescription
      }
    },
    done() {
      cb(error, error ? undefined : batches)
    },
    fail(e) {
      cb(error ?? e, undefined)
    }
  }
}

/** The one batch of a single-Execute request. */
const single = (cb: Callback<Batch>): Callback<Array<Batch>> => (err, batches) => {
  if (err !== undefined) cb(err, undefined)
  else cb(undefined, batches?.[0] ?? { rows: [], status: "", suspended: false })
}

/**
 * Binds `st` once per argument set into `portal` and executes each with a
 * limit of `maxRows` (0 = all), all before one Sync. The statement is not
 * closed afterwards (prepared statements, cursors).
 */
export const bindExecute = (
  session: Session,
  st: Statement,
  argSets: ReadonlyArray<ReadonlyArray<WireValue>>,
  portal: string,
  maxRows: number,
  skipRows: boolean,
  cb: Callback<Array<Batch>>
): Request => {
  const r = collecting(session, shapeOf(st), st.sql, skipRows, cb)
  if (st.touchesSession) session.stateDirty = true
  const formats = st.paramFormats
  const resultFormats = st.resultFormats
  const name = st.name
  session.sendRequest(r, (w) => {
    for (let i = 0; i < argSets.length; i++) {
      w.bind(portal, name, formats, argSets[i]!, resultFormats).execute(portal, maxRows)
    }
    w.sync()
  })
  return r
}

/** Executes an open (suspended) portal for at most `maxRows` more rows, then Sync. */
export const executePortal = (
  session: Session,
  shape: RowShape,
  sql: string,
  portal: string,
  maxRows: number,
  cb: Callback<Batch>
): Request => {
  const r = collecting(session, shape, sql, false, single(cb))
  session.sendRequest(r, (w) => w.execute(portal, maxRows).sync())
  return r
}

/** Closes a portal ("P") or a statement ("S") on the server, then Sync. */
export const closeObject = (session: Session, kind: "P" | "S", name: string, cb: Callback<void>): Request => {
  const r = collecting(session, { codecs: [], make: undefined }, `Close ${kind} ${name}`, true, (err) => cb(err, undefined))
  session.sendRequest(r, (w) => w.close(kind, name).sync())
  return r
}

/**
 * Parses `sql` as the unnamed statement (with explicit parameter types),
 * binds `values`, executes it whole, then Sync: one round trip for SQL whose
 * result columns are known beforehand (`DECLARE`, `FETCH`, `MOVE`).
 */
export const parseBindExecute = (
  session: Session,
  sql: string,
  paramOids: ReadonlyArray<number>,
  paramFormats: ReadonlyArray<number>,
  values: ReadonlyArray<WireValue>,
  shape: RowShape,
  resultFormats: ReadonlyArray<number>,
  cb: Callback<Batch>
): Request => {
  const r = collecting(session, shape, sql, false, single(cb))
  session.sendRequest(r, (w) => w.parse("", sql, paramOids).bind("", "", paramFormats, values, resultFormats).execute("", 0).sync())
  return r
}
