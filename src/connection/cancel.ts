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

/**
 * How long a cancel socket may stay open (ms). A server that accepts the
 * connection and never closes it (a frozen postmaster, a black-holed
 * network) would otherwise hold it, and the requests held behind the cancel,
 * forever.
 */
const CANCEL_SOCKET_MS = 10_000

/** Sends a CancelRequest for `processId`; `done` runs once the cancel socket is closed, failed or timed out (possibly more than once: callers dedupe). */
export const sendCancelRequest = (
  target: ResolvedConnectOptions["addresses"][number],
  processId: number,
  secretKey: number,
  done: () => void
): void => {
  const w = new Writer().cancelRequest(processId, secretKey).take()
  let open: { destroy: () => void } | undefined
  const timer = setTimeout(() => {
    open?.destroy()
    done()
  }, CANCEL_SOCKET_MS)
  timer.unref()
  const finish = () => {
    clearTimeout(timer)
    done()
  }
  openPlainSocket(target, (err, socket) => {
    if (err || !socket) {
      finish()
      return
    }
    open = socket
    socket.on("error", finish)
    socket.on("close", finish)
    socket.end(w)
  })
}
