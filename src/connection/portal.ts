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
import type { WireValue } from "../protocol/Writer.js"
import type { Callback, Request } from "./request.js"
import { RowCollector, type Batch, type ColumnDecoder, type ColumnNames, type RowFactory } from "./rows.js"
import type { Session } from "./Session.js"
import type { Statement } from "./statement.js"
import { noteDriverStatement } from "./unnamed.js"

/** How to turn DataRows into rows: the result codecs, the row factory and the column names (for errors). */
export interface RowShape {
  readonly codecs: ReadonlyArray<ColumnDecoder>
  readonly make: RowFactory
  readonly names?: ColumnNames
}

export type { Batch }

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
export const shapeOf = (st: Statement): RowShape => ({ codecs: st.resultCodecs, make: st.make, names: st.fields })

/** The shared row collector (`rows.ts`) for `shape`. */
const collecting = (session: Session, shape: RowShape, sql: string, skipRows: boolean, cb: Callback<Array<Batch>>): Request =>
  new RowCollector(session, sql, shape.codecs, shape.names ?? [], shape.make, skipRows, cb)

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
  const name = st.name
  // a Bind of a named statement the server lost: the error says what to do behind a pooler
  const done: Callback<Array<Batch>> =
    name === "" ? cb : (err, batches) => cb(err === undefined ? undefined : noteDriverStatement(err, name), batches)
  const r = collecting(session, shapeOf(st), st.sql, skipRows, done)
  if (st.touchesSession) session.stateDirty = true
  const formats = st.paramFormats
  const resultFormats = st.resultFormats
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
