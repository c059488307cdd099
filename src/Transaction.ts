/**
 * Transactions and savepoints, as asyncpg's `Connection.transaction()`.
 *
 * ```ts
 * // as a combinator: commit on success, rollback on failure or interruption
 * yield* conn.transaction(
 *   Effect.gen(function* () {
 *     yield* conn.execute("INSERT INTO t VALUES ($1)", [1])
 *     yield* conn.execute("INSERT INTO t VALUES ($1)", [2])
 *   }),
 *   { isolation: "serializable" }
 * )
 *
 * // as a scoped resource: ends when the scope closes
 * yield* Effect.scoped(Effect.gen(function* () {
 *   const tx = yield* conn.transaction()
 *   yield* conn.execute("INSERT INTO t VALUES (3)")
 *   yield* tx.commit() // optional: commit failures as typed errors
 * }))
 * ```
 *
 * A scope finalizer cannot fail: in the scoped form, a COMMIT left to the
 * scope's close that fails (a deferred constraint, a transaction a caught
 * error aborted, a lost connection) is a defect. Call `tx.commit()` for the
 * typed error, or use the combinator, whose COMMIT failure is its error.
 *
 * A transaction opened while the connection is already in one (managed or
 * started by hand with `BEGIN`) is a SAVEPOINT: released on success, rolled
 * back to on failure, the outer work kept. A savepoint cannot change the
 * outer transaction's characteristics: an `isolation` that differs from the
 * level the outer transaction has (the server's default when it named none)
 * is an InterfaceError, as in asyncpg. One transaction tree per
 * connection at a time: do not open transactions from concurrent fibers on
 * the same connection.
 *
 * COMMIT, ROLLBACK and their savepoint forms run uninterruptibly and without
 * the command timeout: an interrupted fiber waits for them, so the
 * connection never ends up in a state nobody knows.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type { SessionHandle } from "./connection/Core.js"
import type { QueryError } from "./connection/query.js"
import * as Errors from "./Errors.js"
import type { Session } from "./connection/Session.js"
import * as ClientState from "./connection/clientState.js"
import { IDLE } from "./connection/txStatus.js"
import * as Spans from "./observability/spans.js"

/** The isolation levels `BEGIN` accepts. */
export type IsolationLevel = "read_committed" | "read_uncommitted" | "repeatable_read" | "serializable"

/** How to start a transaction (unset: the server's defaults). */
export interface TransactionOptions {
  /** `BEGIN ISOLATION LEVEL ...`; default: the server's `default_transaction_isolation` */
  readonly isolation?: IsolationLevel | undefined
  /** `READ ONLY` */
  readonly readonly?: boolean | undefined
  /** `DEFERRABLE` (meaningful for serializable read-only transactions) */
  readonly deferrable?: boolean | undefined
}

/** Where a transaction is: started, then committed, rolled back, or failed (its COMMIT failed). */
export type TransactionState = "started" | "committed" | "rolledback" | "failed"

/** @since 0.1.0 */
export const TypeId: unique symbol = Symbol.for("effect-pg/Transaction")

/** A transaction block or a savepoint on one connection. */
export interface Transaction {
  readonly [TypeId]: typeof TypeId
  /** true for a savepoint inside an outer transaction */
  readonly nested: boolean
  /** the savepoint's name (nested only) */
  readonly savepoint: string | undefined
  /** the options it was started with (a savepoint reports its outermost transaction's) */
  readonly options: TransactionOptions
  /** where it is now */
  readonly state: TransactionState
  /** Commits now (RELEASE SAVEPOINT when nested); the scope then has nothing left to do. */
  commit(): Effect.Effect<void, QueryError>
  /** Rolls back now (ROLLBACK TO SAVEPOINT when nested), with any savepoint opened inside it. */
  rollback(): Effect.Effect<void, QueryError>
}

const LEVELS: { readonly [K in IsolationLevel]: string } = {
  read_committed: "READ COMMITTED",
  read_uncommitted: "READ UNCOMMITTED",
  repeatable_read: "REPEATABLE READ",
  serializable: "SERIALIZABLE"
}

/** COMMIT/ROLLBACK never time out: a cancelled COMMIT leaves no one knowing what happened. */
const NO_TIMEOUT = { timeout: Infinity } as const

/** Managed transactions of each session, outermost first. */
const stackOf = (session: Session): Array<TransactionImpl> => ClientState.of(session).transactions as Array<TransactionImpl>

const stackIfAny = (session: Session): Array<TransactionImpl> | undefined =>
  ClientState.peek(session)?.transactions as Array<TransactionImpl> | undefined

let savepointCounter = 0

class TransactionImpl implements Transaction {
  readonly [TypeId]: typeof TypeId = TypeId
  state: TransactionState = "started"
  constructor(
    readonly conn: SessionHandle,
    readonly nested: boolean,
    readonly savepoint: string | undefined,
    readonly options: TransactionOptions
  ) {}

