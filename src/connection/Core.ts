/**
 * The narrow contract the public modules share (`Connection`, `Cursor`,
 * `Transaction`, `PreparedStatement`, the pool): a handle on one session
 * with the lease guard, the one place a protocol task becomes an Effect
 * (timeouts, interruption, query loggers, notices), and the basic queries
 * built on it. The rest of the public `Connection` API is layered on top in
 * `Connection.ts`.
 *
 * Internal: not exported by the package.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Errors from "../Errors.js"
import type * as PgRecord from "../Record.js"
import * as Logging from "./logging.js"
import * as Sessions from "../observability/sessions.js"
import * as Spans from "../observability/spans.js"
import type { Lease, QueryError, QueryOptions } from "./query.js"
import type { SessionError } from "./request.js"
import type { ExecuteResult } from "./rows.js"
import * as Rows from "./rowOptions.js"
import type { FetchOptions, FetchvalOptions, RowOf, ValueOf } from "./rowOptions.js"
import { Task, type Session } from "./Session.js"

export type { Lease, LoggedQuery, QueryError, QueryLogger, QueryOptions } from "./query.js"

const noop = (): void => {}

/** How a task started by {@link SessionHandle.run} ends: any query error, or its value. */
export type Done<A> = (error: QueryError | undefined, value: A | undefined) => void

export const toMillis = (d: Duration.Input | undefined): number => (d === undefined ? 0 : Duration.toMillis(d))

/** Node's timers fire at once beyond this (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * A timeout in ms for a timer: 0 for none (unset, 0 or Infinity), or a
 * message saying why the value cannot be a timeout (negative, NaN, beyond
 * what a Node timer can wait, which would fire at once).
 */
export const timeoutMillis = (d: Duration.Input | undefined, what: string): number | string => {
  let ms: number
  // Duration reads a NaN number as 0 ms: a NaN is a mistake, never "no timeout"
  if (typeof d === "number" && Number.isNaN(d)) return `${what} must be a duration of 0 or more (or Infinity for none), got NaN`
  try {
    ms = toMillis(d)
  } catch (e) {
    return `${what} is not a duration (${e instanceof Error ? e.message : String(e)})`
  }
  if (ms === Infinity) return 0
  if (!(ms >= 0)) return `${what} must be a duration of 0 or more (or Infinity for none), got ${String(d)}`
  if (ms > MAX_TIMER_MS) return `${what} of ${ms} ms is longer than a Node timer can wait (about 24.8 days); use Infinity for no timeout`
  return ms
}

/** A per-call timeout already spent (0 or below): the call fails with its timeout error at once. */
export const EXPIRED = -1

/**
 * A per-call `{ timeout }` in ms for a timer: {@link EXPIRED} for 0 or below
 * (as asyncpg, a method call's timeout <= 0 times out at once), 0 for none
 * (Infinity), or a message saying why the value cannot be a timeout (NaN, not
 * a duration, beyond what a Node timer can wait). Options (`commandTimeout`,
 * `acquireTimeout`) keep {@link timeoutMillis}: 0 there means none.
 */
export const callTimeoutMillis = (d: Duration.Input, what: string): number | string => {
  if (typeof d === "number" && d > 0 && d <= MAX_TIMER_MS) return d
  if (typeof d === "number" && Number.isNaN(d)) return `${what} must be a duration (Infinity for none), got NaN`
  let ms: number
  try {
    ms = Duration.toMillis(d)
  } catch (e) {
    return `${what} is not a duration (${e instanceof Error ? e.message : String(e)})`
  }
  if (ms === Infinity) return 0
  if (ms <= 0) return EXPIRED
  if (!(ms > 0)) return `${what} must be a duration (Infinity for none), got ${String(d)}`
  if (ms > MAX_TIMER_MS) return `${what} of ${ms} ms is longer than a Node timer can wait (about 24.8 days); use Infinity for no timeout`
  return ms
}

