/**
 * The fallback codec: text format, for types without a codec and for
 * parameters the server left untyped (OID 0).
 *
 * @since 0.1.0
 */
import { fail, utf8 } from "./internal/binary.js"
import { identity, make, type TypeCodec } from "./internal/kit.js"
import { encodeString } from "./text.js"

const FALLBACK_EXPECTED = "a string, number, bigint, boolean or Date (the parameter's type has no codec)"

/**
 * The text form of a value of an unknown type: strings as is, numbers and
 * bigints in decimal, booleans as `true`/`false`, Dates in ISO 8601;
 * anything else is an `EncodeError`.
 */
export const encodeFallback = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return encodeString(value)
    case "number":
    case "bigint":
      return String(value)
    case "boolean":
      return value ? "true" : "false"
    default:
      if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString()
      return fail(FALLBACK_EXPECTED, value)
  }
}

/** A text codec that keeps values as strings, for types without a codec. */
export const fallbackCodec = (oid: number, name: string): TypeCodec =>
  make(oid, name, 0, utf8, encodeFallback, { parseText: identity, formatText: encodeFallback })

/** The fallback codec for OID 0. */
export const FALLBACK: TypeCodec = fallbackCodec(0, "unknown")