  commit(): Effect.Effect<void, QueryError> {
    return commit(this)
  }

  rollback(): Effect.Effect<void, QueryError> {
    return rollback(this)
  }
}

const beginSql = (o: TransactionOptions): string => {
  let sql = "BEGIN"
  if (o.isolation !== undefined) sql += ` ISOLATION LEVEL ${LEVELS[o.isolation]}`
  if (o.readonly === true) sql += " READ ONLY"
  if (o.deferrable === true) sql += " DEFERRABLE"
  return sql
}

const misuse = (message: string) => Effect.fail(new Errors.InterfaceError({ message }))

/** Marks `tx` and every transaction opened inside it as ended. */
const pop = (tx: TransactionImpl, state: TransactionState): void => {
  const stack = stackIfAny(tx.conn.session)
  tx.state = state
  if (stack === undefined) return
  const i = stack.indexOf(tx)
  if (i < 0) return
  for (const inner of stack.splice(i)) if (inner !== tx && inner.state === "started") inner.state = "rolledback"
}

/**
 * Starts a transaction, or a savepoint when the connection is already in
 * one. Options on a savepoint must match the outermost transaction: as in
 * asyncpg, an isolation level is compared with the level the outer
 * transaction actually has (asked with `SHOW transaction_isolation` only
 * when the outer one named none, or was begun by hand), `readonly` and
 * `deferrable` with the outer one's options.
 *
 * @internal
 */
export const begin = (conn: SessionHandle, options: TransactionOptions = {}): Effect.Effect<Transaction, QueryError> =>
  Effect.suspend(() => {
    const bad = conn.guard()
    if (bad !== undefined) return Effect.fail(bad)
    if (options.isolation !== undefined && !(options.isolation in LEVELS)) {
      return misuse(`invalid isolation level "${String(options.isolation)}": use one of ${Object.keys(LEVELS).join(", ")}`)
    }
    const session = conn.session
    const stack = stackOf(session)
    if (stack.length === 0 && session.txStatus === IDLE) {
      return Effect.map(conn.execute(beginSql(options), undefined, NO_TIMEOUT), () => {
        const tx = new TransactionImpl(conn, false, undefined, options)
        stack.push(tx)
        return tx
      })
    }
    const top = stack[0]
    const differs =
      (options.readonly !== undefined && options.readonly !== (top?.options.readonly ?? false)) ||
      (options.deferrable !== undefined && options.deferrable !== (top?.options.deferrable ?? false))
    if (differs) {
      return misuse(
        top === undefined
          ? "the connection is already in a transaction started by hand: a nested transaction becomes a savepoint and cannot set readonly or deferrable; drop those options or commit first"
          : "a nested transaction becomes a savepoint and cannot change readonly or deferrable of the outer transaction; drop those options or match the outer ones"
      )
    }
    const savepoint = Effect.suspend(() => {
      const name = `__epg_sp_${(++savepointCounter).toString(36)}`
      return Effect.map(conn.execute(`SAVEPOINT ${name}`, undefined, NO_TIMEOUT), () => {
        const tx = new TransactionImpl(conn, true, name, top?.options ?? {})
        stack.push(tx)
        return tx
      })
    })
    const inner = options.isolation
    if (inner === undefined) return savepoint
    // as asyncpg: an outer transaction that named no level has the level it actually got
    const outer = top?.options.isolation
    const level = outer !== undefined ? Effect.succeed(outer) : currentIsolation(conn)
    return Effect.flatMap(level, (outer) => (inner === outer ? savepoint : misuse(isolationDiffers(inner, outer))))
  })

/** The isolation level of the transaction the connection is in (`SHOW transaction_isolation`: "repeatable read"). */
const currentIsolation = (conn: SessionHandle): Effect.Effect<string, QueryError> =>
  Effect.map(conn.fetchval("SHOW transaction_isolation", undefined, NO_TIMEOUT), (v) => String(v).replace(" ", "_"))

const isolationDiffers = (inner: IsolationLevel, outer: string): string =>
  `a nested transaction becomes a savepoint and cannot change the isolation level of the outer transaction: ${inner} requested, the outer one is ${outer}; drop the option or match the outer level`

const checkEnd = (tx: TransactionImpl, what: string): Effect.Effect<void, Errors.InterfaceError> | undefined => {
  if (tx.state !== "started") {
    return misuse(`cannot ${what} the transaction: it is already ${tx.state === "rolledback" ? "rolled back" : tx.state}`)
  }
  return undefined
}

