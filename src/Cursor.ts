/**
 * Cursors: read a large result a batch at a time.
 *
 * - {@link stream} (`conn.cursor(sql, args, { prefetch })`): a `Stream` of
 *   rows backed by a server portal. Each pull sends one `Execute(portal,
 *   prefetch)` + Sync, so rows are fetched as the consumer consumes them and
 *   memory stays flat whatever the result size.
 * - {@link manual} (`conn.cursorManual(sql, args)`): a scrollable SQL cursor
 *   (`DECLARE ... SCROLL CURSOR`) with `fetch(n)`, `fetchrow()`,
 *   `forward(n)`, `backward(n)`, closed with its scope.
 *
 * A portal or cursor only outlives the request that opened it inside a
 * transaction block (every request here ends with its own Sync). asyncpg
 * requires the caller to open one; effect-pg opens one when the connection
 * is not in a transaction already, and other queries run on the same
 * connection meanwhile run inside it. Cursors open at the same time (two
 * streams merged, a stream read while a `cursorManual` is open) share that
 * one implicit transaction:
 *
 * - the first cursor sends BEGIN, the others join it;
 * - a cursor read to the end, stopped early by its consumer (`Stream.take`)
 *   or interrupted leaves it, its portal closed, while others remain;
 * - a cursor that fails (the server's error, a row that does not decode,
 *   its consumer's failure) rolls it back at once: the other cursors fail on
 *   their next batch with the server's `InFailedSQLTransactionError` or an
 *   `InterfaceError`, never read on in a transaction that cannot commit;
 * - the last cursor out commits it when it ended with success, and rolls it
 *   back when it failed or was interrupted. A stream read to the end commits
 *   as its last pull, so a failed COMMIT (a deferred constraint of a query run
 *   meanwhile, a lost connection) is the stream's error; a stream stopped
 *   early and a `cursorManual` commit when their scope closes, where a failed
 *   COMMIT is a defect (a finalizer cannot fail).
 *
 * To decide commit or rollback yourself, open the transaction around the
 * cursors (`conn.transaction(...)`): inside a transaction of yours, a portal
 * or cursor is closed when its stream ends or its scope closes, and the
 * transaction is left alone.
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { SessionHandle } from "./connection/Core.js"
import type { QueryError, QueryOptions } from "./connection/query.js"
import { invalidRowCount } from "./connection/rowCount.js"
import * as Rows from "./connection/rowOptions.js"
import * as Implicit from "./connection/cursorTransaction.js"
import * as Errors from "./Errors.js"
import * as Portal from "./connection/portal.js"
import { Task } from "./connection/Session.js"
import type { Statement } from "./connection/statement.js"
import * as Stmt from "./connection/prepare.js"
import type * as PgRecord from "./Record.js"

/** Options of a cursor stream: a timeout, how rows are built (`recordClass`, `schema`) and the batch size. */
export interface CursorOptions extends Rows.FetchOptions {
  /** rows fetched per round trip (default 50, as asyncpg) */
  readonly prefetch?: number | undefined
}

/** @since 0.1.0 */
export const TypeId: unique symbol = Symbol.for("effect-pg/Cursor")

/** A scrollable server-side cursor (`DECLARE ... SCROLL CURSOR`), open for its scope. */
export interface Cursor<R = PgRecord.Record> {
  readonly [TypeId]: typeof TypeId
  /** the SQL cursor's name */
  readonly name: string
  /** The next `n` rows (fewer at the end). */
  fetch(n: number, options?: QueryOptions): Effect.Effect<ReadonlyArray<R>, QueryError>
  /** The next row, or null at the end. */
  fetchrow(options?: QueryOptions): Effect.Effect<R | null, QueryError>
  /** Skips `n` rows forward; returns how many were skipped. */
  forward(n: number, options?: QueryOptions): Effect.Effect<number, QueryError>
  /** Moves `n` rows backward; returns how many it moved. */
  backward(n: number, options?: QueryOptions): Effect.Effect<number, QueryError>
}


/**
 * The cursor's place in the implicit transaction of the cursors open
 * outside a transaction (none inside a transaction of the caller's), for
 * the caller's scope.
 */
const implicitTransaction = (conn: SessionHandle): Effect.Effect<Implicit.Member | undefined, QueryError, Scope.Scope> =>
  Effect.acquireRelease(Implicit.join(conn), Implicit.release)

