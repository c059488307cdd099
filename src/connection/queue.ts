/**
 * The pipelined request queue of a session: requests in the order they
 * were written, each waiting for its ReadyForQuery. Replies are matched to
 * requests by this order alone (every request ends with exactly one Sync,
 * or is one simple Query).
 *
 * Internal: not exported by the package.
 */
import type { Request } from "./request.js"

/** Requests on the wire, oldest first; `shift` is O(1) (the array is compacted now and then). */
export class RequestQueue {
  private readonly items: Array<Request> = []
  private start = 0

  /** Requests sent and not yet answered. */
  get size(): number {
    return this.items.length - this.start
  }

  /** The request the server is answering now (the oldest). */
  get head(): Request | undefined {
    return this.items[this.start]
  }

  /** Adds a request written to the wire. */
  push(request: Request): void {
    this.items.push(request)
  }

  /** Removes and returns the oldest request (its ReadyForQuery arrived). */
  shift(): Request | undefined {
    const r = this.items[this.start]
    if (r === undefined) return undefined
    this.items[this.start++] = undefined as unknown as Request
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items.splice(0, this.start)
      this.start = 0
    }
    return r
  }

  /** Whether `r` is still waiting for its ReadyForQuery. */
  has(r: Request): boolean {
    return this.items.includes(r, this.start)
  }

  /** Whether `r` is the newest request: nothing is written behind it. */
  isLast(r: Request): boolean {
    return this.size > 0 && this.items[this.items.length - 1] === r
  }

  /** Whether a request on the wire is not the pool's own (`internal`). */
  hasUserWork(): boolean {
    for (let i = this.start; i < this.items.length; i++) if (this.items[i]!.internal !== true) return true
    return false
  }

  /** Whether a request on the wire was abandoned by its caller. */
  hasAbandoned(): boolean {
    for (let i = this.start; i < this.items.length; i++) if (this.items[i]!.abandoned) return true
    return false
  }

  /** Empties the queue; returns the requests that were waiting, oldest first. */
  takeAll(): Array<Request> {
    const pending = this.items.slice(this.start)
    this.items.length = 0
    this.start = 0
    return pending
  }
}
