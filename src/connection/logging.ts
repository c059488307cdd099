/**
 * What a session reports besides results: the server's notices logged
 * through Effect's logger in the fiber of the query that caused them, the
 * query loggers' entries (each logger called through `safeCall`: what it
 * throws becomes a process warning, never an uncaught exception).
 *
 * Internal: not exported by the package.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Errors from "../Errors.js"
import { redactDsn } from "../errors/redact.js"
import type { LoggedQuery, QueryError } from "./query.js"
import { safeCall } from "./request.js"
import type { Session } from "./Session.js"

// ---------------------------------------------------------------------------
// notices → Effect's logger
// ---------------------------------------------------------------------------

const levelOf = (severity: string | undefined): "Warn" | "Info" | "Debug" => {
  switch (severity) {
    case "WARNING":
      return "Warn"
    case "NOTICE":
    case "INFO":
      return "Info"
    default:
      return "Debug" // LOG, DEBUG1..5
  }
}

/**
 * Logs the notices a query received, in the fiber that ran it (so its log
 * annotations and spans apply), at the level matching their severity:
 * WARNING → Warn, NOTICE/INFO → Info, LOG/DEBUG → Debug.
 */
export const logNotices = (notices: ReadonlyArray<Errors.PostgresError>): Effect.Effect<void> =>
  Effect.forEach(
    notices,
    (n) => {
      const annotations: { [k: string]: unknown } = { sqlstate: n.sqlstate, severity: n.severity }
      if (n.detail !== undefined) annotations.detail = n.detail
      if (n.hint !== undefined) annotations.hint = n.hint
      return Effect.annotateLogs(Effect.logWithLevel(levelOf(n.severity))(`PostgreSQL ${n.severity}: ${n.message}`), annotations)
    },
    { discard: true }
  )

// ---------------------------------------------------------------------------
// query loggers
// ---------------------------------------------------------------------------

/** Calls every query logger of the session with one finished query. */
export const logQuery = (
  session: Session,
  loggers: ReadonlySet<(entry: LoggedQuery) => void>,
  sql: string,
  args: ReadonlyArray<unknown> | undefined,
  startedAt: number,
  error: QueryError | undefined,
  interrupted: boolean
): void => {
  const text = redactDsn(sql)
  const entry: LoggedQuery = {
    sql: text,
    query: text,
    args: Redacted.make(args ?? [], { label: "query arguments" }),
    durationMs: performance.now() - startedAt,
    status: error === undefined && !interrupted ? session.lastStatus : undefined,
    error,
    exception: error,
    interrupted,
    processId: session.processId
  }
  for (const l of loggers) safeCall(() => l(entry))
}
