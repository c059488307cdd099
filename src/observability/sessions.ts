/**
 * What observability knows about each session, kept beside it (the session
 * class stays untouched): the pool it belongs to (its meter, name and
 * `tracing` option) and its span attributes, computed once.
 *
 * Internal: not exported by the package.
 */
import type { Session } from "../connection/Session.js"
import { POOL_NAME, sessionAttributes } from "./attributes.js"
import type { PoolMeter } from "./meter.js"

/** The observability side of one session. */
export interface SessionInfo {
  /** the meter of the pool that owns the session; undefined for a connection of its own */
  readonly meter: PoolMeter | undefined
  /** false: the pool was made with `tracing: false` */
  readonly tracing: boolean
  /** the pool's name, for span attributes */
  readonly poolName: string | undefined
  /** span attributes of the session (computed on the first traced query) */
  attributes: Record<string, unknown> | undefined
}

const infos = new WeakMap<Session, SessionInfo>()

/** Marks `session` as a connection of a pool. */
export const adopt = (session: Session, meter: PoolMeter, tracing: boolean, poolName: string): void => {
  infos.set(session, { meter, tracing, poolName, attributes: undefined })
}

/** The pool meter of `session`, if a pool owns it: one WeakMap lookup per query. */
export const meterOf = (session: Session): PoolMeter | undefined => infos.get(session)?.meter

/** False when the pool that owns `session` was made with `tracing: false`. */
export const tracingAllowed = (session: Session): boolean => infos.get(session)?.tracing ?? true

/** The span attributes of `session` (system, database, server, pool name), computed once. */
export const attributesOf = (session: Session): Record<string, unknown> => {
  let info = infos.get(session)
  if (info === undefined) {
    info = { meter: undefined, tracing: true, poolName: undefined, attributes: undefined }
    infos.set(session, info)
  }
  if (info.attributes === undefined) {
    const attrs = sessionAttributes(session)
    if (info.poolName !== undefined) attrs[POOL_NAME] = info.poolName
    info.attributes = attrs
  }
  return info.attributes
}
