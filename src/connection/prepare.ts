/**
 * Effect-level helpers shared by prepared statements and cursors: getting a
 * ready statement and encoding arguments, with the connection's guard,
 * timeout and interruption handling.
 *
 * Internal: not exported by the package.
 */
import * as Effect from "effect/Effect"
import type { SessionHandle } from "./Core.js"
import type { QueryError, QueryOptions } from "./query.js"
import type { WireValue } from "../protocol/Writer.js"
import * as Portal from "./portal.js"
import { Task, type Session } from "./Session.js"
import type { Statement } from "./statement.js"

/**
 * A ready statement for `sql`: the session's cached one, or (`dedicated`) a
 * named statement of its own that the caller closes with
 * {@link closeStatement}. A syntax error fails here, with its position.
 */
export const prepare = (
  conn: SessionHandle,
  sql: string,
  options: QueryOptions | undefined,
  dedicated: boolean
): Effect.Effect<Statement, QueryError> =>
  conn.run<Statement>(
    options,
    sql,
    (cb) => {
      const task = new Task()
      const session = conn.session
      session.statement(
        sql,
        (err, st) => {
          if (task.abandoned) {
            // nobody waits for it any more: a dedicated statement would leak
            if (dedicated && st !== undefined) closeStatement(session, st)
            return
          }
          cb(err, st)
        },
        dedicated
      )
      return task
    },
    undefined,
    false
  )

/** Closes a dedicated statement on the server (pipelined; nobody waits for it). */
export const closeStatement = (session: Session, st: Statement): void => {
  if (session.closed || st.cached || st.unnamed) return
  Portal.closeObject(session, "S", st.name, () => {})
}

/** Encodes one argument set with the statement's codecs, or fails with DataError/InterfaceError. */
export const encode = (
  session: Session,
  st: Statement,
  args: ReadonlyArray<unknown> | undefined
): Effect.Effect<Array<WireValue>, QueryError> => {
  const values = session.encodeArgs(st, args ?? [])
  return Array.isArray(values) ? Effect.succeed(values) : Effect.fail(values)
}

/** Encodes every argument set; a failure names the set it is in. */
export const encodeMany = (
  session: Session,
  st: Statement,
  argsList: ReadonlyArray<ReadonlyArray<unknown>>
): Array<ReadonlyArray<WireValue>> | QueryError => {
  const out = new Array<ReadonlyArray<WireValue>>(argsList.length)
  for (let i = 0; i < argsList.length; i++) {
    const values = session.encodeArgs(st, argsList[i]!)
    if (!Array.isArray(values)) {
      return values._tag === "DataError" || values._tag === "InterfaceError"
        ? Object.assign(values, { message: `argument set ${i}: ${values.message}`, row: i })
        : values
    }
    out[i] = values
  }
  return out
}
