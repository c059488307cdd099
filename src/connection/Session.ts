/**
 * One server session: its wire (`wire.ts`) and statement cache
 * (`statements.ts`), plus execution: a query as prepare (or describe) →
 * Bind/Execute per argument set → one Sync, the rows collected and decoded,
 * a lost or outdated statement prepared again. `Connection.ts` wraps it in
 * Effects once per call; the per-row path is a loop over the buffer.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import { Writer, type WireValue } from "../protocol/Writer.js"
import { copyRefused } from "./sqltext.js"
import type { Codec } from "../types/Codec.js"
import * as Unnamed from "./unnamed.js"
import { errorFromFields, type Callback, type Request, type SessionError } from "./request.js"
import { decodeRow, type ExecuteResult } from "./rows.js"
import type { Statement } from "./statement.js"

import { StatementCache } from "./statements.js"
import { B, changesSession, copyBothError, Task, type Progress, type SessionOptions } from "./wire.js"
import * as TxStatus from "./txStatus.js"

export type { SessionOptions }
export { Task, type Progress }

/** How many times a call prepares its statement again when the server lost it (a pooler moved the session). */
const MAX_REPREPARE = 5

/** Argument sets encoded and written per turn by a large executemany. */
const MANY_CHUNK = 1000

/** A statement name nobody prepares: binding it aborts a request on purpose. */
const ABORT_STATEMENT = "__epg_abort__"

/** A named statement the server lost (26000), already has (42P05), or whose plan changed result type (0A000). */
const isStaleStatement = (e: Errors.PostgresError): boolean =>
  e.sqlstate === "26000" ||
  e.sqlstate === "42P05" ||
  (e.sqlstate === "0A000" && /cached plan must not change result type/.test(e.message))

/** One PostgreSQL session. Create with `Startup.connect`. */
export class Session extends StatementCache {
  // -------------------------------------------------------------------------
  // Extended protocol queries
  // -------------------------------------------------------------------------

  /**
   * Runs `sql` with `args` through a prepared statement (or, with the
   * statement cache off, the unnamed statement) and collects rows. The
   * returned task can be abandoned at any phase.
   */
  query(sql: string, args: ReadonlyArray<unknown>, cb: Callback<ExecuteResult>, task: Task = new Task()): Task {
    this.runSql(sql, [args], false, false, (err, results) => cb(err, results === undefined ? undefined : results[0]), task, 0)
    return task
  }

  /**
   * executemany/fetchmany: executes `sql` once per argument set under one
   * Sync (one implicit transaction, all or nothing), encoding the arguments
   * as they are written. `skipRows` drops the rows.
   */
  many(
    sql: string,
    argSets: ReadonlyArray<ReadonlyArray<unknown>>,
    skipRows: boolean,
    cb: Callback<Array<ExecuteResult>>,
    task: Task = new Task()
  ): Task {
    this.runSql(sql, argSets, skipRows, true, cb, task, 0)
    return task
  }

  /**
   * Gets the statement, executes it, and runs the whole call again when the
   * server lost or outdated the statement before running anything (see
   * {@link Session.retryAfter}).
   */
  protected runSql(
    sql: string,
    argSets: ReadonlyArray<ReadonlyArray<unknown>>,
    skipRows: boolean,
    encode: boolean,
    cb: Callback<Array<ExecuteResult>>,
    task: Task,
    attempt: number
  ): void {
    this.statement(sql, (err, st) => {
      if (task.abandoned) return
      if (err !== undefined || st === undefined) {
        cb(err, undefined)
        return
      }
      let sets = argSets as ReadonlyArray<ReadonlyArray<WireValue>>
      if (!encode) {
        const values = this.encodeArgs(st, argSets[0]!)
        if (!Array.isArray(values)) {
          cb(values, undefined)
          return
        }
        sets = [values]
      }
      task.bound = false
      task.request = this.execute(st, sets, skipRows, (err2, results) => {
        if (err2 !== undefined && !task.abandoned && Errors.isPostgresError(err2)) {
          const next = this.retryAfter(st, err2, task.bound, attempt)
          if (next === "again") {
            this.runSql(sql, argSets, skipRows, encode, cb, task, attempt + 1)
            return
          }
          cb(next, undefined)
          return
        }
        cb(err2, results)
      }, encode, task)
    })
  }

