/**
 * Composite (row) type codecs: binary records when every attribute has a
 * binary form, text records otherwise. Values decode to plain objects keyed
 * by attribute name; parameters may be such objects (missing attributes are
 * NULL) or tuples in attribute order (so in arrays of composites a nested JS
 * array is a tuple, not a dimension: such arrays are one-dimensional).
 *
 * Also the anonymous `record` type (`SELECT (1, 'a')`): decoded to a tuple
 * (array) using the field type OIDs the server sends; it cannot be a
 * parameter.
 *
 * @since 0.1.0
 */
import { EncodeError } from "./Codec.js"
import { fail, utf8, Writer } from "./internal/binary.js"
import { make, type TypeCodec } from "./internal/kit.js"
import { quoteElement } from "./array.js"
import { encodeFallback } from "./fallback.js"

const COMPOSITE_EXPECTED = "an object keyed by attribute name or an array in attribute order"

/**
 * A composite value that does not have the attributes its codec was built
 * for (asyncpg's OutdatedSchemaCacheError): the type changed (ALTER TYPE)
 * since it was introspected. The engine forgets its introspected types and
 * reports it as a typed error; the next call introspects the type again.
 *
 * @since 0.1.0
 */
export class OutdatedTypeError extends Error {
  constructor(
    /** the composite type's name */
    readonly typeName: string,
    /** what differs, e.g. "unexpected number of attributes of composite type: 3, expected 2" */
    readonly why: string,
    /** the 1-based attribute where it differs, when it is one */
    readonly position?: number
  ) {
    super(`${why} (type ${typeName} changed since it was introspected)`)
    this.name = "OutdatedTypeError"
  }
}

/** The attribute count a record's header gives, checked against the codec's (asyncpg's ERRNUM). */
const checkCount = (name: string, n: number, expected: number): void => {
  if (n !== expected) throw new OutdatedTypeError(name, `unexpected number of attributes of composite type: ${n}, expected ${expected}`)
}

/** An attribute's type OID on the wire, checked against the codec's (asyncpg's ERRTYP). */
const checkAttrType = (name: string, i: number, oid: number, expected: number): void => {
  if (oid !== expected) {
    throw new OutdatedTypeError(name, `unexpected data type of composite type attribute ${i + 1}: OID ${oid}, expected ${expected}`, i + 1)
  }
}

/** Sets `obj[key] = value` as an own property, even for `__proto__`. */
const setField = (obj: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
  else obj[key] = value
}

/** The first own enumerable key of `v` that is not an attribute name. */
const unknownKey = (v: Record<string, unknown>, names: ReadonlyArray<string>): string | undefined =>
  Object.keys(v).find((k) => !names.includes(k))

/**
 * The attribute values of a composite parameter, in attribute order. An
 * object key that is no attribute of the type is refused (asyncpg: "'x' is
 * not a valid element of composite type"): it would be written as NULLs.
 * Valid input costs one count of the own keys beyond the lookups.
 */
const fieldsOf = (value: unknown, names: ReadonlyArray<string>, typeName: string): ReadonlyArray<unknown> => {
  if (Array.isArray(value)) {
    return value.length === names.length ? value : fail(`${COMPOSITE_EXPECTED} (${names.length} attributes)`, value)
  }
  if (typeof value === "object" && value !== null && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    const v = value as Record<string, unknown>
    let matched = 0
    const fields = new Array<unknown>(names.length)
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!
      if (Object.prototype.hasOwnProperty.call(v, n)) {
        matched++
        fields[i] = v[n]
      }
    }
    if (Object.keys(v).length > matched) {
      const bad = unknownKey(v, names)
      if (bad !== undefined) {
        throw new EncodeError(
          `an object keyed by the attributes of composite type ${typeName} (${names.join(", ")}) or an array in attribute order`,
          `an object with key ${JSON.stringify(bad)}, which is not a valid element of composite type ${typeName}`
        )
      }
    }
    return fields
  }
  return fail(COMPOSITE_EXPECTED, value)
}

