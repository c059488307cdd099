/**
 * What a session tells its users besides query results: LISTEN/NOTIFY
 * callbacks by channel, server notices (log listeners and Effect's logger),
 * termination, and the query loggers. State lives per session, so every
 * view of a pooled connection shares it and a pool's reset clears it.
 *
 * Internal: not exported by the package.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { SessionHandle } from "./Core.js"
import type { QueryError } from "./query.js"
import * as Errors from "../Errors.js"
import { checkText, quoteIdent, truncateIdentifier } from "./sqltext.js"
import type { Notification } from "../protocol/Reader.js"
import * as ClientState from "./clientState.js"
import type { Listening, NotificationCallback } from "./clientState.js"
import { safeCall, type NoticeListener } from "./request.js"
import type { Session } from "./Session.js"

export type { NotificationCallback }

const stateOf = (session: Session): Listening => {
  const client = ClientState.of(session)
  let s = client.listening
  if (s === undefined) {
    const created: Listening = { channels: new Map(), logListeners: new Set(), streams: new Set() }
    s = created
    client.listening = created
    session.notificationListeners.add((n) => {
      const callbacks = created.channels.get(n.channel)
      if (callbacks !== undefined) for (const cb of callbacks) safeCall(() => cb(n))
    })
  }
  return s
}

/**
 * The channel name as the server keeps it: refused when it has a NUL or a
 * lone surrogate, cut to 63 bytes at a character boundary like the server
 * cuts identifiers (so notifications, which carry the cut name, find it).
 */
const channelName = (channel: string): string | Errors.InterfaceError => {
  const bad = checkText(channel, "channel name")
  return bad !== undefined ? bad : truncateIdentifier(channel)
}

/** Adds a callback for `channel`, sending LISTEN for the channel's first one. */
export const addListener = (conn: SessionHandle, given: string, callback: NotificationCallback): Effect.Effect<void, QueryError> =>
  Effect.suspend(() => {
    const bad = conn.guard()
    if (bad !== undefined) return Effect.fail(bad)
    const channel = channelName(given)
    if (typeof channel !== "string") return Effect.fail(channel)
    const { channels } = stateOf(conn.session)
    const existing = channels.get(channel)
    if (existing !== undefined) {
      existing.add(callback)
      return Effect.void
    }
    const callbacks = new Set([callback])
    channels.set(channel, callbacks)
    return conn.execute(`LISTEN ${quoteIdent(channel)}`).pipe(
      Effect.tapError(() =>
        Effect.sync(() => {
          if (channels.get(channel) === callbacks) channels.delete(channel)
        })
      ),
      Effect.asVoid
    )
  })

/** Removes a callback; UNLISTEN when it was the channel's last. Nothing to do on a closed connection. */
export const removeListener = (conn: SessionHandle, given: string, callback: NotificationCallback): Effect.Effect<void, QueryError> =>
  Effect.suspend(() => {
    const channel = channelName(given)
    if (typeof channel !== "string") return Effect.void
    const s = ClientState.peek(conn.session)?.listening
    const callbacks = s?.channels.get(channel)
    if (callbacks === undefined || !callbacks.delete(callback)) return Effect.void
    if (callbacks.size > 0) return Effect.void
    s!.channels.delete(channel)
    if (conn.session.closed || conn.guard() !== undefined) return Effect.void
    return Effect.asVoid(conn.execute(`UNLISTEN ${quoteIdent(channel)}`))
  })

/**
 * The notifications of `channel` as a stream: LISTEN when it starts,
 * UNLISTEN when it ends; fails when the connection closes.
 */
export const listen = (conn: SessionHandle, channel: string): Stream.Stream<Notification, QueryError> =>
  Stream.callback<Notification, QueryError>((queue) =>
    Effect.gen(function* () {
      const onNotify: NotificationCallback = (n) => {
        Queue.offerUnsafe(queue, n)
      }
      const onClose = (error: QueryError | undefined) => {
        if (error !== undefined) Queue.failCauseUnsafe(queue, Cause.fail(error))
        else Queue.endUnsafe(queue)
      }
      // a reset or the end of the lease forgets the callback: the stream fails then instead of waiting forever
      const onForget = (error: Errors.InterfaceError) => {
        Queue.failCauseUnsafe(queue, Cause.fail(error))
      }
      yield* Effect.acquireRelease(addListener(conn, channel, onNotify), () =>
        Effect.ignore(removeListener(conn, channel, onNotify))
      )
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          conn.session.terminationListeners.add(onClose)
          stateOf(conn.session).streams.add(onForget)
        }),
        () =>
          Effect.sync(() => {
            conn.session.terminationListeners.delete(onClose)
            ClientState.peek(conn.session)?.listening?.streams.delete(onForget)
          })
      )
    })
  )

/** Adds a notice listener (NOTICE, WARNING, ... from the server). */
export const addLogListener = (session: Session, listener: NoticeListener): void => {
  stateOf(session).logListeners.add(listener)
  session.noticeListeners.add(listener)
}

/** Removes a notice listener. */
export const removeLogListener = (session: Session, listener: NoticeListener): void => {
  ClientState.peek(session)?.listening?.logListeners.delete(listener)
  session.noticeListeners.delete(listener)
}

/** Forgets LISTEN callbacks and log listeners (a reset sends UNLISTEN *). */
export const clear = (session: Session): void => {
  const s = ClientState.peek(session)?.listening
  if (s === undefined) return
  s.channels.clear()
  for (const l of s.logListeners) session.noticeListeners.delete(l)
  s.logListeners.clear()
  if (s.streams.size > 0) {
    const ends = [...s.streams]
    s.streams.clear()
    const error = new Errors.InterfaceError({
      message: "the LISTEN stream ended: its connection was reset or released to the pool (UNLISTEN *); listen again on a connection you hold"
    })
    for (const end of ends) end(error)
  }
}