/** Commits `tx` (or releases its savepoint). */
const commit = (tx: TransactionImpl): Effect.Effect<void, QueryError> =>
  Effect.uninterruptible(
    Effect.suspend(() => {
      const bad = checkEnd(tx, "commit")
      if (bad !== undefined) return bad
      const stack = stackOf(tx.conn.session)
      if (stack[stack.length - 1] !== tx) {
        return misuse("cannot commit a transaction while a transaction (savepoint) opened inside it is still open; end the inner one first")
      }
      const conn = tx.conn
      if (tx.nested) {
        const name = tx.savepoint!
        return conn.execute(`RELEASE SAVEPOINT ${name}`, undefined, NO_TIMEOUT).pipe(
          Effect.matchEffect({
            onSuccess: () => Effect.sync(() => pop(tx, "committed")),
            onFailure: (e) =>
              e._tag === "InFailedSQLTransactionError"
                ? // a statement inside failed: undo the savepoint so the outer transaction goes on
                  conn.execute(`ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`, undefined, NO_TIMEOUT).pipe(
                    Effect.ensuring(Effect.sync(() => pop(tx, "rolledback"))),
                    Effect.andThen(
                      Effect.fail(
                        new Errors.InFailedSQLTransactionError({
                          message:
                            "the savepoint was rolled back, not released: a statement inside it failed; handle the failure inside the transaction, or let it fail"
                        })
                      )
                    )
                  )
                : Effect.andThen(Effect.sync(() => pop(tx, "failed")), Effect.fail(e))
          })
        )
      }
      return conn.execute("COMMIT", undefined, NO_TIMEOUT).pipe(
        Effect.matchEffect({
          onSuccess: (status) => {
            if (status === "ROLLBACK") {
              pop(tx, "rolledback")
              return Effect.fail(
                new Errors.InFailedSQLTransactionError({
                  message:
                    "COMMIT rolled the transaction back: a statement inside it failed and the failure was caught; nothing was committed"
                })
              )
            }
            pop(tx, "committed")
            return Effect.void
          },
          onFailure: (e) => Effect.andThen(Effect.sync(() => pop(tx, "failed")), Effect.fail(e))
        })
      )
    })
  )

/** Rolls back `tx` (to its savepoint when nested), with every transaction opened inside it. */
const rollback = (tx: TransactionImpl): Effect.Effect<void, QueryError> =>
  Effect.uninterruptible(
    Effect.suspend(() => {
      const bad = checkEnd(tx, "roll back")
      if (bad !== undefined) return bad
      const sql = tx.nested ? `ROLLBACK TO SAVEPOINT ${tx.savepoint}; RELEASE SAVEPOINT ${tx.savepoint}` : "ROLLBACK"
      return tx.conn.execute(sql, undefined, NO_TIMEOUT).pipe(
        Effect.matchEffect({
          onSuccess: () => Effect.sync(() => pop(tx, "rolledback")),
          onFailure: (e) => Effect.andThen(Effect.sync(() => pop(tx, "failed")), Effect.fail(e))
        })
      )
    })
  )

/**
 * Ends `tx` for an exit, if it is still open: commit on success, rollback
 * otherwise.
 *
 * @internal
 */
export const end = (tx: Transaction, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, QueryError> =>
  Effect.suspend(() => {
    if (tx.state !== "started") return Effect.void
    return Exit.isSuccess(exit) ? tx.commit() : tx.rollback()
  })

/**
 * A scope finalizer for `tx`: a failed COMMIT is a defect (finalizers have
 * no error channel; call `commit()` yourself for a typed error), a failed
 * ROLLBACK is ignored (the connection is gone or the transaction is over).
 *
 * @internal
 */
export const finalize = (tx: Transaction, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (tx.state !== "started") return Effect.void
    return Exit.isSuccess(exit) ? Effect.orDie(tx.commit()) : Effect.ignore(tx.rollback())
  })

/**
 * A transaction for the scope: committed when the scope closes with
 * success, rolled back on failure or interruption.
 *
 * @internal
 */
export const scoped = (conn: SessionHandle, options?: TransactionOptions): Effect.Effect<Transaction, QueryError, Scope.Scope> =>
  Spans.transactionScoped(conn.session, options?.isolation, Effect.acquireRelease(begin(conn, options), finalize))

/**
 * Runs `effect` in a transaction: committed when it succeeds (a failed
 * COMMIT is the result's error), rolled back when it fails or is
 * interrupted.
 *
 * @internal
 */
export const around = <A, E, R>(
  conn: SessionHandle,
  effect: Effect.Effect<A, E, R>,
  options?: TransactionOptions
): Effect.Effect<A, E | QueryError, R> => Spans.transaction(conn.session, options?.isolation, Effect.acquireUseRelease(begin(conn, options), () => effect, end))

/** True while a managed transaction is open on the session. @internal */
export const hasManaged = (session: Session): boolean => (stackIfAny(session)?.length ?? 0) > 0

/**
 * Forgets the managed transactions of a session (after a reset rolled them
 * back): they report "rolledback" and can no longer be ended.
 *
 * @internal
 */
export const forget = (session: Session): void => {
  const stack = stackIfAny(session)
  if (stack === undefined) return
  for (const tx of stack.splice(0)) if (tx.state === "started") tx.state = "rolledback"
}