/** The rows of a batch as the caller asked for them (`map` numbers them from `first`). */
const built = (rows: Array<unknown>, map: Rows.RowMapper | undefined, first: number): Effect.Effect<Array<unknown>, QueryError> => {
  if (map === undefined) return Effect.succeed(rows)
  const out = map(rows, first)
  return Array.isArray(out) ? Effect.succeed(out) : Effect.fail(out)
}

/** The row mapper of a call, or the InterfaceError of options that cannot work. */
const mapperOf = (options: Rows.RowOptions | undefined, fallback: Rows.RowMapper | undefined): Effect.Effect<Rows.RowMapper | undefined, QueryError> => {
  const map = Rows.mapperFor(options, fallback)
  return map === undefined || typeof map === "function" ? Effect.succeed(map) : Effect.fail(map)
}

/**
 * Rows of `sql` (or of a prepared statement) as a stream, `prefetch` rows
 * per round trip, through a named portal. Stopping the stream early closes
 * the portal. Rows are built as `options` say (else as the prepared
 * statement's, else the connection's, rows are); a row that does not match
 * a `schema` ends the stream with RowDecodeError, numbered from the
 * stream's first row.
 *
 * @internal
 */
export const stream = <R>(
  conn: SessionHandle<unknown>,
  sql: string,
  args: ReadonlyArray<unknown> | undefined,
  options: CursorOptions | undefined,
  prepared?: { readonly st: Statement; readonly rows: Rows.RowMapper | undefined }
): Stream.Stream<R, QueryError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const map = yield* mapperOf(options, prepared === undefined ? conn.defaultRows : prepared.rows)
      const prefetch = options?.prefetch ?? 50
      const badCount = invalidRowCount("cursor prefetch", prefetch)
      if (badCount !== undefined) return yield* Effect.fail(badCount)
      const bad = conn.guard()
      if (bad !== undefined) return yield* Effect.fail(bad)
      const session = conn.session
      const member = yield* implicitTransaction(conn)
      // a statement of its own: closing a statement closes its portals, and a cached one may be evicted mid-stream
      const st =
        prepared?.st ??
        (yield* Effect.acquireRelease(Stmt.prepare(conn, sql, options, true), (st) =>
          Effect.sync(() => Stmt.closeStatement(session, st))
        ))
      const values = yield* Stmt.encode(session, st, args)
      const portal = Portal.portalName()
      const shape = Portal.shapeOf(st)
      let bound = false
      let done = false
      let seen = 0
      yield* Effect.addFinalizer(() => {
        // holds the prepared statement until the stream ends: never collected (and closed) meanwhile
        void prepared
        // the portal ends with the transaction when this cursor is the last in its implicit one
        return bound && !session.closed && (member === undefined || (!member.left && !member.alone))
          ? Effect.ignore(
            conn.run<void>(undefined, st.sql, (cb) => {
              const task = new Task()
              task.request = Portal.closeObject(session, "P", portal, cb)
              return task
            }, undefined, false)
          )
          : Effect.void
      })
      // read to the end, last in its implicit transaction: commit here, a failed COMMIT is the stream's error
      const finish = Effect.suspend(() =>
        member !== undefined && member.alone ? Effect.andThen(Implicit.leave(member, Exit.void), Cause.done()) : Cause.done()
      )
      const pull: Effect.Effect<Arr.NonEmptyReadonlyArray<R>, QueryError | Cause.Done> = Effect.suspend(() => {
        if (done) return finish
        const aborted = Implicit.abortedError(member)
        if (aborted !== undefined) return Effect.fail(aborted)
        const first = !bound
        return Effect.flatMap(
          conn.run<Portal.Batch>(
            options,
            st.sql,
            (cb) => {
              const task = new Task()
              bound = true
              task.request = first
                ? Portal.bindExecute(session, st, [values], portal, prefetch, false, (err, batches) =>
                  cb(err, batches?.[0] ?? { rows: [], status: "", suspended: false })
                )
                : Portal.executePortal(session, shape, st.sql, portal, prefetch, cb)
              return task
            },
            args
          ),
          (batch): Effect.Effect<Arr.NonEmptyReadonlyArray<R>, QueryError | Cause.Done> => {
            if (!batch.suspended) done = true
            if (batch.rows.length === 0) return finish
            const first = seen
            seen += batch.rows.length
            return built(batch.rows, map, first) as unknown as Effect.Effect<Arr.NonEmptyReadonlyArray<R>, QueryError>
          }
        )
      })
      return Stream.fromPull(Effect.succeed(pull))
    })
  )