  /**
   * After a server error of a call's statement: `"again"` to run the call
   * again (nothing ran: the statement was not found or its description is
   * outdated, and no transaction block was aborted), else the error to
   * report. A named statement the server no longer has (26000; a pooler
   * moved the session to another server connection) is prepared again up
   * to {@link MAX_REPREPARE} times; past that, or inside a transaction, the
   * error says to use `prepare: false`.
   */
  protected retryAfter(st: Statement, err: Errors.PostgresError, bound: boolean, attempt: number): "again" | Errors.PostgresError {
    const idle = this.txStatus === TxStatus.IDLE
    if (st.unnamed) {
      // the SQL was parsed again with the described parameter types and result formats
      // and refused before it ran: the schema changed since it was described
      if (bound || !Unnamed.isOutdatedDescription(err)) return err
      this.evict(st)
      return idle && attempt === 0 ? "again" : err
    }
    if (!st.cached || !isStaleStatement(err)) return err
    this.evict(st)
    if (idle && attempt < MAX_REPREPARE) return "again"
    const lost = err.sqlstate === "26000" || err.sqlstate === "42P05"
    return lost ? Unnamed.poolerHint(err, idle ? attempt + 1 : undefined) : err
  }

  /**
   * Binds and executes a ready statement once per argument set, all before
   * one Sync: one implicit transaction, all or nothing. `skipRows` drops the
   * rows of each execution. A description of the unnamed statement is
   * parsed again first, and its portal described, in the same unit: the rows
   * are decoded by the types the server reports for this very execution.
   */
  execute(
    st: Statement,
    argSets: ReadonlyArray<ReadonlyArray<WireValue>>,
    skipRows: boolean,
    cb: Callback<Array<ExecuteResult>>,
    encode = false,
    progress?: Progress
  ): Request {
    const results: Array<ExecuteResult> = []
    let rows: Array<unknown> = []
    let error: SessionError | undefined
    /** an argument set that could not be encoded: reported instead of the abort it caused */
    let encodeError: SessionError | undefined
    let codecs: ReadonlyArray<Codec> = st.resultCodecs
    let make = st.make
    let fields: ReadonlyArray<Reader.FieldDescription> = st.fields
    /** unnamed: the portal's columns need types not introspected yet; rows are kept raw until they are */
    let rawFields: Array<Reader.FieldDescription> | undefined
    const unnamed = st.unnamed
    const self = this
    this.queryCount++
    if (st.touchesSession) this.stateDirty = true
    const r: Request = {
      abandoned: false,
      onSettled: undefined,
      handle(type, buf, start, end) {
        if (type === B.DataRow) {
          if (skipRows || error !== undefined) return
          if (rawFields !== undefined) {
            rows.push(Buffer.from(buf.subarray(start, end)))
            return
          }
          const values = decodeRow(buf, start, codecs, fields, rows.length)
          if (!Array.isArray(values)) {
            error = values
            return
          }
          rows.push(make!(values))
          return
        }
        switch (type) {
          case B.CommandComplete: {
            const status = Reader.parseCommandComplete(buf, start, end)
            self.lastStatus = status
            if (changesSession(status)) self.stateDirty = true
            results.push({ rows, status })
            rows = []
            return
          }
          case B.EmptyQueryResponse:
            results.push({ rows, status: "" })
            rows = []
            return
          case B.ErrorResponse:
            error ??= errorFromFields(Reader.parseErrorFields(buf, start, end), st.sql)
            return
          case B.BindComplete:
            if (progress !== undefined) progress.bound = true
            return
          case B.RowDescription: {
            // only unnamed executions describe their portal
            if (!unnamed || Unnamed.sameRowDescription(st, buf, start, end)) return
            const fresh = Reader.parseRowDescription(buf, start, end)
            const plan = Unnamed.planFor(self.registry, self.settings.recordFactory, st, fresh)
            // the schema changed since it was described: describe it again next time
            if (plan !== "same") self.evict(st)
            if (plan === "same") st.portalRowDescription = Buffer.from(buf.subarray(start, end))
            else if (plan === "introspect") rawFields = fresh
            else if (plan instanceof Errors.DataError) error ??= plan
            else {
              codecs = plan.codecs
              make = plan.make
              fields = fresh
            }
            return
          }
          case B.CopyInResponse: {
            // COPY FROM STDIN through a query method (the up-front check in prepare() makes this
            // rare). The server ignored our Sync: CopyFail and a new Sync end it, unless more of
            // this request (another Bind, a Close) is already on the wire.
            error ??= copyRefused("stdin")
            self.refuseCopyIn(r, true, results.length < argSets.length - 1 || closeAfter)
            return
          }
          case B.CopyOutResponse:
            // COPY TO STDOUT: the CopyData that follows is ignored, then CommandComplete; the call fails
            error ??= copyRefused("stdout")
            return
          case B.CopyBothResponse:
            self.destroy(copyBothError())
            return
          default:
            return // ParseComplete, CloseComplete, PortalSuspended, NoData, CopyData, CopyDone
        }
      },
      exclusive: encode && argSets.length > MANY_CHUNK,
      done() {
        const ms = r.serverMs
        if (ms !== undefined && argSets.length === 1) st.serverMs = st.serverMs === undefined ? ms : st.serverMs * 0.8 + ms * 0.2
        if (encodeError !== undefined) error = encodeError
        if (error === undefined && results.length !== argSets.length) {
          // ReadyForQuery before every Execute finished: the stream is out of step
          error = new Errors.ProtocolError({
            message: `the server ended a request after ${results.length} of ${argSets.length} results; the connection is out of step with the server and was closed`
          })
          self.destroy(error)
        }
        if (error === undefined && rawFields !== undefined) {
          self.decodeLater(st, rawFields, results, cb)
          return
        }
        cb(error, error ? undefined : results)
      },
      fail(e) {
        cb(encodeError ?? error ?? e, undefined)
      }
    }
    const formats = st.paramFormats
    const resultFormats = st.resultFormats
    const name = st.name
    const closeAfter = !st.cached && !unnamed
    const finish = (w: Writer) => {
      if (closeAfter) w.close("S", name)
      w.sync()
    }
    // unnamed: Parse first, with the described parameter types; Describe the first portal
    let parsed = !unnamed
    const bind = (w: Writer, values: ReadonlyArray<WireValue>) => {
      if (parsed) {
        w.bind("", name, formats, values, resultFormats).execute("", 0)
        return
      }
      parsed = true
      w.parse("", st.sql, st.paramOids).bind("", "", formats, values, resultFormats).describe("P", "").execute("", 0)
    }
    if (!encode) {
      this.send(r, (w) => {
        for (let i = 0; i < argSets.length; i++) bind(w, argSets[i]!)
        finish(w)
      })
      return r
    }
    // Encode and write in chunks, so the server executes the first rows while
    // later ones are still being encoded. Other requests wait (exclusive) so
    // nothing lands inside this one's implicit transaction.
    let next = 0
    const writeChunk = (w: Writer): boolean => {
      const end = Math.min(next + MANY_CHUNK, argSets.length)
      for (; next < end; next++) {
        const values = self.encodeArgs(st, argSets[next]!)
        if (!Array.isArray(values)) {
          encodeError =
            values._tag === "DataError" || values._tag === "InterfaceError"
              ? Object.assign(values, { message: `argument set ${next}: ${values.message}`, row: next })
              : values
          // rows already sent must not commit: a Bind of a statement that does not
          // exist fails the implicit transaction, and the Sync rolls it back
          w.bind("", ABORT_STATEMENT, [], [], [])
          finish(w)
          return true
        }
        bind(w, values)
      }
      if (next < argSets.length) return false
      finish(w)
      return true
    }
    const more = (): void => {
      if (self.closed) return
      let finished = false
      if (r.abandoned) {
        self.writeExclusive(finish)
        return
      }
      self.writeExclusive((w) => {
        finished = writeChunk(w)
      })
      if (!finished) self.onDrain(() => setImmediate(more))
    }
    this.send(r, (w) => {
      if (!writeChunk(w)) setImmediate(more)
    })
    return r
  }

