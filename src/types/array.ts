/**
 * Array codecs: PostgreSQL arrays in binary and text format.
 *
 * Decoding gives nested JS arrays (one level per dimension), `null` for NULL
 * elements. Non-default lower bounds (`'[0:2]={1,2,3}'`) are dropped: the JS
 * array always starts at index 0; select `array_lower(col, 1)` if you need
 * them. Encoding accepts nested, rectangular JS arrays (`null`/`undefined`
 * elements are NULL) and always sends lower bounds of 1.
 *
 * @since 0.1.0
 */
import { Writer, fail, utf8 } from "./internal/binary.js"
import { identity, make, type Encoder, type TypeCodec } from "./internal/kit.js"

/**
 * Decodes a binary array (`array_send` format) whose elements are decoded by
 * `decodeElement`.
 */
export const decodeBinaryArray = (
  buf: Buffer,
  start: number,
  end: number,
  decodeElement: (buf: Buffer, start: number, end: number) => unknown
): Array<unknown> => {
  const ndim = buf.readInt32BE(start)
  if (ndim === 0) return []
  if (ndim === 1) {
    const n = buf.readInt32BE(start + 12)
    const out = new Array<unknown>(n)
    let pos = start + 20
    for (let i = 0; i < n; i++) {
      const len = buf.readInt32BE(pos)
      pos += 4
      if (len < 0) {
        out[i] = null
      } else {
        out[i] = decodeElement(buf, pos, pos + len)
        pos += len
      }
    }
    return out
  }
  const dims = new Array<number>(ndim)
  for (let d = 0; d < ndim; d++) dims[d] = buf.readInt32BE(start + 12 + d * 8)
  const cursor = { pos: start + 12 + ndim * 8 }
  return decodeLevel(buf, cursor, dims, 0, decodeElement)
}

const decodeLevel = (
  buf: Buffer,
  cursor: { pos: number },
  dims: ReadonlyArray<number>,
  depth: number,
  decodeElement: (buf: Buffer, start: number, end: number) => unknown
): Array<unknown> => {
  const n = dims[depth]!
  const out = new Array<unknown>(n)
  if (depth < dims.length - 1) {
    for (let i = 0; i < n; i++) out[i] = decodeLevel(buf, cursor, dims, depth + 1, decodeElement)
    return out
  }
  let pos = cursor.pos
  for (let i = 0; i < n; i++) {
    const len = buf.readInt32BE(pos)
    pos += 4
    if (len < 0) {
      out[i] = null
    } else {
      out[i] = decodeElement(buf, pos, pos + len)
      pos += len
    }
  }
  cursor.pos = pos
  return out
}

/** The dimensions of a nested JS array, or `undefined` when it has no elements. */
const dimensionsOf = (value: ReadonlyArray<unknown>, flat: boolean): Array<number> | undefined => {
  const dims: Array<number> = []
  let v: unknown = value
  while (Array.isArray(v)) {
    if (v.length === 0) return undefined
    dims.push(v.length)
    if (flat) break
    v = v[0]
  }
  return dims
}

/**
 * Encodes a nested JS array as a binary array of elements of type
 * `elementOid`, each through `encodeElement` (binary form; a string stands
 * for its UTF-8 bytes). `flat`: nested JS arrays are element values (json),
 * not dimensions.
 */
export const encodeBinaryArray = (
  value: unknown,
  elementOid: number,
  encodeElement: Encoder,
  flat = false,
  lowerBound = 1
): Buffer => {
  if (!Array.isArray(value)) return fail("an array", value)
  const dims = dimensionsOf(value, flat)
  const w = new Writer(64)
  if (dims === undefined) {
    w.int32(0)
    w.int32(0)
    w.int32(elementOid)
    return w.finish()
  }
  w.int32(dims.length)
  w.int32(0)
  w.int32(elementOid)
  for (let d = 0; d < dims.length; d++) {
    w.int32(dims[d]!)
    w.int32(lowerBound)
  }
  if (encodeLevel(w, value, dims, 0, encodeElement, flat)) w.buf.writeInt32BE(1, 4)
  return w.finish()
}

/** Writes one level; returns true when a NULL was written. */
const encodeLevel = (
  w: Writer,
  value: ReadonlyArray<unknown>,
  dims: ReadonlyArray<number>,
  depth: number,
  encodeElement: Encoder,
  flat: boolean
): boolean => {
  let hasNull = false
  const last = depth === dims.length - 1
  for (let i = 0; i < value.length; i++) {
    const v = value[i]
    if (last) {
      if (v === null || v === undefined) {
        w.int32(-1)
        hasNull = true
      } else if (Array.isArray(v) && !flat) {
        return fail("a rectangular array (sub-arrays of equal length)", value)
      } else {
        w.lengthPrefixed(encodeElement(v))
      }
    } else {
      if (!Array.isArray(v) || v.length !== dims[depth + 1]) {
        return fail("a rectangular array (sub-arrays of equal length)", v)
      }
      if (encodeLevel(w, v, dims, depth + 1, encodeElement, flat)) hasNull = true
    }
  }
  return hasNull
}

