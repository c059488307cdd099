/**
 * A prepared statement as the session keeps it: name, SQL, state, the
 * parameter and result codecs and formats, and what the lane timing learnt.
 *
 * Internal: not exported by the package.
 */
import type * as Reader from "../protocol/Reader.js"
import type { Codec } from "../types/Codec.js"
import type { TypeRegistry } from "../types/Registry.js"
import type { SessionError } from "./request.js"

/** A prepared statement, cached by SQL text or used once. */
export interface Statement {
  /** "" for a description of the unnamed statement (nothing kept on the server) */
  readonly name: string
  readonly sql: string
  /** owned by a cache of the session (a named one is closed when evicted) */
  readonly cached: boolean
  /**
   * a description only: each execution parses the SQL again as the unnamed
   * statement, in the same unit as its Bind/Execute
   */
  readonly unnamed: boolean
  /**
   * one of the driver's own queries (introspection, type lookups): built-in
   * codecs with the default options and plain Records, whatever codecs the
   * user set on the session
   */
  readonly builtin?: boolean | undefined
  /** unnamed: the RowDescription body of a portal whose columns matched, to compare later ones cheaply */
  portalRowDescription?: Buffer
  state: "preparing" | "ready" | "failed"
  waiters: Array<(error: SessionError | undefined) => void>
  paramOids: Array<number>
  fields: Array<Reader.FieldDescription>
  paramCodecs: Array<Codec>
  paramFormats: Array<number>
  resultCodecs: Array<Codec>
  resultFormats: Array<number>
  make: ((values: Array<unknown>) => unknown) | undefined
  /** the registry the codecs came from (the session replaces its registry when it forgets introspected types) */
  registry?: TypeRegistry | undefined
  preparedAt: number
  /** the SQL calls functions that change session state (advisory locks, set_config) */
  touchesSession: boolean
  /** moving average of the server's time per execution, ms (undefined until measured) */
  serverMs: number | undefined
}