class CursorImpl<R> implements Cursor<R> {
  readonly [TypeId]: typeof TypeId = TypeId
  closed = false
  constructor(
    readonly conn: SessionHandle<unknown>,
    readonly name: string,
    readonly shape: Portal.RowShape,
    readonly resultFormats: ReadonlyArray<number>,
    /** builds the rows (recordClass or schema of the cursor, else the connection's) */
    readonly rows: Rows.RowMapper | undefined,
    /** its place in the implicit transaction of cursors opened outside one */
    readonly member: Implicit.Member | undefined
  ) {}

  private command(sql: string, options: QueryOptions | undefined): Effect.Effect<Portal.Batch, QueryError> {
    if (this.closed) {
      return Effect.fail(
        new Errors.InterfaceError({ message: `cursor ${this.name} is closed (its scope ended); open a new one` })
      )
    }
    const aborted = Implicit.abortedError(this.member)
    if (aborted !== undefined) return Effect.fail(aborted)
    const session = this.conn.session
    return this.conn.run<Portal.Batch>(options, sql, (cb) => {
      const task = new Task()
      task.request = Portal.parseBindExecute(session, sql, [], [], [], this.shape, this.resultFormats, cb)
      return task
    }, [])
  }

  fetch(n: number, options?: QueryOptions): Effect.Effect<ReadonlyArray<R>, QueryError> {
    const bad = invalidRowCount("cursor fetch", n)
    if (bad !== undefined) return Effect.fail(bad)
    return Effect.flatMap(this.command(`FETCH FORWARD ${n} FROM ${this.name}`, options), (b) => built(b.rows, this.rows, 0)) as Effect.Effect<
      ReadonlyArray<R>,
      QueryError
    >
  }

  fetchrow(options?: QueryOptions): Effect.Effect<R | null, QueryError> {
    return Effect.flatMap(this.command(`FETCH NEXT FROM ${this.name}`, options), (b) =>
      Effect.map(built(b.rows, this.rows, 0), (rows) => (rows[0] as R | undefined) ?? null)
    )
  }

  forward(n: number, options?: QueryOptions): Effect.Effect<number, QueryError> {
    const bad = invalidRowCount("cursor forward", n)
    if (bad !== undefined) return Effect.fail(bad)
    return Effect.map(this.command(`MOVE FORWARD ${n} IN ${this.name}`, options), moved)
  }

  backward(n: number, options?: QueryOptions): Effect.Effect<number, QueryError> {
    const bad = invalidRowCount("cursor backward", n)
    if (bad !== undefined) return Effect.fail(bad)
    return Effect.map(this.command(`MOVE BACKWARD ${n} IN ${this.name}`, options), moved)
  }
}

/** "MOVE 5" → 5. */
const moved = (b: Portal.Batch): number => Number(/(\d+)$/.exec(b.status ?? "")?.[1] ?? 0)

/**
 * Declares a scrollable cursor over `sql` with `args`, closed when the
 * scope closes.
 *
 * @internal
 */
export const manual = <R>(
  conn: SessionHandle<unknown>,
  sql: string,
  args: ReadonlyArray<unknown> | undefined,
  options?: Rows.FetchOptions
): Effect.Effect<Cursor<R>, QueryError, Scope.Scope> =>
  Effect.gen(function* () {
    const map = yield* mapperOf(options, conn.defaultRows)
    const bad = conn.guard()
    if (bad !== undefined) return yield* Effect.fail(bad)
    const session = conn.session
    const member = yield* implicitTransaction(conn)
    // the cached statement gives the parameter and result codecs; the cursor has its own plan
    const st = yield* Stmt.prepare(conn, sql, options, false)
    const values = yield* Stmt.encode(session, st, args)
    const name = Portal.portalName("__epg_cursor_")
    const declare = `DECLARE ${name} SCROLL CURSOR FOR ${sql}`
    const cursor = yield* Effect.acquireRelease(
      Effect.as(
        conn.run<Portal.Batch>(options, declare, (cb) => {
          const task = new Task()
          task.request = Portal.parseBindExecute(session, declare, st.paramOids, st.paramFormats, values, Portal.shapeOf(st), [], cb)
          return task
        }, args ?? []),
        new CursorImpl<R>(conn, name, Portal.shapeOf(st), st.resultFormats, map, member)
      ),
      (c) => {
        c.closed = true
        // the cursor ends with the transaction when it is the last in its implicit one
        return session.closed || (member !== undefined && member.alone) ? Effect.void : Effect.ignore(conn.execute(`CLOSE ${name}`))
      }
    )
    return cursor
  })
