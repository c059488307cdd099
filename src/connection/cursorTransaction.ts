/**
 * The implicit transaction of cursors opened outside a transaction: a
 * portal or a declared cursor only outlives its request inside one.
 *
 * Cursors open at the same time on one connection (two streams merged, a
 * stream read while a `cursorManual` is open) share one such transaction,
 * counted by its members:
 *
 * - the first cursor sends BEGIN; the others join (after that BEGIN, which
 *   they wait for, so no second BEGIN is ever sent);
 * - a cursor that ends with success (read to the end, or stopped early by
 *   its consumer) or is interrupted just leaves, its portal closed, while
 *   others remain;
 * - a cursor that fails rolls the transaction back at once: the others
 *   then fail with an InterfaceError on their next batch instead of reading
 *   on in a transaction that can no longer commit;
 * - the last one out commits when it ends with success, and rolls back
 *   when it failed or was interrupted.
 *
 * Inside a transaction of the caller's (managed, or begun by hand), there
 * is no member: the transaction is left alone.
 *
 * Internal: not exported by the package.
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { InterfaceError } from "../errors/client.js"
import * as Transaction from "../Transaction.js"
import type { SessionHandle } from "./Core.js"
import type { QueryError } from "./query.js"
import type { Session } from "./Session.js"
import { IDLE } from "./txStatus.js"

/** One implicit transaction and the cursors in it. */
interface Shared {
  readonly session: Session
  /** cursors still in it */
  users: number
  /** done when BEGIN completed */
  readonly ready: Deferred.Deferred<Transaction.Transaction, QueryError>
  /** the transaction, once BEGIN completed */
  tx: Transaction.Transaction | undefined
  /** rolled back before the last cursor left: a cursor in it failed */
  aborted: boolean
}

/** A cursor's place in a shared implicit transaction. */
export class Member {
  /** left already (its leave ran: nothing left to do at scope close) */
  left = false
  constructor(readonly shared: Shared) {}

  /** True when this cursor is the only one left in the transaction. */
  get alone(): boolean {
    return this.shared.users === 1
  }
}

/** The open implicit transaction of each session, while it takes new members. */
const current = new WeakMap<Session, Shared>()

const joinable = (s: Shared | undefined): s is Shared =>
  s !== undefined && s.users > 0 && !s.aborted && (s.tx === undefined || s.tx.state === "started")

/**
 * The error of a cursor whose shared implicit transaction was rolled back
 * because another cursor in it failed; undefined while it is usable.
 */
export const abortedError = (m: Member | undefined): InterfaceError | undefined =>
  m !== undefined && m.shared.aborted
    ? new InterfaceError({
      message:
        "another cursor opened outside a transaction on this connection failed, and the implicit transaction they shared was rolled back with this cursor; open your own transaction around the cursors to decide yourself"
    })
    : undefined

/**
 * Joins the implicit transaction of the cursors open on `conn`, or begins
 * one when the connection is in no transaction; succeeds with undefined
 * inside a transaction of the caller's. Run it uninterruptibly (the acquire
 * of an `acquireRelease`), paired with {@link release}.
 */
export const join = (conn: SessionHandle): Effect.Effect<Member | undefined, QueryError> =>
  Effect.suspend(() => {
    const session = conn.session
    const open = current.get(session)
    if (joinable(open)) {
      open.users++
      return Deferred.await(open.ready).pipe(
        Effect.tapError(() => Effect.sync(() => void open.users--)),
        Effect.as(new Member(open))
      )
    }
    if (session.txStatus !== IDLE || Transaction.hasManaged(session)) return Effect.succeed(undefined)
    const s: Shared = { session, users: 1, ready: Deferred.makeUnsafe(), tx: undefined, aborted: false }
    current.set(session, s)
    return Transaction.begin(conn).pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          if (Exit.isSuccess(exit)) s.tx = exit.value
          else {
            s.users--
            if (current.get(session) === s) current.delete(session)
          }
          Deferred.doneUnsafe(s.ready, exit)
        })
      ),
      Effect.as(new Member(s))
    )
  })

/**
 * Leaves the shared transaction as `exit` says: the last member commits
 * it on success (a failed COMMIT is this effect's error) and rolls it back
 * otherwise; a member that failed while others remain rolls it back for
 * all of them.
 */
export const leave = (m: Member, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, QueryError> =>
  Effect.suspend(() => {
    if (m.left) return Effect.void
    m.left = true
    const s = m.shared
    s.users--
    if (s.users === 0 && current.get(s.session) === s) current.delete(s.session)
    const tx = s.tx
    // being rolled back or rolled back already (another member failed), or forgotten by a reset
    if (tx === undefined || tx.state !== "started" || s.aborted) return Effect.void
    if (s.users === 0) return Exit.isSuccess(exit) ? tx.commit() : tx.rollback()
    if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) {
      s.aborted = true
      if (current.get(s.session) === s) current.delete(s.session)
      return tx.rollback()
    }
    return Effect.void
  })

/**
 * {@link leave} as a scope finalizer: a failed COMMIT is a defect (a
 * finalizer has no error channel), a failed ROLLBACK is ignored (the
 * connection is gone or the transaction is over).
 */
export const release = (m: Member | undefined, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  m === undefined ? Effect.void : Exit.isSuccess(exit) ? Effect.orDie(leave(m, exit)) : Effect.ignore(leave(m, exit))
