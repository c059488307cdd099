/**
 * The reset of a connection for its next user (what a pool runs on release), written into its pipeline:
 * what a borrower may have left on the server (a transaction, session
 * advisory locks, cursors, LISTENs, a changed session authorization,
 * settings) is cleared before the next borrower's first query runs, without
 * anyone waiting a round trip for it.
 *
 * The statements are prepared once per session and then sent as one
 * Bind/Execute batch under a single Sync: about half the server's work of
 * the same statements as a simple-protocol script. In the pooler mode
 * (`prepare: false`) nothing named may live on the server, so the script is
 * sent as a simple query.
 *
 * Internal: not exported by the package.
 */
import * as Reader from "../protocol/Reader.js"
import * as ClientState from "./clientState.js"
import { errorFromFields, type Request, type SessionError } from "./request.js"
import type { Session } from "./Session.js"
import * as TxStatus from "./txStatus.js"

/** What asyncpg's reset clears, plus the session authorization (as DISCARD ALL does). */
const PARTS = [
  "SELECT pg_catalog.pg_advisory_unlock_all()",
  "CLOSE ALL",
  "UNLISTEN *",
  "SET SESSION AUTHORIZATION DEFAULT",
  "RESET ALL"
] as const

/** The same, as one simple-protocol script. */
export const RESET_SCRIPT = PARTS.join("; ") + ";"

const B = Reader.Backend

const nameOf = (session: Session, i: number): string => `${session.namePrefix}reset${i}`

/**
 * Writes the reset into `session`'s pipeline (lazily flushed: it travels
 * with the next request). A reset that fails leaves the session in an
 * unknown state: it is destroyed.
 */
export const write = (session: Session): void => {
  const fail = (err: SessionError | undefined) => {
    // e.g. the borrower ran DEALLOCATE ALL: the reset did not run, nobody may use the session
    if (err !== undefined && !session.closed) session.destroy(err)
  }
  // the pool's queries, not the user's: they do not count toward maxQueries
  const queries = session.queryCount
  if (session.txStatus !== TxStatus.IDLE) session.simpleQuery("ROLLBACK", fail, true)
  if (session.settings.prepare === false || session.settings.statementCacheSize === 0 || ClientState.peek(session)?.resetStatements === "lost") {
    session.simpleQuery(RESET_SCRIPT, fail, true)
  } else batch(session, fail)
  session.queryCount = queries
  // what the session will be once the reset ran (the next borrower reads it before the
  // reset's ReadyForQuery arrives: isInTransaction, transaction() choosing BEGIN or SAVEPOINT)
  session.txStatus = TxStatus.IDLE
}

const batch = (session: Session, fail: (err: SessionError | undefined) => void): void => {
  let error: SessionError | undefined
  // whether the reset statements are prepared (or lost) is kept in the session's client state
  const client = ClientState.of(session)
  const parse = client.resetStatements === "unprepared"
  if (parse) client.resetStatements = "prepared"
  const r: Request = {
    abandoned: false,
    onSettled: undefined,
    handle(type, buf, start, end) {
      if (type === B.ErrorResponse) error ??= errorFromFields(Reader.parseErrorFields(buf, start, end))
    },
    done() {
      if (error !== undefined && "sqlstate" in error && error.sqlstate === "26000") {
        // our statements are gone: reset with the script now (behind a transaction-mode pooler,
        // session state never outlives a transaction anyway) and from now on
        client.resetStatements = "lost"
        const queries = session.queryCount
        session.simpleQuery(RESET_SCRIPT, fail, true)
        session.queryCount = queries
        return
      }
      fail(error)
    },
    fail() {}
  }
  session.sendRequest(
    r,
    (w) => {
      for (let i = 0; i < PARTS.length; i++) {
        const name = nameOf(session, i)
        if (parse) w.parse(name, PARTS[i]!)
        w.bind("", name, [], [], []).execute("", 0)
      }
      w.sync()
    },
    true
  )
}
