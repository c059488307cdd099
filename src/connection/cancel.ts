/**
 * Cancellation on the wire: a CancelRequest (process id and secret key) on
 * a fresh socket to the session's address. When and for which request to
 * send one is the session's decision (`Session.abandon`).
 *
 * Internal: not exported by the package.
 */
import { Writer } from "../protocol/Writer.js"
import type { ResolvedConnectOptions } from "./options.js"
import { openPlainSocket } from "./socket.js"

/** Sends a CancelRequest for `processId`; `done` runs once the cancel socket is closed or failed (possibly twice: callers dedupe). */
export const sendCancelRequest = (
  target: ResolvedConnectOptions["addresses"][number],
  processId: number,
  secretKey: number,
  done: () => void
): void => {
  const w = new Writer().cancelRequest(processId, secretKey).take()
  openPlainSocket(target, (err, socket) => {
    if (err || !socket) {
      done()
      return
    }
    socket.on("error", done)
    socket.on("close", done)
    socket.end(w)
  })
}
