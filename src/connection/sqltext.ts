/**
 * Checks on SQL text and identifiers made before anything is sent: a NUL
 * character (the protocol's strings end at NUL, so the server would run only
 * the text before it), a lone UTF-16 surrogate (it would be written as
 * U+FFFD), and `COPY ... FROM STDIN` / `TO STDOUT` through a query method
 * (the COPY sub-protocol belongs to the copy methods).
 *
 * Each check runs once per new statement (at prepare time), not per
 * execution.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"

interface WellFormed {
  isWellFormed(): boolean
}

/** True when `s` has no lone surrogate (native `String.prototype.isWellFormed`). */
export const isWellFormed = (s: string): boolean => (s as unknown as WellFormed).isWellFormed()

const preview = (s: string): string => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s)

/**
 * An InterfaceError when `text` cannot be sent as `what` (a NUL character, a
 * lone surrogate, not a string), else `undefined`.
 */
export const checkText = (text: unknown, what: string): Errors.InterfaceError | undefined => {
  if (typeof text !== "string") {
    return new Errors.InterfaceError({ message: `the ${what} must be a string, got ${typeof text}` })
  }
  const nul = text.indexOf("\0")
  if (nul >= 0) {
    return new Errors.InterfaceError({
      message: `the ${what} contains a NUL character (at offset ${nul}): ${preview(text)}; PostgreSQL ends strings at NUL and would run only the text before it, so nothing was sent. Remove the NUL (pass data as a query argument instead)`
    })
  }
  if (!isWellFormed(text)) {
    return new Errors.InterfaceError({
      message: `the ${what} contains a lone UTF-16 surrogate: ${preview(text)}; it cannot be encoded as UTF-8 (it would become U+FFFD), so nothing was sent. Fix the string (String.prototype.toWellFormed replaces such characters)`
    })
  }
  return undefined
}

/** Checks SQL text that is about to be prepared through a query method (extended protocol). */
export const checkStatementText = (sql: string): Errors.InterfaceError | undefined => {
  const bad = checkText(sql, "SQL text")
  if (bad !== undefined) return bad
  const stdio = copyStdio(sql)
  if (stdio === undefined) return undefined
  return copyRefused(stdio)
}

/** The InterfaceError for a `COPY ... FROM STDIN` / `TO STDOUT` sent through a query method. */
export const copyRefused = (stdio: "stdin" | "stdout"): Errors.InterfaceError =>
  new Errors.InterfaceError({
    message: stdio === "stdin"
      ? "COPY ... FROM STDIN cannot run through fetch/fetchval/fetchrow/execute/executemany/fetchmany: it needs the COPY sub-protocol. Use copyToTable (bytes or a stream) or copyRecordsToTable (rows) instead"
      : "COPY ... TO STDOUT cannot run through fetch/fetchval/fetchrow/execute/executemany/fetchmany: its data would be lost. Use copyFromQuery or copyFromTable (or their Stream variants) instead"
  })

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d)

const isIdentChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24 || c >= 0x80

/** Index after the comments and blanks at `i`. */
const skipBlank = (sql: string, i: number): number => {
  const n = sql.length
  for (;;) {
    while (i < n && isSpace(sql.charCodeAt(i))) i++
    if (sql.startsWith("--", i)) {
      const nl = sql.indexOf("\n", i + 2)
      i = nl < 0 ? n : nl + 1
    } else if (sql.startsWith("/*", i)) {
      i = skipBlockComment(sql, i + 2)
    } else return i
  }
}

/** Index after a (nested) block comment whose body starts at `i` (just after its opening slash-star). */
export const skipBlockComment = (sql: string, i: number): number => {
  let depth = 1
  const n = sql.length
  while (i < n && depth > 0) {
    if (sql.startsWith("*/", i)) depth--, (i += 2)
    else if (sql.startsWith("/*", i)) depth++, (i += 2)
    else i++
  }
  return i
}

/**
 * `"stdin"` or `"stdout"` when `sql` is a COPY statement (its first keyword,
 * after comments and blanks) that names STDIN or STDOUT outside quotes and
 * comments; `undefined` otherwise. Cheap for anything that does not start
 * with COPY.
 */