/** The codec of a composite type with the given attributes. */
export const compositeCodec = (
  oid: number,
  name: string,
  names: ReadonlyArray<string>,
  attrs: ReadonlyArray<TypeCodec>
): TypeCodec => {
  const parseText = (text: string) => {
    const split = splitRecordText(text)
    // "()" is both no attribute and one NULL attribute
    const fields = split.length === 0 && attrs.length === 1 ? [null] : split
    checkCount(name, fields.length, attrs.length)
    return fieldsToObject(fields, names, attrs)
  }
  const formatText = (value: unknown) => formatRecordText(fieldsOf(value, names, name), attrs)
  if (attrs.every((a) => a.decodeBinary !== undefined && a.encodeBinary !== undefined)) {
    const decoders = attrs.map((a) => a.decodeBinary!)
    const oids = attrs.map((a) => a.oid)
    const safe = !names.includes("__proto__")
    return make(
      oid,
      name,
      1,
      (buf, start) => {
        const n = buf.readInt32BE(start)
        // a value of another shape than the introspected one (ALTER TYPE since): never decode it with these codecs
        checkCount(name, n, oids.length)
        let pos = start + 4
        const out: Record<string, unknown> = {}
        for (let i = 0; i < n; i++) {
          checkAttrType(name, i, buf.readUInt32BE(pos), oids[i]!)
          const len = buf.readInt32BE(pos + 4)
          pos += 8
          const key = names[i]!
          let v: unknown = null
          if (len >= 0) {
            v = decoders[i]!(buf, pos, pos + len)
            pos += len
          }
          if (safe) out[key] = v
          else setField(out, key, v)
        }
        return out
      },
      (value) => {
        const fields = fieldsOf(value, names, name)
        const w = new Writer(64)
        w.int32(attrs.length)
        for (let i = 0; i < attrs.length; i++) {
          const a = attrs[i]!
          w.int32(a.oid)
          const v = fields[i]
          if (v === null || v === undefined) w.int32(-1)
          else w.lengthPrefixed(a.encodeBinary!(v))
        }
        return w.finish()
      },
      { parseText, formatText, arrayValues: true }
    )
  }
  return make(oid, name, 0, (buf, start, end) => parseText(utf8(buf, start, end)), formatText, {
    parseText,
    formatText,
    arrayValues: true
  })
}

/** Splits record text `(a,"b c",,"")` into fields (`null` for an empty unquoted field). */
export const splitRecordText = (text: string): Array<string | null> => {
  const out: Array<string | null> = []
  const s = text.trim()
  let i = 1
  const end = s.length - 1
  if (end <= 1) return s === "()" ? [] : [null]
  for (;;) {
    let field = ""
    let any = false
    while (i < end) {
      const c = s[i]!
      if (c === ",") break
      any = true
      if (c === '"') {
        i++
        while (i < end) {
          const d = s[i]!
          if (d === "\\") field += s[++i] ?? ""
          else if (d === '"') {
            if (s[i + 1] === '"') field += '"', i++
            else break
          } else field += d
          i++
        }
        i++
      } else if (c === "\\") {
        field += s[++i] ?? ""
        i++
      } else {
        field += c
        i++
      }
    }
    out.push(any ? field : null)
    if (i >= end) break
    i++ // ","
  }
  return out
}

/** Parses record text into an object keyed by `names`, fields through each attribute's text parser. */
export const parseRecordText = (
  text: string,
  names: ReadonlyArray<string>,
  attrs: ReadonlyArray<TypeCodec>
): Record<string, unknown> => fieldsToObject(splitRecordText(text), names, attrs)

/** Record text fields as an object keyed by `names`, each through its attribute's text parser. */
const fieldsToObject = (
  fields: ReadonlyArray<string | null>,
  names: ReadonlyArray<string>,
  attrs: ReadonlyArray<TypeCodec>
): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!
    const parse = attrs[i]?.parseText
    setField(out, names[i] ?? `f${i + 1}`, f === null ? null : parse === undefined ? f : parse(f))
  }
  return out
}

/** Formats fields as record text, each through its attribute's text formatter. */
export const formatRecordText = (fields: ReadonlyArray<unknown>, attrs: ReadonlyArray<TypeCodec>): string => {
  let out = "("
  for (let i = 0; i < fields.length; i++) {
    if (i > 0) out += ","
    const v = fields[i]
    if (v !== null && v !== undefined) out += quoteElement((attrs[i]?.formatText ?? encodeFallback)(v))
  }
  return out + ")"
}

/**
 * The anonymous `record` codec: binary, decoded to a tuple with each field's
 * codec found through `lookup` (fields of types without a binary form, or
 * unknown types, come back as their UTF-8 text).
 */
export const recordCodec = (oid: number, name: string, lookup: (oid: number) => TypeCodec | undefined): TypeCodec =>
  make(
    oid,
    name,
    1,
    (buf, start) => {
      const n = buf.readInt32BE(start)
      let pos = start + 4
      const out = new Array<unknown>(n)
      for (let i = 0; i < n; i++) {
        const fieldOid = buf.readUInt32BE(pos)
        const len = buf.readInt32BE(pos + 4)
        pos += 8
        if (len < 0) {
          out[i] = null
        } else {
          const codec = lookup(fieldOid)
          const decode = codec?.decodeBinary
          // a known type whose codec has no binary form (a user text codec, tsvector): its bytes
          // are not its text, so refuse rather than return garbage; unknown types (enums, citext) are text
          if (codec !== undefined && decode === undefined) {
            throw new Error(
              `field ${i + 1} of an anonymous record has type ${codec.name}, whose codec has no binary form; cast the row to a named composite type (ROW(...)::my_type) to read it as text`
            )
          }
          out[i] = decode === undefined ? utf8(buf, pos, pos + len) : decode(buf, pos, pos + len)
          pos += len
        }
      }
      return out
    },
    (value) => fail("no value: anonymous records cannot be query parameters", value)
  )
