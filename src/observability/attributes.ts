/**
 * OpenTelemetry's database semantic conventions for spans and metrics:
 * the attribute keys, the attributes of a session (system, database,
 * server), and what a SQL text becomes on a span (its first keyword as the
 * operation name; literal values replaced by `?` when the query carries no
 * parameters, so no value ever reaches a trace).
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import type { Session } from "../connection/Session.js"
import { skipBlockComment } from "../connection/sqltext.js"

/** `db.system.name`: always "postgresql". */
export const DB_SYSTEM_NAME = "db.system.name"
/** `db.namespace`: the database of the session. */
export const DB_NAMESPACE = "db.namespace"
/** `db.query.text`: the SQL, without parameter values. */
export const DB_QUERY_TEXT = "db.query.text"
/** `db.operation.name`: the first keyword of the SQL (SELECT, INSERT, COPY, ...). */
export const DB_OPERATION_NAME = "db.operation.name"
/** `db.collection.name`: the table of a COPY. */
export const DB_COLLECTION_NAME = "db.collection.name"
/** `db.response.status_code`: the SQLSTATE of a server error. */
export const DB_RESPONSE_STATUS_CODE = "db.response.status_code"
/** `error.type`: the SQLSTATE of a server error, else the error's tag. */
export const ERROR_TYPE = "error.type"
/** `server.address`: host name, IP or Unix socket path. */
export const SERVER_ADDRESS = "server.address"
/** `server.port`: TCP port. */
export const SERVER_PORT = "server.port"
/** `db.client.connection.pool.name`: the pool's `name` option. */
export const POOL_NAME = "db.client.connection.pool.name"

/** The value of {@link DB_SYSTEM_NAME}. */
export const SYSTEM = "postgresql"

/** Longest `db.query.text` put on a span (characters); longer text is cut. */
const MAX_TEXT = 4096
/** Entries kept per cache before it is emptied. */
const CACHE_SIZE = 1000

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13)
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isIdent = (c: number): boolean => isLetter(c) || isDigit(c) || c === 95 || c === 36 || c >= 128

/** Index after a `--` or (nested) `/* *\/` comment starting at `i`, or `i` when none starts there. */
const skipComment = (sql: string, i: number): number => {
  const c = sql.charCodeAt(i)
  const n = sql.charCodeAt(i + 1)
  if (c === 45 && n === 45) {
    const end = sql.indexOf("\n", i + 2)
    return end < 0 ? sql.length : end + 1
  }
  if (c === 47 && n === 42) return skipBlockComment(sql, i + 2)
  return i
}

const operations = new Map<string, string>()

/**
 * The first keyword of `sql`, upper-cased (`"SELECT"`, `"WITH"`,
 * `"COPY"`), past comments and opening parentheses; `""` when there is
 * none.
 */
export const operationName = (sql: string): string => {
  const known = operations.get(sql)
  if (known !== undefined) return known
  let i = 0
  while (i < sql.length) {
    const c = sql.charCodeAt(i)
    if (isSpace(c) || c === 40) {
      i++
      continue
    }
    const j = skipComment(sql, i)
    if (j === i) break
    i = j
  }
  let end = i
  while (end < sql.length && isLetter(sql.charCodeAt(end))) end++
  const op = sql.slice(i, end).toUpperCase()
  if (operations.size >= CACHE_SIZE) operations.clear()
  operations.set(sql, op)
  return op
}

/** Index after the quoted literal opened at `i` (`'...'`, with `''` inside; backslash escapes when `escapes`). */
const skipQuoted = (sql: string, i: number, escapes: boolean): number => {
  let j = i + 1
  while (j < sql.length) {
    const c = sql.charCodeAt(j)
    if (escapes && c === 92) {
      j += 2
      continue
    }
    if (c === 39) {
      if (sql.charCodeAt(j + 1) === 39) {
        j += 2
        continue
      }
      return j + 1
    }
    j++
  }
  return sql.length
}

