/**
 * A query in progress as its caller holds it: the request on the wire once
 * there is one (a query may first wait for its statement to be prepared),
 * and whether its Bind went through. Abandoning it cancels what is on the
 * wire (see `Wire.abandon`).
 *
 * Internal: not exported by the package.
 */
import type { Request } from "./request.js"
import type { Wire } from "./wire.js"

/** Whether a request's Bind went through (nothing ran before it). */
export interface Progress {
  bound: boolean
}

/** A query in progress: the request on the wire, once there is one. */
export class Task implements Progress {
  request: Request | undefined
  abandoned = false
  /** the current attempt's Bind went through (set by `Session.execute`) */
  bound = false
  /** Abandons the task; `settled` runs once the server is done with it. */
  abandon(session: Wire, settled: () => void, graceMs?: number): void {
    this.abandoned = true
    if (this.request !== undefined) session.abandon(this.request, settled, graceMs)
    else {
      // still waiting for its statement: nothing is on the wire for it
      settled()
    }
  }
}
