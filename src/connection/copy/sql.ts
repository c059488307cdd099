/**
 * SQL text for COPY: identifier and literal quoting, the option list, and
 * inlining query arguments as literals (COPY takes no parameters).
 *
 * Internal: not exported by the package.
 */

export { quoteIdent } from "../sqltext.js"
import { quoteIdent, skipBlockComment } from "../sqltext.js"

/** Quotes a string literal; a backslash makes it an `E''` literal so any `standard_conforming_strings` reads it right. */
export const quoteLiteral = (value: string): string => {
  if (value.includes("\0")) throw new TypeError(`a string literal cannot contain a NUL character: ${JSON.stringify(value)}`)
  const quoted = value.replace(/'/g, "''")
  return value.includes("\\") ? `E'${quoted.replace(/\\/g, "\\\\")}'` : `'${quoted}'`
}

/** `"schema"."table"`, or `"table"` (search_path, temporary tables included). */
export const qualifiedName = (table: string, schemaName: string | undefined): string =>
  schemaName === undefined ? quoteIdent(table) : `${quoteIdent(schemaName)}.${quoteIdent(table)}`

/** ` ("a", "b")`, or "" for all columns. */
export const columnList = (columns: ReadonlyArray<string> | undefined): string =>
  columns === undefined || columns.length === 0 ? "" : ` (${columns.map(quoteIdent).join(", ")})`

/** The options of one COPY, as given by the caller (unset ones are left out). */
export interface CopyOptionValues {
  readonly format?: string | undefined
  readonly freeze?: boolean | undefined
  readonly delimiter?: string | undefined
  readonly null?: string | undefined
  readonly header?: boolean | "match" | undefined
  readonly quote?: string | undefined
  readonly escape?: string | undefined
  readonly forceQuote?: boolean | ReadonlyArray<string> | undefined
  readonly forceNotNull?: ReadonlyArray<string> | undefined
  readonly forceNull?: ReadonlyArray<string> | undefined
  readonly encoding?: string | undefined
}

const FORMATS = new Set(["text", "csv", "binary"])

/**
 * The `(FORMAT csv, HEADER true, ...)` clause with only the options given,
 * or "" when none is. Throws a `TypeError` for a value that cannot be valid.
 */
export const formatCopyOptions = (o: CopyOptionValues): string => {
  const opts: Array<string> = []
  if (o.format !== undefined) {
    const f = o.format.toLowerCase()
    if (!FORMATS.has(f)) throw new TypeError(`format must be "text", "csv" or "binary", got ${JSON.stringify(o.format)}`)
    opts.push(`FORMAT ${f}`)
  }
  if (o.freeze !== undefined) opts.push(`FREEZE ${o.freeze ? "true" : "false"}`)
  if (o.delimiter !== undefined) opts.push(`DELIMITER ${quoteLiteral(o.delimiter)}`)
  if (o.null !== undefined) opts.push(`NULL ${quoteLiteral(o.null)}`)
  if (o.header !== undefined) opts.push(`HEADER ${o.header === "match" ? "match" : o.header ? "true" : "false"}`)
  if (o.quote !== undefined) opts.push(`QUOTE ${quoteLiteral(o.quote)}`)
  if (o.escape !== undefined) opts.push(`ESCAPE ${quoteLiteral(o.escape)}`)
  if (o.forceQuote !== undefined) {
    if (o.forceQuote === true) opts.push("FORCE_QUOTE *")
    else if (o.forceQuote !== false && o.forceQuote.length > 0) opts.push(`FORCE_QUOTE (${o.forceQuote.map(quoteIdent).join(", ")})`)
  }
  if (o.forceNotNull !== undefined && o.forceNotNull.length > 0) {
    opts.push(`FORCE_NOT_NULL (${o.forceNotNull.map(quoteIdent).join(", ")})`)
  }
  if (o.forceNull !== undefined && o.forceNull.length > 0) opts.push(`FORCE_NULL (${o.forceNull.map(quoteIdent).join(", ")})`)
  if (o.encoding !== undefined) opts.push(`ENCODING ${quoteLiteral(o.encoding)}`)
  return opts.length === 0 ? "" : ` (${opts.join(", ")})`
}

/** Removes trailing semicolons and blanks so the query can sit inside `COPY (...)`. */
export const trimQuery = (sql: string): string => sql.replace(/[\s;]+$/, "")

// ---------------------------------------------------------------------------
// $n placeholders
// ---------------------------------------------------------------------------

const isIdentChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24 || c >= 0x80

const isIdentStart = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80

/** One `$n` placeholder in SQL text: where it is and its number. */
export interface Placeholder {
  readonly start: number
  readonly end: number
  readonly index: number
}

/**
 * Finds the `$n` parameter references of `sql`, skipping string literals
 * (`'...'`, `E'...'`), quoted identifiers, dollar-quoted strings and comments,
 * like PostgreSQL's lexer. `backslashQuotes` is true when
 * `standard_conforming_strings` is off (backslashes escape in plain strings).
 */
export const findPlaceholders = (sql: string, backslashQuotes = false): Array<Placeholder> => {
  const out: Array<Placeholder> = []
  const n = sql.length
  let i = 0
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c === 0x27 /* ' */) {
      const prev = i > 0 ? sql.charCodeAt(i - 1) : 0
      const escapes = backslashQuotes || ((prev === 0x45 || prev === 0x65) && !(i > 1 && isIdentChar(sql.charCodeAt(i - 2))))
      i = skipString(sql, i + 1, escapes)
    } else if (c === 0x22 /* " */) {
      i = skipQuoted(sql, i + 1, 0x22)
    } else if (c === 0x2d /* - */ && sql.charCodeAt(i + 1) === 0x2d) {
      const nl = sql.indexOf("\n", i + 2)
      i = nl < 0 ? n : nl + 1
    } else if (c === 0x2f /* / */ && sql.charCodeAt(i + 1) === 0x2a) {
      i = skipBlockComment(sql, i + 2)
    } else if (c === 0x24 /* $ */) {
      if (i > 0 && isIdentChar(sql.charCodeAt(i - 1))) {
        i++ // part of an identifier (a$1)
        continue
      }
      let j = i + 1
      while (j < n && sql.charCodeAt(j) >= 0x30 && sql.charCodeAt(j) <= 0x39) j++
      if (j > i + 1) {
        out.push({ start: i, end: j, index: Number(sql.slice(i + 1, j)) })
        i = j
        continue
      }
      // dollar quote: $tag$ ... $tag$
      j = i + 1
      if (j < n && isIdentStart(sql.charCodeAt(j))) {
        j++
        while (j < n && isIdentChar(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 0x24) j++
      }
      if (sql.charCodeAt(j) === 0x24) {
        const tag = sql.slice(i, j + 1)
        const close = sql.indexOf(tag, j + 1)
        i = close < 0 ? n : close + tag.length
      } else i++
    } else i++
  }
  return out
}

const skipString = (sql: string, i: number, escapes: boolean): number => {
  const n = sql.length
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (escapes && c === 0x5c) i += 2
    else if (c === 0x27) {
      if (sql.charCodeAt(i + 1) === 0x27) i += 2
      else return i + 1
    } else i++
  }
  return n
}

const skipQuoted = (sql: string, i: number, q: number): number => {
  const n = sql.length
  while (i < n) {
    if (sql.charCodeAt(i) === q) {
      if (sql.charCodeAt(i + 1) === q) i += 2
      else return i + 1
    } else i++
  }
  return n
}

/** Replaces each `$n` placeholder with `replacements[n - 1]`. */
export const replacePlaceholders = (
  sql: string,
  placeholders: ReadonlyArray<Placeholder>,
  replacements: ReadonlyArray<string>
): string => {
  let out = ""
  let at = 0
  for (const p of placeholders) {
    out += sql.slice(at, p.start) + replacements[p.index - 1]!
    at = p.end
  }
  return out + sql.slice(at)
}