/** The dollar-quote tag (`$$`, `$tag$`) starting at `i`, or undefined. */
const dollarTag = (sql: string, i: number): string | undefined => {
  let j = i + 1
  while (j < sql.length && isIdent(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++
  if (sql.charCodeAt(j) !== 36) return undefined
  const tag = sql.slice(i, j + 1)
  // `$1` is a parameter, not a tag
  return isDigit(tag.charCodeAt(1)) ? undefined : tag
}

/**
 * `sql` with every literal value replaced by `?`: quoted strings (also
 * `E'...'`, `B'...'`, `X'...'`, `N'...'`), dollar-quoted strings and
 * numbers. Identifiers (also `"quoted"` ones), keywords, comments and `$n`
 * parameters stay.
 */
export const sanitize = (sql: string): string => {
  let out = ""
  let from = 0
  let i = 0
  const emit = (start: number, end: number): void => {
    out += sql.slice(from, start) + "?"
    from = end
  }
  while (i < sql.length) {
    const c = sql.charCodeAt(i)
    const afterComment = skipComment(sql, i)
    if (afterComment !== i) {
      i = afterComment
    } else if (c === 39) {
      const end = skipQuoted(sql, i, false)
      emit(i, end)
      i = end
    } else if (c === 34) {
      // a quoted identifier: kept
      const end = sql.indexOf('"', i + 1)
      i = end < 0 ? sql.length : end + 1
    } else if (c === 36) {
      const tag = dollarTag(sql, i)
      if (tag === undefined) {
        // `$1`: a parameter
        i++
        while (i < sql.length && isDigit(sql.charCodeAt(i))) i++
      } else {
        const close = sql.indexOf(tag, i + tag.length)
        const end = close < 0 ? sql.length : close + tag.length
        emit(i, end)
        i = end
      }
    } else if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      let end = i
      while (end < sql.length && (isIdent(sql.charCodeAt(end)) || sql.charCodeAt(end) === 46)) {
        const e = sql.charCodeAt(end)
        end++
        // an exponent's sign: 1e-5
        if ((e === 101 || e === 69) && (sql.charCodeAt(end) === 45 || sql.charCodeAt(end) === 43)) end++
      }
      emit(i, end)
      i = end
    } else if (isIdent(c)) {
      let end = i
      while (end < sql.length && isIdent(sql.charCodeAt(end))) end++
      // a one-letter prefix of a string literal: E'..', B'..', X'..', N'..'
      if (end === i + 1 && sql.charCodeAt(end) === 39 && /[ebxnEBXN]/.test(sql[i]!)) {
        const close = skipQuoted(sql, end, c === 101 || c === 69)
        emit(i, close)
        i = close
      } else i = end
    } else i++
  }
  return out + sql.slice(from)
}

const texts = new Map<string, string>()
const sanitizedTexts = new Map<string, string>()

/**
 * What `db.query.text` shows for `sql`: the text as written when the
 * values travel as parameters, else with its literals replaced by `?`;
 * cut at 4 KiB.
 */
export const queryText = (sql: string, parameterized: boolean): string => {
  const cache = parameterized ? texts : sanitizedTexts
  const known = cache.get(sql)
  if (known !== undefined) return known
  let text = parameterized ? sql : sanitize(sql)
  if (text.length > MAX_TEXT) text = text.slice(0, MAX_TEXT) + "…"
  if (cache.size >= CACHE_SIZE) cache.clear()
  cache.set(sql, text)
  return text
}

/** The attributes every span of `session` carries: system, database, server address and port. */
export const sessionAttributes = (session: Session): Record<string, unknown> => {
  const target = session.target
  const attrs: Record<string, unknown> = {
    [DB_SYSTEM_NAME]: SYSTEM,
    [DB_NAMESPACE]: session.options.database,
    [SERVER_ADDRESS]: target.kind === "unix" ? (target.path ?? target.host) : target.host
  }
  if (target.kind === "tcp") attrs[SERVER_PORT] = target.port
  return attrs
}

/**
 * `error.type` of a failure: the SQLSTATE of a server error, else the
 * error's `_tag` (`"CommandTimeoutError"`), else `"_OTHER"`.
 */
export const errorType = (error: unknown): string => {
  if (Errors.isPostgresError(error)) return error.sqlstate
  const tag = (error as { _tag?: unknown } | null | undefined)?._tag
  return typeof tag === "string" ? tag : "_OTHER"
}

/**
 * The SQLSTATE class of a server error (`"23"`), else the error's tag:
 * the low-cardinality key the error counter is split by.
 */
export const errorClass = (error: unknown): string =>
  Errors.isPostgresError(error) ? Errors.sqlstateClass(error) : errorType(error)

/** The span attributes of a failure: `error.type`, and `db.response.status_code` for a server error. */
export const failureAttributes = (error: unknown): Record<string, unknown> =>
  Errors.isPostgresError(error)
    ? { [ERROR_TYPE]: error.sqlstate, [DB_RESPONSE_STATUS_CODE]: error.sqlstate }
    : { [ERROR_TYPE]: errorType(error) }
