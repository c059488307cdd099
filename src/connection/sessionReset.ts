/**
 * Resetting a session for its next user: what the users of a session added
 * on the client is forgotten (LISTEN callbacks, log listeners, query
 * loggers, termination listeners, managed transactions), and the server
 * session is reset as asyncpg's `Connection.reset` does. Re-exported by
 * `Connection.ts`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Transaction from "../Transaction.js"
import * as Core from "./Core.js"
import * as Notify from "./listeners.js"
import type { QueryError, QueryOptions } from "./query.js"
import * as Reset from "./reset.js"
import type { Session } from "./Session.js"
import * as TxStatus from "./txStatus.js"

/** What a reset needs of a connection: an `execute` (any effect-pg connection). */
export interface Resettable {
  execute(sql: string, args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<string, QueryError>
}

/**
 * Termination listeners that belong to the library (a pool's), not to a user: a reset keeps them.
 *
 * @internal
 */
export const ownListeners = new WeakSet<object>()

/**
 * Forgets what users of the session added on the client: LISTEN callbacks,
 * log listeners, query loggers, termination listeners (but the library's own)
 * and managed transactions. Half of every reset; a pool runs it on release.
 *
 * @internal
 */
export const forgetClientState = (session: Session): void => {
  Notify.clear(session)
  Transaction.forget(session)
  session.queryLoggers = undefined
  for (const l of session.terminationListeners) if (!ownListeners.has(l)) session.terminationListeners.delete(l)
}

/**
 * Resets a connection for its next user, as asyncpg's `Connection.reset`:
 * ROLLBACK when in a transaction, then `SELECT pg_advisory_unlock_all();
 * CLOSE ALL; UNLISTEN *; SET SESSION AUTHORIZATION DEFAULT; RESET ALL;
 * DISCARD TEMP; DISCARD SEQUENCES;`;
 * forgets LISTEN callbacks, log listeners, query loggers, termination
 * listeners and managed transactions. A pool writes the same reset into the
 * pipeline on release instead of waiting for it.
 */
export const resetSession = (conn: Resettable, options?: QueryOptions): Effect.Effect<void, QueryError> =>
  Effect.suspend(() => {
    const session = Core.sessionOf(conn)
    forgetClientState(session)
    const script = (session.txStatus !== TxStatus.IDLE ? "ROLLBACK; " : "") + Reset.RESET_SCRIPT
    return Effect.andThen(
      conn.execute(script, undefined, options),
      Effect.sync(() => {
        session.stateDirty = false
      })
    )
  })

