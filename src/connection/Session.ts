/**
 * One server session: its wire (`wire.ts`) and statement cache
 * (`statements.ts`), plus execution: a query as prepare (or describe) →
 * Bind/Execute per argument set → one Sync, the rows collected by the
 * shared row collector (`rows.ts`) and decoded, a lost or outdated
 * statement prepared again; and the simple protocol (`simpleQuery.ts`). `Connection.ts` wraps it in
 * Effects once per call; the per-row path is a loop over the buffer.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import { Writer, type WireValue } from "../protocol/Writer.js"
import { copyBothError, refuseCopyIn } from "./copyRefusal.js"
import type { Callback, Request, SessionError } from "./request.js"
import { decodeRow, RowCollector, type Batch, type ExecuteResult } from "./rows.js"
import { simpleQuery } from "./simpleQuery.js"
import { copyRefused } from "./sqltext.js"
import type { Statement } from "./statement.js"
import type { TypeRegistry } from "../types/Registry.js"
import { StatementCache } from "./statements.js"
import { Task, type Progress } from "./task.js"
import * as TxStatus from "./txStatus.js"
import * as Unnamed from "./unnamed.js"
import type { SessionOptions } from "./wire.js"

export type { SessionOptions }
export { Task, type Progress }

const B = Reader.Backend

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

/** A cached plan that changed result type (0A000 from the server's plan revalidation: ALTER TABLE, search_path). */
const isChangedPlan = (e: Errors.PostgresError): boolean => e.sqlstate === "0A000" && /cached plan must not change result type/.test(e.message)

/**
 * An error at Bind that a parameter encoded with an outdated codec explains:
 * a composite with other attributes than the server's (42804, record_recv's
 * "wrong number of columns" / "wrong data type"), or a type OID that no
 * longer exists (XX000 "cache lookup failed for type": dropped and created
 * again; internal messages are never translated).
 */
const isStaleParamType = (e: Errors.PostgresError): boolean =>
  e.sqlstate === "42804" || (e.sqlstate === "XX000" && /cache lookup failed for type/.test(e.message))