  /**
   * The rows of an unnamed execution whose columns have types not
   * introspected yet: introspect them, then decode the raw rows.
   */
  protected decodeLater(
    st: Statement,
    fresh: ReadonlyArray<Reader.FieldDescription>,
    results: Array<ExecuteResult>,
    cb: Callback<Array<ExecuteResult>>
  ): void {
    const unknown = [...new Set(fresh.map((f) => f.typeOid).filter((oid) => this.registry.needsIntrospection(oid)))]
    this.introspect(unknown, (err) => {
      if (err !== undefined) return cb(err, undefined)
      const plan = Unnamed.planFor(this.registry, this.settings.recordFactory, st, fresh)
      if (plan === "introspect") return cb(Unnamed.undecodable(st, fresh, "its types could not be introspected"), undefined)
      if (plan instanceof Errors.DataError) return cb(plan, undefined)
      const codecs = plan === "same" ? st.resultCodecs : plan.codecs
      const make = plan === "same" ? st.make! : plan.make!
      const out: Array<ExecuteResult> = []
      for (const res of results) {
        const rows = new Array<unknown>(res.rows.length)
        for (let i = 0; i < rows.length; i++) {
          const values = decodeRow(res.rows[i] as Buffer, 0, codecs, fresh, i)
          if (!Array.isArray(values)) return cb(values, undefined)
          rows[i] = make(values)
        }
        out.push({ rows, status: res.status })
      }
      cb(undefined, out)
    })
  }



  /** Sends a request built by another module (COPY, cursors). */
  sendRequest(r: Request, write: (w: Writer) => void, lazy = false): void {
    this.send(r, write, lazy)
  }
}
