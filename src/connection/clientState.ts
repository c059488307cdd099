/**
 * What the users of a session keep on the client beside it: managed
 * transactions, LISTEN callbacks and log listeners, codecs set through the
 * connection, how the pool's reset runs on it. The one side table keyed by
 * session, so every view of a pooled connection shares it and a reset finds
 * it in one place.
 *
 * Internal: not exported by the package.
 */
import type * as Errors from "../Errors.js"
import type { Notification } from "../protocol/Reader.js"
import type { NoticeListener } from "./request.js"
import type { Wire } from "./wire.js"

/** Called with each NOTIFY on a channel. */
export type NotificationCallback = (notification: Notification) => void

/** LISTEN state of a session. */
export interface Listening {
  /** channel → callbacks; a channel is LISTENed while it has callbacks */
  readonly channels: Map<string, Set<NotificationCallback>>
  /** notice listeners added through `addLogListener` (the pool's reset removes them) */
  readonly logListeners: Set<NoticeListener>
  /** the ends of `listen()` streams: a reset or release ends them with an error, so no consumer waits forever */
  readonly streams: Set<(error: Errors.InterfaceError) => void>
}

/** The client-side state of one session. */
export interface ClientState {
  /** managed transactions, outermost first (`Transaction.ts` keeps its own objects here) */
  readonly transactions: Array<object>
  /** LISTEN callbacks and log listeners, once a listener was added */
  listening: Listening | undefined
  /**
   * The pool's reset statements (`reset.ts`): not prepared on the server
   * yet, prepared, or lost (a transaction-mode pooler moved the session, or
   * someone ran DEALLOCATE ALL: the simple-query script from then on).
   */
  resetStatements: "unprepared" | "prepared" | "lost"
  /** the reset's encoded batch and request, kept by `reset.ts` */
  resetBatch: unknown
  /**
   * Whether the session reaches PostgreSQL itself (its backend's pid is the
   * one BackendKeyData gave), not a pooler that may run the next
   * transaction on another server connection: learnt by the first reset.
   */
  direct: boolean
}

const table = new WeakMap<Wire, ClientState>()

/** The client state of `session`, made on first use. */
export const of = (session: Wire): ClientState => {
  let s = table.get(session)
  if (s === undefined) {
    s = { transactions: [], listening: undefined, resetStatements: "unprepared", resetBatch: undefined, direct: false }
    table.set(session, s)
  }
  return s
}

/** The client state of `session`, when any was made. */
export const peek = (session: Wire): ClientState | undefined => table.get(session)
