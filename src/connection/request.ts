/**
 * The contract between the session's queue and the requests in it: a
 * request receives every backend message up to its ReadyForQuery, then
 * settles once; how requests end (the error union, the callback), the
 * listeners a session calls (and how: {@link safeCall}), and the typed
 * error of an ErrorResponse.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"

/** Completion callback of every request. */
export type Callback<A> = (error: SessionError | undefined, value: A | undefined) => void

/** Every error a request can end with. */
export type SessionError =
  | Errors.PostgresError
  | Errors.PostgresConnectionError
  | Errors.ConnectionDoesNotExistError
  | Errors.InterfaceError
  | Errors.ProtocolError
  | Errors.DataError
  | Errors.OutdatedSchemaCacheError

/** A request in the queue: receives every message up to its ReadyForQuery. */
export interface Request {
  /** a message that belongs to this request */
  handle(type: number, buf: Buffer, start: number, end: number): void
  /** its ReadyForQuery arrived: settle */
  done(): void
  /** the connection died before its ReadyForQuery */
  fail(error: SessionError): void
  /** set when the caller went away: results are dropped, a cancel may be sent */
  abandoned: boolean
  /** called once settled, for an abandoned request's waiting canceler */
  onSettled: (() => void) | undefined
  /** the request holds the socket alone (COPY): later writes wait */
  readonly exclusive?: boolean
  /** written as a simple-protocol Query (a script, COPY): a reset cannot travel in its implicit transaction */
  readonly simple?: boolean
  /** the pool's own (its reset, the pid check): no borrower's work, a lease may end with it on the wire */
  internal?: boolean
  /** NoticeResponses received while this request ran (when the session collects them) */
  notices?: Array<Errors.PostgresError>
  /** when it was written (performance.now()), for server-time estimates */
  sentAt?: number
  /** the server's time on it: from when the server could start it to its ReadyForQuery, ms */
  serverMs?: number
}

/**
 * A request that can end without a Sync of its own (`Wire.sendPrelude`):
 * while `prelude` is set it settles itself on its own messages, and the
 * next request's Sync carries it; otherwise its ReadyForQuery settles it.
 */
export interface PreludeRequest extends Request {
  prelude: boolean
}

/** A Notice/Warning from the server. */
export type NoticeListener = (notice: Errors.PostgresError) => void
/** A NOTIFY on a channel this session listens to. */
export type NotificationListener = (n: Reader.Notification) => void
/** The session ended, with the reason. */
export type TerminationListener = (cause: SessionError | undefined) => void

/** Builds the typed error of an ErrorResponse/NoticeResponse body's fields. */
export const errorFromFields = (fields: Map<string, string>, query?: string): Errors.PostgresError => {
  const num = (k: string) => {
    const v = fields.get(k)
    return v === undefined ? undefined : Number(v)
  }
  return Errors.fromServerFields(
    {
      severity: fields.get("S") ?? fields.get("V") ?? "ERROR",
      severityLocal: fields.get("S"),
      code: fields.get("C") ?? "XX000",
      message: fields.get("M") ?? "unknown error",
      detail: fields.get("D"),
      hint: fields.get("H"),
      position: num("P"),
      internalPosition: num("p"),
      internalQuery: fields.get("q"),
      where: fields.get("W"),
      schema: fields.get("s"),
      table: fields.get("t"),
      column: fields.get("c"),
      dataType: fields.get("d"),
      constraint: fields.get("n"),
      file: fields.get("F"),
      line: num("L"),
      routine: fields.get("R")
    },
    query
  )
}

/** The typed error of an ErrorResponse body at `buf[start..end)`; `query` is the SQL that caused it. */
export const serverError = (buf: Buffer, start: number, end: number, query?: string): Errors.PostgresError =>
  errorFromFields(Reader.parseErrorFields(buf, start, end), query)

/**
 * Calls a user callback (a LISTEN callback, log or termination listener,
 * query logger): what it throws never breaks the protocol state of the
 * message loop that called it, nor ends the process.
 */
export const safeCall = (f: () => void): void => {
  try {
    f()
  } catch (e) {
    callbackThrew(e)
  }
}

/**
 * What a user callback threw: a process warning (stderr by default, or
 * `process.on("warning")`), never an uncaught exception that ends the process,
 * as asyncpg hands it to the loop's exception handler.
 */
const callbackThrew = (e: unknown): void => {
  const message = e instanceof Error ? e.message : String(e)
  process.emitWarning(`effect-pg: a listener, logger or callback given to a connection threw, and was ignored: ${message}`, {
    type: "EffectPgCallbackWarning",
    ...(e instanceof Error && e.stack !== undefined ? { detail: e.stack } : {})
  })
}
