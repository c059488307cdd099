/**
 * Codecs for the character types, bytea, uuid and the JSON types.
 *
 * Text-like types use binary format 1: their binary form is the UTF-8 text
 * itself, so asking for binary costs nothing and lets the engine request
 * binary results for every column.
 *
 * @since 0.1.0
 */
import { fail, utf8 } from "./internal/binary.js"
import { binary, identity, type TypeCodec } from "./internal/kit.js"

const WELL_FORMED = "a well-formed string (this one has a lone UTF-16 surrogate, which UTF-8 cannot carry: it would be stored as U+FFFD; String.prototype.toWellFormed replaces it)"

/**
 * Returns a string or throws `EncodeError`; a string with a lone UTF-16
 * surrogate is refused (UTF-8 cannot carry it: it would silently become
 * U+FFFD). `isWellFormed` is native and returns at once for one-byte strings.
 */
export const encodeString = (value: unknown): string =>
  typeof value === "string"
    ? (value as unknown as { isWellFormed(): boolean }).isWellFormed()
      ? value
      : fail(WELL_FORMED, value)
    : fail("a string", value)

/**
 * text, varchar, bpchar, name, xml, refcursor, citext, enums, unknown:
 * binary (= UTF-8 text), decoded to a string; encodes strings only.
 */
export const textLike = (oid: number, name: string): TypeCodec =>
  binary(oid, name, utf8, encodeString, { parseText: identity, formatText: encodeString })

// ---------------------------------------------------------------------------
// "char": one byte
// ---------------------------------------------------------------------------

/** Decodes `"char"` like its text output: NUL as "", high bytes as `\ooo`. */
export const decodeChar = (buf: Buffer, start: number, end: number): string => {
  const b = end === start ? 0 : buf[start]!
  return b === 0 ? "" : b < 128 ? String.fromCharCode(b) : "\\" + b.toString(8).padStart(3, "0")
}

/** Encodes `"char"`: an empty string, one ASCII character, or `\ooo`. */
export const encodeChar = (value: unknown): Uint8Array => {
  if (typeof value === "string") {
    if (value.length === 0) return Uint8Array.of(0)
    if (value.length === 1 && value.charCodeAt(0) < 128) return Uint8Array.of(value.charCodeAt(0))
    if (/^\\[0-3][0-7]{2}$/.test(value)) return Uint8Array.of(parseInt(value.slice(1), 8))
  }
  return fail('a "char": one ASCII character, "" or "\\ooo"', value)
}

/** `"char"` (OID 18): binary, one byte as a one-character string. */
export const char = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeChar, encodeChar, { parseText: identity, formatText: encodeString })

// ---------------------------------------------------------------------------
// bytea
// ---------------------------------------------------------------------------

/** Decodes bytea to a fresh Buffer (a copy: the read buffer is reused). */
export const decodeBytea = (buf: Buffer, start: number, end: number): Buffer => {
  const out = Buffer.allocUnsafe(end - start)
  buf.copy(out, 0, start, end)
  return out
}

/** Encodes a Buffer/Uint8Array as bytea (sent as is, no copy). */
export const encodeBytea = (value: unknown): Uint8Array =>
  value instanceof Uint8Array ? value : fail("a Buffer or Uint8Array", value)

/** Parses bytea text output (`\x` hex, or the legacy escape format). */
export const parseByteaText = (s: string): Buffer => {
  if (s.startsWith("\\x")) return Buffer.from(s.slice(2), "hex")
  const out: Array<number> = []
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c !== 92) out.push(c)
    else if (s.charCodeAt(i + 1) === 92) out.push(92), i++
    else out.push(parseInt(s.slice(i + 1, i + 4), 8)), (i += 3)
  }
  return Buffer.from(out)
}

const formatBytea = (value: unknown): string => "\\x" + Buffer.from(encodeBytea(value)).toString("hex")

/** bytea: binary, decoded to a Buffer. */
export const bytea = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeBytea, encodeBytea, { parseText: parseByteaText, formatText: formatBytea })

// ---------------------------------------------------------------------------
// uuid
// ---------------------------------------------------------------------------

const HEX: ReadonlyArray<string> = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/** Decodes a binary uuid to its canonical lower-case string (byte → hex table: ~3x faster than hexSlice calls). */
export const decodeUuid = (buf: Buffer, s: number): string =>
  HEX[buf[s]!]! + HEX[buf[s + 1]!] + HEX[buf[s + 2]!] + HEX[buf[s + 3]!] + "-" +
  HEX[buf[s + 4]!] + HEX[buf[s + 5]!] + "-" +
  HEX[buf[s + 6]!] + HEX[buf[s + 7]!] + "-" +
  HEX[buf[s + 8]!] + HEX[buf[s + 9]!] + "-" +
  HEX[buf[s + 10]!] + HEX[buf[s + 11]!] + HEX[buf[s + 12]!] + HEX[buf[s + 13]!] + HEX[buf[s + 14]!] + HEX[buf[s + 15]!]