/** Whether a statement has a parameter whose codec was built from introspected catalog rows. */
const hasIntrospectedParam = (st: Statement, current: TypeRegistry): boolean => {
  const registry = st.registry ?? current
  return st.paramOids.some((oid) => registry.isIntrospected(oid))
}

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
   * Runs one of the driver's own queries (introspection, catalog lookups)
   * like `query`, but with the built-in codecs and plain Records: a codec
   * the user set never changes what the driver sends or reads.
   */
  internalQuery(sql: string, args: ReadonlyArray<unknown>, cb: Callback<ExecuteResult>, task: Task = new Task()): Task {
    this.runSql(sql, [args], false, false, (err, results) => cb(err, results === undefined ? undefined : results[0]), task, 0, true)
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
    attempt: number,
    builtin = false
  ): void {
    const got: Callback<Statement> = (err, st) => {
      if (task.abandoned) return
      if (err !== undefined || st === undefined) {
        cb(err, undefined)
        return
      }
      let sets = argSets as ReadonlyArray<ReadonlyArray<WireValue>>
      if (!encode) {
        const values = this.encodeArgs(st, argSets[0]!)
        if (!Array.isArray(values)) {
          // refused by a codec built before the type changed? then forget the types and run again
          this.encodeFailed(st, values, attempt, (again) =>
            again ? this.runSql(sql, argSets, skipRows, encode, cb, task, attempt + 1, builtin) : cb(values, undefined)
          )
          return
        }
        sets = [values]
      }
      task.bound = false
      task.request = this.execute(st, sets, skipRows, (err2, results) => {
        if (err2 !== undefined && !task.abandoned && Errors.isPostgresError(err2)) {
          const next = this.retryAfter(st, err2, task.bound, attempt)
          if (next === "again") {
            this.runSql(sql, argSets, skipRows, encode, cb, task, attempt + 1, builtin)
            return
          }
          cb(next, undefined)
          return
        }
        cb(err2, results)
      }, encode, task)
    }
    if (builtin) this.builtinStatement(sql, got)
    else this.statement(sql, got)
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
    if (!bound && !st.builtin && isStaleParamType(err) && hasIntrospectedParam(st, this.registry)) {
      // a parameter encoded by a codec of a type that changed since: forget the types (the pool's too);
      // inside a transaction block the error aborted it, the next call after it works
      this.schemaOutdated(true)
      return idle && attempt === 0 ? "again" : err
    }
    if (st.unnamed) {
      // the SQL was parsed again with the described parameter types and result formats
      // and refused before it ran: the schema changed since it was described
      if (bound || !Unnamed.isOutdatedDescription(err)) return err
      this.evict(st)
      return idle && attempt === 0 ? "again" : err
    }
    if (st.cached && err.sqlstate === "22P07") {
      // the server's plan holds a row constant of a type altered since (ALTER TYPE ... ALTER ATTRIBUTE):
      // the statement fails until it is prepared again. It ran (and failed): report it once, forget
      this.schemaOutdated(true)
      return err
    }
    if (!st.cached || !isStaleStatement(err)) return err
    // a plan that changed result type: the pool's other sessions have it too (asyncpg drops them all)
    if (isChangedPlan(err)) this.schemaOutdated(false)
    else this.evict(st)
    if (idle && attempt < MAX_REPREPARE) return "again"
    const lost = err.sqlstate === "26000" || err.sqlstate === "42P05"
    return lost ? Unnamed.poolerHint(err, idle ? attempt + 1 : undefined) : err
  }

  /**
   * After an argument the statement's codecs refused (before anything was
   * sent): `done(true)` when a parameter's type was introspected and the
   * catalog now describes it otherwise (ALTER TYPE since), having forgotten
   * the introspected types: the call runs again with codecs built afresh.
   * Else `done(false)`: the error is the caller's. One catalog query, on
   * this error path only.
   */
  protected encodeFailed(st: Statement, error: SessionError, attempt: number, done: (again: boolean) => void): void {
    const oids = error._tag === "DataError" && attempt === 0 && !st.builtin ? st.paramOids.filter((oid) => this.registry.isIntrospected(oid)) : []
    if (oids.length === 0) return done(false)
    this.typesCurrent(oids, (current) => {
      if (current) return done(false)
      this.schemaOutdated(true)
      done(true)
    })
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
    const unnamed = st.unnamed
    const closeAfter = !st.cached && !unnamed
    const r = new ExecuteRequest(this, st, argSets.length, skipRows, closeAfter, progress, cb)
    r.exclusive = encode && argSets.length > MANY_CHUNK
    this.queryCount++
    if (st.touchesSession) this.stateDirty = true
    const self = this
    const formats = st.paramFormats
    const resultFormats = st.resultFormats
    const name = st.name
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
          r.encodeError =
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

  /** Runs `sql` over the simple protocol (scripts); `cb` gets the last command tag. */
  simpleQuery(sql: string, cb: Callback<string>, lazy = false): Request {
    return simpleQuery(this, sql, cb, lazy)
  }

  /** Sends a request built by another module (COPY, cursors). */
  sendRequest(r: Request, write: (w: Writer) => void, lazy = false): void {
    this.send(r, write, lazy)
  }
}

/**
 * The request of one `Session.execute`: the shared row collector, plus what
 * executing a statement adds. BindComplete marks the call's progress; an
 * unnamed execution's portal RowDescription may change the codecs (or keep
 * the rows raw until new types are introspected); a COPY the statement
 * started is refused; at ReadyForQuery every Execute must have ended.
 */
class ExecuteRequest extends RowCollector {
  /** an argument set that could not be encoded: reported instead of the abort it caused */
  encodeError: SessionError | undefined = undefined
  /** unnamed: the portal's columns, when their types need introspection first (rows kept raw) */
  private rawFields: Array<Reader.FieldDescription> | undefined = undefined

  constructor(
    override readonly session: Session,
    readonly st: Statement,
    /** Executes written: one result each */
    readonly expected: number,
    skipRows: boolean,
    /** a Close of the statement follows the Executes */
    readonly closeAfter: boolean,
    readonly progress: Progress | undefined,
    private readonly onResults: Callback<Array<ExecuteResult>>
  ) {
    // every result is a CommandComplete's or EmptyQueryResponse's (checked in `done`): an ExecuteResult
    super(session, st.sql, st.resultCodecs, st.fields, st.make, skipRows, onResults as Callback<Array<Batch>>)
  }

