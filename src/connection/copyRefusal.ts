/**
 * A COPY that a query method started (the SQL text hid it from the
 * up-front check, or a function ran it): COPY FROM STDIN is refused with
 * CopyFail so the connection stays usable; COPY BOTH (replication) cannot
 * be answered at all, so the connection is closed.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import type { Request, SessionError } from "./request.js"
import type { Wire } from "./wire.js"

/** CopyBothResponse (replication) outside a replication connection: nothing can answer it. */
export const copyBothError = (): SessionError =>
  new Errors.ProtocolError({
    message: "the server started a COPY BOTH (replication) exchange, which effect-pg does not support; the connection was closed"
  })

/**
 * Ends a COPY FROM STDIN that a query method started: CopyFail (and a Sync
 * in the extended protocol, where the server ignored ours during copy-in).
 * When other messages are already on the wire behind the one that started
 * the COPY (`moreOwn`: the rest of this request; or other requests queued
 * behind `r`), the server reads the first of them as a protocol violation
 * inside COPY and ends the session ("protocol synchronization was lost"):
 * the session is destroyed at once, with an error that says why.
 */
export const refuseCopyIn = (wire: Wire, r: Request, extended: boolean, moreOwn = false): void => {
  if (moreOwn || !wire.queue.isLast(r)) {
    wire.destroy(
      new Errors.InterfaceError({
        message: `COPY ... FROM STDIN was sent through a query method with ${moreOwn ? "more messages of the same request" : "other queries pipelined"} behind it; the server reads those as a protocol violation inside COPY, so the connection was closed. Use copyToTable / copyRecordsToTable for COPY FROM STDIN`
      })
    )
    return
  }
  wire.writer.copyFail("COPY FROM STDIN is not supported by query methods; use copyToTable or copyRecordsToTable")
  if (extended) wire.writer.sync()
  wire.flushNow()
}