/** The error of a query whose own timeout was 0 or below: nothing was sent. */
export const expiredError = (sql: string): Errors.CommandTimeoutError =>
  new Errors.CommandTimeoutError({
    message: "the query's timeout was 0 or below, so it timed out before anything was sent (use Infinity for no timeout)",
    timeoutMs: 0,
    query: sql
  })

/** A query's own timeout for `run`: ms (0 for none), the error of a spent one, or why it is not a timeout. */
const callTimeout = (d: Duration.Input, sql: string): number | string | Errors.CommandTimeoutError => {
  const ms = callTimeoutMillis(d, "the query timeout")
  return ms === EXPIRED ? expiredError(sql) : ms
}

const releasedError = () =>
  new Errors.InterfaceError({
    message: "this connection has been released back to the pool; acquire a new one to run more queries"
  })


/**
 * A handle on one session: the guard, the Effect runner and the basic
 * queries. `Row` is what a row is when a call asks for nothing else (a
 * Record, or the connection's `recordClass`).
 */
export class SessionHandle<Row = PgRecord.Record> {
  /** builds the rows of calls that ask for nothing else: the connection's recordClass, if any */
  readonly defaultRows: Rows.RowMapper | undefined
  constructor(
    readonly session: Session,
    readonly commandTimeoutMs: number,
    readonly lease: Lease | undefined = undefined
  ) {
    this.defaultRows = Rows.defaultMapper(session)
  }

  /** Whether this is a pool's view whose lease has ended (the session may be someone else's now). */
  isStale(): boolean {
    return this.lease !== undefined && this.lease.released
  }

  /**
   * Throws the released-connection `InterfaceError` from a synchronous method
   * called on a view whose lease has ended: a listener it added would see the
   * next borrower's notices and queries.
   */
  assertLive(method: string): void {
    if (this.isStale()) {
      throw new Errors.InterfaceError({
        message: `${method}: this connection has been released back to the pool; acquire a new one`
      })
    }
  }

  /** Fails when this view may no longer be used. */
  guard(): SessionError | Errors.InterfaceError | undefined {
    if (this.lease !== undefined && this.lease.released) return releasedError()
    if (this.session.closed) {
      return new Errors.ConnectionDoesNotExistError({ message: "the connection is closed; acquire or open a new one" })
    }
    return undefined
  }

