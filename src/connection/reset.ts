/**
 * The reset of a connection for its next user (what a pool runs on release), written into its pipeline:
 * what a borrower may have left on the server (a transaction, session
 * advisory locks, cursors, LISTENs, a changed session authorization,
 * settings, temporary tables, sequence state) is cleared before the next borrower's first query runs, without
 * anyone waiting a round trip for it.
 *
 * The statements are prepared once per session and then sent as one
 * Bind/Execute batch (about half the server's work of the same statements
 * as a simple-protocol script), inside BEGIN ... COMMIT and with no Sync of
 * its own: the next request's Sync carries it (`Wire.sendPrelude`), which
 * saves the server a ReadyForQuery and a flush per lease (raw protocol, 10
 * connections: 75 → 58–70 µs of server CPU per reset + SELECT 1). In the
 * pooler mode (`prepare: false`) nothing named may live on the server, so
 * the script is sent as a simple query.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import { Writer } from "../protocol/Writer.js"
import * as ClientState from "./clientState.js"
import { errorFromFields, type PreludeRequest, type SessionError } from "./request.js"
import type { Session } from "./Session.js"
import * as TxStatus from "./txStatus.js"

/**
 * What asyncpg's reset clears, plus what else DISCARD ALL clears but our
 * prepared statements: the session authorization, temporary tables (one
 * named like a real table would hide it from the next borrower: wrong rows)
 * and the sequences' currval/lastval.
 */
const PARTS = [
  "SELECT pg_catalog.pg_advisory_unlock_all()",
  "CLOSE ALL",
  "UNLISTEN *",
  "SET SESSION AUTHORIZATION DEFAULT",
  "RESET ALL",
  "DISCARD TEMP",
  "DISCARD SEQUENCES"
] as const

/** The same, as one simple-protocol script. */
export const RESET_SCRIPT = PARTS.join("; ") + ";"

/**
 * The prepared batch: the parts in an explicit transaction of their own, so
 * the reset commits without a Sync of its own and can travel in front of the
 * next request (one ReadyForQuery and one flush on the server for the two).
 */
const STATEMENTS = ["BEGIN", ...PARTS, "COMMIT"] as const

/** Asked by a session's first reset: whether the backend is the one BackendKeyData named. */
const PID_SQL = "SELECT pg_catalog.pg_backend_pid()"

const B = Reader.Backend

const nameOf = (session: Session, i: number): string => `${session.namePrefix}reset${i}`

/**
 * Writes the reset into `session`'s pipeline (lazily flushed: it travels
 * with the next request). A reset that fails leaves the session in an
 * unknown state: it is destroyed.
 */
export const write = (session: Session): void => {
  // the pool's queries, not the user's: they do not count toward maxQueries
  const queries = session.queryCount
  if (session.txStatus !== TxStatus.IDLE) script(session, "ROLLBACK")
  if (session.settings.prepare === false || session.settings.statementCacheSize === 0) script(session, RESET_SCRIPT)
  else {
    // whether the reset statements are prepared (or lost) is kept in the session's client state
    const client = ClientState.of(session)
    if (client.resetStatements === "lost") script(session, RESET_SCRIPT)
    else batch(session, client)
  }
  session.queryCount = queries
  // what the session will be once the reset ran (the next borrower reads it before the
  // reset's ReadyForQuery arrives: isInTransaction, transaction() choosing BEGIN or SAVEPOINT)
  session.txStatus = TxStatus.IDLE
}

/**
 * The reset batch of one session: its Bind/Execute messages encoded once
 * (the statement names never change), and one request object used again
 * for every reset. A session has at most one reset on the wire: a pool
 * writes the next only after a lease or lane whose requests all settled.
 *
 * As a prelude (`Wire.sendPrelude`) it ends on the COMMIT's CommandComplete;
 * written with a Sync of its own (the first time, when statements may have
 * been dropped, or when nothing follows it), on its ReadyForQuery.
 */
class ResetBatch implements PreludeRequest {
  readonly internal = true
  abandoned = false
  onSettled: (() => void) | undefined = undefined
  notices?: Array<Errors.PostgresError>
  sentAt?: number
  serverMs?: number
  prelude = false
  /** on the wire now (then a second reset, should one come, gets a request of its own) */
  busy = false
  private completed = 0
  private error: SessionError | undefined = undefined
  /** the error came while another request was carrying this one: the server skipped that one too */
  private carried = false
  constructor(
    private readonly session: Session,
    private readonly client: ClientState.ClientState,
    /** Bind/Execute of every statement (no Sync) */
    readonly bytes: Uint8Array
  ) {}