const enum Char {
  Quote = 34,
  Backslash = 92,
  OpenBrace = 123,
  CloseBrace = 125,
  OpenBracket = 91
}

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13)

/**
 * Parses the text form of an array (`{1,2,NULL}`, `{{"a b",c}}`,
 * `[0:1]={1,2}`), giving each unquoted or unescaped element string to
 * `parseElement`.
 */
export const parseTextArray = (
  text: string,
  delimiter: string,
  parseElement: (text: string) => unknown
): Array<unknown> => {
  const delim = delimiter.charCodeAt(0)
  const len = text.length
  let i = 0
  if (text.charCodeAt(0) === Char.OpenBracket) i = text.indexOf("=") + 1
  const stack: Array<Array<unknown>> = []
  let current: Array<unknown> | undefined
  let result: Array<unknown> = []
  while (i < len) {
    const c = text.charCodeAt(i)
    if (c === Char.OpenBrace) {
      const next: Array<unknown> = []
      if (current !== undefined) {
        current.push(next)
        stack.push(current)
      }
      current = next
      i++
    } else if (c === Char.CloseBrace) {
      result = current ?? result
      current = stack.pop()
      i++
    } else if (c === delim || isSpace(c)) {
      i++
    } else if (c === Char.Quote) {
      let s = ""
      let from = ++i
      for (;;) {
        const q = text.charCodeAt(i)
        if (q === Char.Backslash) {
          s += text.slice(from, i)
          from = ++i
          i++
        } else if (q === Char.Quote) {
          s += text.slice(from, i)
          i++
          break
        } else if (i >= len) {
          throw new SyntaxError(`malformed array literal: ${text}`)
        } else {
          i++
        }
      }
      current!.push(parseElement(s))
    } else {
      const from = i
      while (i < len) {
        const q = text.charCodeAt(i)
        if (q === delim || q === Char.CloseBrace) break
        i++
      }
      let to = i
      while (to > from && isSpace(text.charCodeAt(to - 1))) to--
      const token = text.slice(from, to)
      current!.push(token.length === 4 && token.toUpperCase() === "NULL" ? null : parseElement(token))
    }
  }
  return result
}

/** Quotes one element for an array or record literal. */
export const quoteElement = (s: string): string => `"${s.replace(/[\\"]/g, "\\$&")}"`

/**
 * Formats a nested JS array as an array literal, each element through
 * `formatElement` and quoted.
 */
export const formatTextArray = (value: unknown, element: TypeCodec): string => {
  if (!Array.isArray(value)) return fail(`an array of ${element.name}`, value)
  const formatElement = element.formatText
  if (formatElement === undefined) return fail(`a type with a text form (${element.name})`, value)
  return formatLevel(value, element.delimiter, formatElement, element.arrayValues)
}

const formatLevel = (
  value: ReadonlyArray<unknown>,
  delimiter: string,
  formatElement: (value: unknown) => string,
  flat: boolean
): string => {
  let out = "{"
  for (let i = 0; i < value.length; i++) {
    if (i > 0) out += delimiter
    const v = value[i]
    if (v === null || v === undefined) out += "NULL"
    else if (!flat && Array.isArray(v)) out += formatLevel(v, delimiter, formatElement, flat)
    else out += quoteElement(formatElement(v))
  }
  return out + "}"
}

/**
 * The array codec of `element`: the element's format (binary arrays of
 * binary types, text arrays of text types, so `numeric[]` elements are the
 * same strings as `numeric` values), plus the other form when the element
 * has it (for arrays inside composites and ranges). `lowerBound` is what
 * encoders send (0 for int2vector/oidvector).
 */
export const arrayCodec = (oid: number, name: string, element: TypeCodec, lowerBound = 1): TypeCodec => {
  const parseElement = element.parseText
  const delimiter = element.delimiter
  const parseText = parseElement === undefined
    ? undefined
    : (text: string) => parseTextArray(text, delimiter, parseElement)
  const formatText = element.formatText === undefined ? undefined : (value: unknown) => formatTextArray(value, element)
  const decodeElement = element.decodeBinary
  const encodeElement = element.encodeBinary
  const decodeBinary = decodeElement === undefined
    ? undefined
    : (buf: Buffer, start: number, end: number) => decodeBinaryArray(buf, start, end, decodeElement)
  const encodeBinary = encodeElement === undefined
    ? undefined
    : (value: unknown) => encodeBinaryArray(value, element.oid, encodeElement, element.arrayValues, lowerBound)
  if (element.format === 1) {
    return make(oid, name, 1, decodeBinary!, encodeBinary!, { parseText, formatText })
  }
  const parse = parseText ?? ((text: string) => parseTextArray(text, delimiter, identity))
  const format = formatText ?? ((value: unknown) => fail(`an array of a type with a text form (${element.name})`, value))
  return make(oid, name, 0, (buf, start, end) => parse(utf8(buf, start, end)), format, {
    parseText: parse,
    formatText: format,
    decodeBinary,
    encodeBinary
  })
}