  /**
   * Runs one protocol task as an Effect: interruption or a timeout abandons
   * it (cancel on the server, drain to ReadyForQuery) before the Effect ends.
   */
  run<A>(
    options: QueryOptions | undefined,
    sql: string,
    start: (cb: Done<A>) => Task,
    args?: ReadonlyArray<unknown>,
    log = true
  ): Effect.Effect<A, QueryError> {
    const ct = this.commandTimeoutMs
    // the common case (no per-query timeout, a valid commandTimeout) costs two comparisons
    // a per-call timeout of 0 or below: the CommandTimeoutError at once, nothing sent (asyncpg)
    const timeout = options?.timeout !== undefined
      ? callTimeout(options.timeout, sql)
      : ct >= 0 && ct <= MAX_TIMER_MS
        ? ct
        : timeoutMillis(ct, "commandTimeout")
    const session = this.session
    const meter = Sessions.meterOf(session)
    return Spans.queryCallback<A, QueryError>(session, sql, args, (resume) => {
      const bad = this.guard()
      if (bad !== undefined) {
        resume(Effect.fail(bad))
        return
      }
      if (typeof timeout !== "number") {
        resume(Effect.fail(typeof timeout === "string" ? new Errors.InterfaceError({ message: timeout }) : timeout))
        return
      }
      const timeoutMs = timeout
      // query loggers: one property read when there are none
      const loggers = log ? session.queryLoggers : undefined
      const startedAt = loggers === undefined ? 0 : performance.now()
      let timer: NodeJS.Timeout | undefined
      let task: Task | undefined = undefined
      task = start((err, value) => {
        if (timer !== undefined) clearTimeout(timer)
        if (loggers !== undefined) Logging.logQuery(session, loggers, sql, args, startedAt, err, false)
        if (meter !== undefined) meter.query(task?.request?.sentAt, session.lastProgressAt, err)
        const exit = err !== undefined ? Effect.fail(err) : Effect.succeed(value as A)
        // notices the query caused: logged in this fiber, before it resumes
        const notices = task?.request?.notices
        resume(notices === undefined ? exit : Effect.andThen(Logging.logNotices(notices), exit))
      })
      const started = task
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          timer = undefined
          // a deadline is a deadline: the caller hears now, even when the network is black-holed;
          // the session cancels the query in the background (later writes wait for that, and a
          // cancel that does not land in time destroys the session)
          started.abandon(session, noop)
          const error = new Errors.CommandTimeoutError({
            message: `the query did not finish within ${timeoutMs} ms and was cancelled; raise the timeout or make the query faster`,
            timeoutMs,
            query: sql
          })
          if (loggers !== undefined) Logging.logQuery(session, loggers, sql, args, startedAt, error, false)
          if (meter !== undefined) meter.query(started.request?.sentAt, performance.now(), error)
          resume(Effect.fail(error))
        }, timeoutMs)
      }
      return Effect.sync(() => {
        if (timer !== undefined) clearTimeout(timer)
        started.abandon(session, noop)
        if (loggers !== undefined) Logging.logQuery(session, loggers, sql, args, startedAt, undefined, true)
      })
    })
  }

  execute(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<string, QueryError> {
    if (args === undefined || args.length === 0) {
      return this.run<string>(options, sql, (cb) => {
        const task = new Task()
        task.request = this.session.simpleQuery(sql, cb)
        return task
      })
    }
    return this.run<string>(options, sql, (cb) => this.session.query(sql, args, (err, r) => cb(err, r?.status)), args)
  }

  /**
   * Runs a query and hands its rows, built as `options` say, to `pick`
   * (plain callbacks, one Effect). `firstOnly`: only the first row is built
   * (fetchrow: a schema checks the row it returns, not the ones it drops).
   */
  protected rowsOf<A>(
    sql: string,
    args: ReadonlyArray<unknown> | undefined,
    options: FetchOptions | undefined,
    pick: (rows: Array<unknown>) => A,
    firstOnly = false
  ): Effect.Effect<A, QueryError> {
    const map = Rows.mapperFor(options, this.defaultRows)
    if (map === undefined) {
      return this.run<A>(options, sql, (cb) => this.session.query(sql, args ?? [], (err, r) => cb(err, r === undefined ? undefined : pick(r.rows))), args)
    }
    if (typeof map !== "function") return Effect.fail(map)
    return this.run<A>(
      options,
      sql,
      (cb) =>
        this.session.query(sql, args ?? [], (err, r) => {
          if (err !== undefined || r === undefined) return cb(err, undefined)
          const rows = map(firstOnly && r.rows.length > 1 ? r.rows.slice(0, 1) : r.rows, 0)
          if (Array.isArray(rows)) cb(undefined, pick(rows))
          else cb(rows, undefined)
        }),
      args
    )
  }

  fetch<O extends FetchOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<ReadonlyArray<RowOf<O, Row>>, QueryError> {
    return this.rowsOf(sql, args, options, (rows) => rows as Array<RowOf<O, Row>>)
  }

  fetchrow<O extends FetchOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<RowOf<O, Row> | null, QueryError> {
    return this.rowsOf(sql, args, options, (rows) => (rows[0] as RowOf<O, Row> | undefined) ?? null, true)
  }

  /**
   * The rows of one of the driver's own catalog queries (type lookups), as
   * plain Records: built-in codecs, whatever codecs the user set.
   */
  catalogRows(sql: string, args: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<PgRecord.Record>, QueryError> {
    return this.run<ReadonlyArray<PgRecord.Record>>(
      undefined,
      sql,
      (cb) => this.session.internalQuery(sql, args, (err, r) => cb(err, r === undefined ? undefined : (r.rows as Array<PgRecord.Record>))),
      args
    )
  }

  /** executemany/fetchmany: one Execute per argument set, pipelined before one Sync; rows built as `options` say. */
  protected many(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    skipRows: boolean,
    options: FetchOptions | undefined
  ): Effect.Effect<Array<ExecuteResult>, QueryError> {
    const map = skipRows ? undefined : Rows.mapperFor(options, this.defaultRows)
    if (map !== undefined && typeof map !== "function") return Effect.fail(map)
    let sets: Array<ReadonlyArray<unknown>>
    try {
      sets = Array.from(argsList)
    } catch (e) {
      // a hostile iterable: a typed error, not an exception thrown at the call
      return Effect.fail(
        new Errors.DataError({ message: `the argument sets could not be read (${e instanceof Error ? e.message : "the iterable threw"}); pass an array of argument arrays` })
      )
    }
    return this.run<Array<ExecuteResult>>(options, sql, (cb) => {
      const task = new Task()
      if (sets.length === 0) {
        cb(undefined, [])
        return task
      }
      // encoded as they are written, in chunks (see Session.execute)
      if (map === undefined) return this.session.many(sql, sets, skipRows, cb, task)
      return this.session.many(sql, sets, skipRows, (err, results) => {
        if (err !== undefined || results === undefined) return cb(err, undefined)
        const out = new Array<ExecuteResult>(results.length)
        for (let k = 0; k < results.length; k++) {
          const rows = map(results[k]!.rows, 0)
          if (!Array.isArray(rows)) return cb(Object.assign(rows, { message: `argument set ${k}: ${rows.message}` }), undefined)
          out[k] = { rows, status: results[k]!.status }
        }
        cb(undefined, out)
      }, task)
    }, sets)
  }

  /** Runs a statement once per argument set, pipelined, in one implicit transaction: all or nothing. */
  executemany(sql: string, argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, QueryError> {
    return Effect.asVoid(this.many(sql, argsList, true, options))
  }

  /** Runs a query once per argument set, pipelined, all or nothing; returns the rows of each. */
  fetchmany<O extends FetchOptions = QueryOptions>(
    sql: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: O
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<RowOf<O, Row>>>, QueryError> {
    return Effect.map(this.many(sql, argsList, false, options), (results) => results.map((r) => r.rows as Array<RowOf<O, Row>>))
  }

  fetchval<O extends FetchvalOptions = QueryOptions>(
    sql: string,
    args?: ReadonlyArray<unknown>,
    options?: O
  ): Effect.Effect<ValueOf<O> | null, QueryError> {
    const column = options?.column ?? 0
    return this.run<ValueOf<O> | null>(options, sql, (cb) =>
      this.session.query(sql, args ?? [], (err, r) => {
        if (err !== undefined || r === undefined) return cb(err, undefined)
        // the session's rows are always Records (a recordClass is applied at the API)
        const row = r.rows[0] as PgRecord.Record | undefined
        if (row === undefined) return cb(undefined, null)
        let value: unknown
        try {
          value = row.get(column)
        } catch (e) {
          return cb(new Errors.InterfaceError({ message: `fetchval: ${(e as Error).message}` }), undefined)
        }
        if (options?.schema === undefined) return cb(undefined, value as ValueOf<O>)
        const decoded = Rows.valueFor(options.schema, value, column)
        if (Result.isFailure(decoded)) cb(decoded.failure, undefined)
        else cb(undefined, decoded.success as ValueOf<O>)
      }),
      args
    )
  }
}

/**
 * The session underneath a connection that effect-pg made (the public
 * `Connection` type does not show it).
 */
export const sessionOf = (conn: object): Session => (conn as SessionHandle).session