export const copyStdio = (sql: string): "stdin" | "stdout" | undefined => {
  let i = skipBlank(sql, 0)
  if (!/^copy(?![\w$\u0080-\uffff])/i.test(sql.slice(i, i + 5))) return undefined
  i += 4
  const n = sql.length
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c === 0x27 /* ' */) {
      const prev = i > 0 ? sql.charCodeAt(i - 1) : 0
      const escapes = prev === 0x45 || prev === 0x65
      i++
      while (i < n) {
        const d = sql.charCodeAt(i)
        if (escapes && d === 0x5c) i += 2
        else if (d === 0x27) {
          if (sql.charCodeAt(i + 1) === 0x27) i += 2
          else break
        } else i++
      }
      i++
    } else if (c === 0x22 /* " */) {
      const close = sql.indexOf('"', i + 1)
      i = close < 0 ? n : close + 1
      // "" inside a quoted identifier: the loop sees the next quote as a new identifier
    } else if (c === 0x2d && sql.charCodeAt(i + 1) === 0x2d) {
      const nl = sql.indexOf("\n", i + 2)
      i = nl < 0 ? n : nl + 1
    } else if (c === 0x2f && sql.charCodeAt(i + 1) === 0x2a) {
      i = skipBlockComment(sql, i + 2)
    } else if (c === 0x24 /* $ */ && !(i > 0 && isIdentChar(sql.charCodeAt(i - 1)))) {
      const m = /^\$([A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 66))
      if (m === null) i++
      else {
        const close = sql.indexOf(m[0], i + m[0].length)
        i = close < 0 ? n : close + m[0].length
      }
    } else if (isIdentChar(c)) {
      let j = i + 1
      while (j < n && isIdentChar(sql.charCodeAt(j))) j++
      if (j - i === 5 || j - i === 6) {
        const word = sql.slice(i, j).toLowerCase()
        if (word === "stdin" || word === "stdout") return word
      }
      i = j
    } else i++
  }
  return undefined
}

/** PostgreSQL's identifier length limit in bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63

/**
 * An identifier as the server keeps it: cut to 63 bytes of UTF-8 at a
 * character boundary (the server does the same, with a NOTICE).
 */
export const truncateIdentifier = (name: string): string => {
  if (name.length <= MAX_IDENTIFIER_BYTES / 3) return name
  const bytes = Buffer.from(name, "utf8")
  if (bytes.length <= MAX_IDENTIFIER_BYTES) return name
  let end = MAX_IDENTIFIER_BYTES
  // back up to the start of a UTF-8 character (continuation bytes are 10xxxxxx)
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString("utf8")
}

/** The server's limit on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
const MAX_STARTUP_PACKET = 10000

/**
 * An InterfaceError when the startup parameters (user, database,
 * application_name, server settings) cannot be sent: a NUL or lone surrogate
 * in a name or value, or a packet longer than the server accepts.
 */
export const checkStartupParams = (params: Readonly<Record<string, string>>): Errors.InterfaceError | undefined => {
  let size = 9
  for (const key of Object.keys(params)) {
    const v = params[key]!
    const bad = checkText(key, "connection parameter name") ?? checkText(v, `connection parameter "${key}"`)
    if (bad !== undefined) return bad
    size += Buffer.byteLength(key) + Buffer.byteLength(v) + 2
  }
  if (size > MAX_STARTUP_PACKET) {
    return new Errors.InterfaceError({
      message: `the connection parameters (user, database, application_name, server settings) take ${size} bytes; the server accepts a startup packet of at most ${MAX_STARTUP_PACKET}. Shorten them (application_name is cut to 63 bytes by the server anyway), or set long settings with SET after connecting`
    })
  }
  return undefined
}

/** Quotes an identifier as is (case-sensitive), like asyncpg: `a"b` → `"a""b"`. */
export const quoteIdent = (name: string): string => {
  if (name.includes("\0")) throw new TypeError(`an identifier cannot contain a NUL character: ${JSON.stringify(name)}`)
  return `"${name.replace(/"/g, '""')}"`
}