  protected override other(type: number, buf: Buffer, start: number, end: number): void {
    switch (type) {
      case B.BindComplete:
        if (this.progress !== undefined) this.progress.bound = true
        return
      case B.RowDescription:
        // only unnamed executions describe their portal
        if (this.st.unnamed && !Unnamed.sameRowDescription(this.st, buf, start, end)) this.RowDescription(buf, start, end)
        return
      case B.CopyInResponse:
        // COPY FROM STDIN through a query method (the up-front check in prepare() makes this
        // rare). The server ignored our Sync: CopyFail and a new Sync end it, unless more of
        // this request (another Bind, a Close) is already on the wire.
        this.error ??= copyRefused("stdin")
        refuseCopyIn(this.session, this, true, this.results.length < this.expected - 1 || this.closeAfter)
        return
      case B.CopyOutResponse:
        // COPY TO STDOUT: the CopyData that follows is ignored, then CommandComplete; the call fails
        this.error ??= copyRefused("stdout")
        return
      case B.CopyBothResponse:
        this.session.destroy(copyBothError())
        return
      default:
        return // ParseComplete, CloseComplete, NoData, CopyData, CopyDone
    }
  }

  /** The unnamed portal's columns differ from the description: decode by the ones the server reports. */
  private RowDescription(buf: Buffer, start: number, end: number): void {
    const st = this.st
    const session = this.session
    const fresh = Reader.parseRowDescription(buf, start, end)
    const plan = Unnamed.planFor(session.registryOf(st), st.builtin ? undefined : session.settings.recordFactory, st, fresh)
    // the schema changed since it was described: describe it again next time
    if (plan !== "same") session.evict(st)
    if (plan === "same") st.portalRowDescription = Buffer.from(buf.subarray(start, end))
    else if (plan === "introspect") {
      this.rawFields = fresh
      this.raw = true
    } else if (plan instanceof Errors.DataError) this.error ??= plan
    else {
      this.codecs = plan.codecs
      this.make = plan.make
      this.names = fresh
    }
  }

  override done(): void {
    const st = this.st
    const ms = this.serverMs
    if (ms !== undefined && this.expected === 1) st.serverMs = st.serverMs === undefined ? ms : st.serverMs * 0.8 + ms * 0.2
    if (this.encodeError !== undefined) this.error = this.encodeError
    if (this.error === undefined && (this.results.length !== this.expected || this.suspended)) {
      // ReadyForQuery before every Execute finished (or one stopped at a row limit it was not given):
      // the stream is out of step
      this.error = new Errors.ProtocolError({
        message: `the server ended a request after ${this.results.length} of ${this.expected} results; the connection is out of step with the server and was closed`
      })
      this.session.destroy(this.error)
    }
    if (this.error === undefined && this.rawFields !== undefined) {
      this.decodeLater(this.rawFields)
      return
    }
    super.done()
  }

  override fail(e: SessionError): void {
    this.onResults(this.encodeError ?? this.error ?? e, undefined)
  }

  /**
   * The rows of an unnamed execution whose columns have types not
   * introspected yet: introspect them, then decode the raw rows.
   */
  private decodeLater(fresh: ReadonlyArray<Reader.FieldDescription>): void {
    const { session, st, onResults: cb } = this
    const unknown = [...new Set(fresh.map((f) => f.typeOid).filter((oid) => session.registry.needsIntrospection(oid)))]
    session.introspect(unknown, (err) => {
      if (err !== undefined) return cb(err, undefined)
      const plan = Unnamed.planFor(session.registryOf(st), st.builtin ? undefined : session.settings.recordFactory, st, fresh)
      if (plan === "introspect") return cb(Unnamed.undecodable(st, fresh, "its types could not be introspected"), undefined)
      if (plan instanceof Errors.DataError) return cb(plan, undefined)
      const codecs = plan === "same" ? st.resultCodecs : plan.codecs
      const make = plan === "same" ? st.make! : plan.make!
      const out: Array<ExecuteResult> = []
      for (const res of this.results) {
        const rows = new Array<unknown>(res.rows.length)
        for (let i = 0; i < rows.length; i++) {
          const values = decodeRow(res.rows[i] as Buffer, 0, codecs, fresh, i)
          if (!Array.isArray(values)) {
            if (values._tag === "OutdatedSchemaCacheError") session.schemaOutdated(true)
            return cb(values, undefined)
          }
          rows[i] = make(values)
        }
        out.push({ rows, status: res.status! })
      }
      cb(undefined, out)
    })
  }
}