/**
 * What PostgreSQL's uuid input accepts: 32 hex digits, a hyphen allowed after
 * any group of four (not at the end), the whole optionally in braces.
 */
const UUID = /^(?:\{[0-9a-f]{4}(?:-?[0-9a-f]{4}){7}\}|[0-9a-f]{4}(?:-?[0-9a-f]{4}){7})$/i
const UUID_EXPECTED = "a UUID string (32 hex digits, optionally with hyphens after groups of four, optionally in braces)"

/** Encodes a uuid string in any form PostgreSQL accepts. */
export const encodeUuid = (value: unknown): Uint8Array => {
  if (typeof value !== "string" || !UUID.test(value)) return fail(UUID_EXPECTED, value)
  // the common canonical form: 36 characters, hyphens at 8, 13, 18, 23
  const canonical = value.length === 36 && value[8] === "-" && value[13] === "-" && value[18] === "-" && value[23] === "-"
  const hex = canonical ? value.slice(0, 8) + value.slice(9, 13) + value.slice(14, 18) + value.slice(19, 23) + value.slice(24) : value.replace(/[{}-]/g, "")
  return Buffer.from(hex, "hex")
}

const formatUuid = (value: unknown): string => {
  if (typeof value === "string" && UUID.test(value)) return value
  return fail(UUID_EXPECTED, value)
}

/** uuid: binary (16 bytes), decoded to a lower-case string. */
export const uuid = (oid: number, name: string): TypeCodec =>
  binary(oid, name, decodeUuid, encodeUuid, { parseText: identity, formatText: formatUuid })

// ---------------------------------------------------------------------------
// json / jsonb / jsonpath
// ---------------------------------------------------------------------------

/** How JSON text is parsed and produced. */
export interface JsonOptions {
  readonly parse: (text: string) => unknown
  readonly stringify: (value: unknown) => string | undefined
}

/** `JSON.parse` / `JSON.stringify`. */
export const defaultJson: JsonOptions = { parse: JSON.parse, stringify: JSON.stringify }

const JSON_EXPECTED = "a JSON-serializable value"

const stringifier = (stringify: JsonOptions["stringify"]) => (value: unknown): string => {
  let s: string | undefined
  try {
    s = stringify(value)
  } catch {
    return fail(JSON_EXPECTED, value)
  }
  return typeof s === "string" ? s : fail(JSON_EXPECTED, value)
}

/**
 * json: binary (= the JSON text), decoded with `parse`; every value is
 * encoded with `stringify` (a JS string becomes a JSON string: pass
 * pre-serialized JSON text through `$1::text::json` instead).
 *
 * The JSON value `null` (`'null'::jsonb`) decodes to `null`, like SQL NULL:
 * to tell them apart, select `jsonb_typeof(col)` or `col::text`, or give the
 * registry a `json.parse` (`RegistryOptions.json`) that keeps the raw text.
 */
export const json = (oid: number, name: string, options: JsonOptions): TypeCodec => {
  const parse = options.parse
  const toText = stringifier(options.stringify)
  return binary(oid, name, (buf, start, end) => parse(utf8(buf, start, end)), toText, {
    parseText: parse,
    formatText: toText,
    arrayValues: true
  })
}

/** jsonb: binary (version byte 1 + JSON text), like json otherwise (`'null'::jsonb` decodes to `null` too). */
export const jsonb = (oid: number, name: string, options: JsonOptions): TypeCodec => {
  const parse = options.parse
  const toText = stringifier(options.stringify)
  return binary(oid, name, (buf, start, end) => parse(utf8(buf, start + 1, end)), (value) => versioned(toText(value)), {
    parseText: parse,
    formatText: toText,
    arrayValues: true
  })
}

/** One version byte (1) followed by the UTF-8 text. */
export const versioned = (s: string): Buffer => {
  const n = Buffer.byteLength(s, "utf8")
  const out = Buffer.allocUnsafe(n + 1)
  out[0] = 1
  out.write(s, 1, n, "utf8")
  return out
}

/** jsonpath: binary (version byte 1 + text), as a string. */
export const jsonpath = (oid: number, name: string): TypeCodec =>
  binary(oid, name, (buf, start, end) => utf8(buf, start + 1, end), (value) => versioned(encodeString(value)), {
    parseText: identity,
    formatText: encodeString
  })
