/**
 * The simple-query protocol: one Query message (a script of any number of
 * statements), one ReadyForQuery. Rows are not collected; the request ends
 * with the last command tag. A COPY the script starts is refused.
 *
 * Internal: not exported by the package.
 */
import * as Reader from "../protocol/Reader.js"
import { copyBothError, refuseCopyIn } from "./copyRefusal.js"
import { serverError, type Callback, type Request, type SessionError } from "./request.js"
import { changesSession, dropsStatements, SESSION_FUNCTIONS } from "./sessionChanges.js"
import { checkStatementText, copyRefused } from "./sqltext.js"
import type { Wire } from "./wire.js"

const B = Reader.Backend

/** A request that is never queued: `cb` already ran. */
const refusedRequest = (): Request => ({ abandoned: false, onSettled: undefined, handle() {}, done() {}, fail() {} })

/** Runs `sql` over the simple protocol on `wire` (scripts); `cb` gets the last command tag. */
export const simpleQuery = (wire: Wire, sql: string, cb: Callback<string>, lazy = false): Request => {
  // NUL, lone surrogates, a script that starts with COPY ... FROM STDIN / TO STDOUT
  const refused = checkStatementText(sql)
  if (refused !== undefined) {
    // nothing goes on the wire
    cb(refused, undefined)
    return refusedRequest()
  }
  wire.queryCount++
  if (SESSION_FUNCTIONS.test(sql)) wire.stateDirty = true
  let status = ""
  let error: SessionError | undefined
  const r: Request = {
    abandoned: false,
    onSettled: undefined,
    simple: true,
    handle(type, buf, start, end) {
      switch (type) {
        case B.CommandComplete:
          status = Reader.parseCommandComplete(buf, start, end)
          wire.lastStatus = status
          if (changesSession(status)) {
            wire.stateDirty = true
            if (dropsStatements(status)) wire.statementsDropped = true
          }
          return
        case B.ErrorResponse:
          error ??= serverError(buf, start, end, sql)
          return
        case B.CopyInResponse:
          // COPY FROM STDIN through execute(): refuse it so the connection stays usable
          error ??= copyRefused("stdin")
          refuseCopyIn(wire, r, false)
          return
        case B.CopyOutResponse:
          // COPY TO STDOUT through execute(): its data is drained (CopyData ignored) and the call fails
          error ??= copyRefused("stdout")
          return
        case B.CopyBothResponse:
          wire.destroy(copyBothError())
          return
        default:
          return
      }
    },
    done() {
      cb(error, status)
    },
    fail(e) {
      cb(error ?? e, undefined)
    }
  }
  wire.send(r, (w) => w.query(sql), lazy)
  return r
}
