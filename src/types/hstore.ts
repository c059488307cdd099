/**
 * The `hstore` extension type (found by name at introspection): binary,
 * decoded to a `Record<string, string | null>`.
 *
 * @since 0.1.0
 */
import { fail, utf8, Writer } from "./internal/binary.js"
import { binary, type TypeCodec } from "./internal/kit.js"
import { encodeString } from "./text.js"

/** Decodes a binary hstore. */
export const decodeHstore = (buf: Buffer, start: number): Record<string, string | null> => {
  const n = buf.readInt32BE(start)
  let pos = start + 4
  const out: Record<string, string | null> = {}
  for (let i = 0; i < n; i++) {
    const klen = buf.readInt32BE(pos)
    const key = utf8(buf, pos + 4, pos + 4 + klen)
    pos += 4 + klen
    const vlen = buf.readInt32BE(pos)
    pos += 4
    let v: string | null = null
    if (vlen >= 0) {
      v = utf8(buf, pos, pos + vlen)
      pos += vlen
    }
    if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true })
    else out[key] = v
  }
  return out
}

const HSTORE_EXPECTED = "an object of string (or null) values"

/** Encodes an object of string/null values (or a Map) as binary hstore. */
export const encodeHstore = (value: unknown): Uint8Array => {
  const entries: Array<[string, unknown]> = value instanceof Map
    ? [...(value as Map<unknown, unknown>)].map(([k, v]) => [String(k), v])
    : typeof value === "object" && value !== null && !Array.isArray(value)
      ? Object.entries(value)
      : fail(HSTORE_EXPECTED, value)
  const w = new Writer(64)
  w.int32(entries.length)
  for (const [k, v] of entries) {
    // encodeString refuses lone surrogates (they would become U+FFFD)
    w.lengthPrefixed(encodeString(k))
    if (v === null || v === undefined) w.int32(-1)
    else if (typeof v === "string") w.lengthPrefixed(encodeString(v))
    else return fail(HSTORE_EXPECTED, value)
  }
  return w.finish()
}

/** hstore: binary, `Record<string, string | null>`. */
export const hstore = (oid: number, name: string): TypeCodec => binary(oid, name, decodeHstore, encodeHstore)