  handle(type: number, buf: Buffer, start: number, end: number): void {
    if (type === B.CommandComplete) {
      if (++this.completed === STATEMENTS.length && this.prelude && this.error === undefined) this.session.preludeDone(this)
    } else if (type === B.ErrorResponse && this.error === undefined) {
      this.error = errorFromFields(Reader.parseErrorFields(buf, start, end))
      // the server skips to the next Sync, the carrying request's: it settles this one
      this.carried = this.prelude
      this.prelude = false
    }
  }

  done(): void {
    const carried = this.carried
    const error = this.settle()
    if (error !== undefined && "sqlstate" in error && error.sqlstate === "26000") {
      // our statements are gone: reset with the script from now on (behind a transaction-mode
      // pooler, session state never outlives a transaction anyway)
      this.client.resetStatements = "lost"
      if (!carried) {
        const queries = this.session.queryCount
        // a statement dropped inside the reset's BEGIN leaves its transaction failed
        script(this.session, (this.session.txStatus !== TxStatus.IDLE ? "ROLLBACK; " : "") + RESET_SCRIPT)
        this.session.queryCount = queries
        return
      }
    }
    if (carried && error !== undefined && !this.session.closed) {
      // the request that carried it never ran (the server skipped it), and the session was
      // not reset: say so, rather than with the reset's own error
      const target = this.session.target
      this.session.destroy(
        new Errors.PostgresConnectionError({
          message: `the pool's reset of this connection failed before your query (${error.message}); the query did not run and the connection was discarded: run it again`,
          host: target.host,
          port: target.port,
          reason: "closed",
          cause: error
        })
      )
      return
    }
    destroyOn(this.session, error)
  }

  fail(): void {
    this.settle()
  }

  private settle(): SessionError | undefined {
    const error = this.error
    this.error = undefined
    this.busy = false
    this.carried = false
    this.completed = 0
    this.notices = undefined
    return error
  }
}

/**
 * Asks the server its backend's pid, once per session, in a request of its
 * own (a server without pg_backend_pid() just never gets the prelude): the
 * same pid as BackendKeyData's means PostgreSQL itself, not a pooler that
 * may run the next transaction on another server connection.
 */
const probe = (session: Session, client: ClientState.ClientState): void => {
  const queries = session.queryCount
  session.sendRequest(
    {
      abandoned: false,
      onSettled: undefined,
      internal: true,
      handle(type, buf, start) {
        if (type !== B.DataRow) return
        const n = buf.readInt32BE(start + 2)
        client.direct = n > 0 && Number(buf.toString("latin1", start + 6, start + 6 + n)) === session.processId
      },
      done() {},
      fail() {}
    },
    (w) => w.parse("", PID_SQL).bind("", "", [], [], []).execute("", 0).sync(),
    true
  )
  session.queryCount = queries
}

/** Writes (lazily) a script of the reset: the pool's own request, destroying the session when it fails. */
const script = (session: Session, sql: string): void => {
  session.simpleQuery(sql, (err) => destroyOn(session, err), true).internal = true
}

/** A reset that failed leaves the session in an unknown state: nobody may use it. */
const destroyOn = (session: Session, err: SessionError | undefined): void => {
  // e.g. the borrower ran DEALLOCATE ALL: the reset did not run
  if (err !== undefined && !session.closed) session.destroy(err)
}

/** Encodes the Bind/Execute of every statement, without a Sync (`w` is a scratch Writer). */
const encode = (session: Session): Uint8Array => {
  const w = new Writer()
  for (let i = 0; i < STATEMENTS.length; i++) w.bind("", nameOf(session, i), [], [], []).execute("", 0)
  return Uint8Array.from(w.take())
}

const batch = (session: Session, client: ClientState.ClientState): void => {
  if (session.statementsDropped) {
    // the lease ran DEALLOCATE / DISCARD ALL: our statements may be gone. The script resets now
    // (it needs none), and the next reset prepares them again
    session.statementsDropped = false
    if (client.resetStatements === "prepared") client.resetStatements = "unprepared"
    script(session, RESET_SCRIPT)
    return
  }
  const parse = client.resetStatements === "unprepared"
  if (parse) client.resetStatements = "prepared"
  let r = client.resetBatch as ResetBatch | undefined
  if (r === undefined) client.resetBatch = r = new ResetBatch(session, client, encode(session))
  else if (r.busy) r = new ResetBatch(session, client, r.bytes)
  r.busy = true
  const bytes = r.bytes
  // behind a pooler the next transaction may run on a server connection without our
  // statements: a reset of its own there, whose failure costs the next request nothing
  if (parse || !client.direct) {
    session.sendRequest(r, (w) => {
      // (Close first: a name DEALLOCATE left alone would refuse a second Parse)
      if (parse) for (let i = 0; i < STATEMENTS.length; i++) w.close("S", nameOf(session, i)).parse(nameOf(session, i), STATEMENTS[i]!)
      w.raw(bytes).sync()
    }, true)
    if (parse) probe(session, client)
  } else session.sendPrelude(r, (w) => w.raw(bytes))
}
