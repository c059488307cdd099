/**
 * Codecs for bit/varbit, pg_lsn, tid, money, the text-search types and other
 * types whose value is their text: strings, text format.
 *
 * @since 0.1.0
 */
import { fail } from "./internal/binary.js"
import { text, type TypeCodec } from "./internal/kit.js"
import { encodeString } from "./text.js"

/**
 * A type kept as its text (tsvector, tsquery, money, txid_snapshot,
 * aclitem, ...): text format, decoded to the server's string; encodes
 * strings only.
 */
export const plainText = (oid: number, name: string): TypeCodec => text(oid, name, undefined, encodeString)

/** money: text format (its text depends on lc_monetary); encodes strings, numbers and bigints. */
export const money = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, (value) =>
    typeof value === "string" || typeof value === "bigint" || (typeof value === "number" && Number.isFinite(value))
      ? String(value)
      : fail("a money string or a finite number", value))

// ---------------------------------------------------------------------------
// bit / varbit: strings of 0 and 1
// ---------------------------------------------------------------------------

/** Decodes binary bit/varbit to a string of `0`/`1`. */
export const decodeBitBinary = (buf: Buffer, start: number): string => {
  const n = buf.readInt32BE(start)
  let out = ""
  for (let i = 0; i < n; i++) out += (buf[start + 4 + (i >> 3)]! >> (7 - (i & 7))) & 1 ? "1" : "0"
  return out
}

const BITS = /^[01]*$/

const formatBits = (value: unknown): string =>
  typeof value === "string" && BITS.test(value) ? value : fail("a string of 0 and 1", value)

/** Encodes a string of `0`/`1` as binary bit/varbit. */
export const encodeBitBinary = (value: unknown): Uint8Array => {
  const s = formatBits(value)
  const out = Buffer.alloc(4 + ((s.length + 7) >> 3))
  out.writeInt32BE(s.length, 0)
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 49) out[4 + (i >> 3)]! |= 0x80 >> (i & 7)
  return out
}

/** bit / varbit: text format, a string of `0` and `1`. */
export const bit = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, formatBits, { decodeBinary: decodeBitBinary, encodeBinary: encodeBitBinary })

// ---------------------------------------------------------------------------
// pg_lsn, tid
// ---------------------------------------------------------------------------

const LSN = /^([0-9a-f]{1,8})\/([0-9a-f]{1,8})$/i

/** pg_lsn: text format, `16/B374D848`. */
export const pgLsn = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, (v) => (typeof v === "string" && LSN.test(v) ? v : fail("an LSN string (X/X)", v)), {
    decodeBinary: (buf, start) =>
      `${buf.readUInt32BE(start).toString(16).toUpperCase()}/${buf.readUInt32BE(start + 4).toString(16).toUpperCase()}`,
    encodeBinary: (v) => {
      const m = typeof v === "string" ? LSN.exec(v) : null
      if (m === null) return fail("an LSN string (X/X)", v)
      const out = Buffer.allocUnsafe(8)
      out.writeUInt32BE(parseInt(m[1]!, 16), 0)
      out.writeUInt32BE(parseInt(m[2]!, 16), 4)
      return out
    }
  })

const TID = /^\((\d+),(\d+)\)$/

/** tid: text format, `(block,offset)`. */
export const tid = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, (v) => (typeof v === "string" && TID.test(v) ? v : fail("a tid string ((block,offset))", v)), {
    decodeBinary: (buf, start) => `(${buf.readUInt32BE(start)},${buf.readUInt16BE(start + 4)})`,
    encodeBinary: (v) => {
      const m = typeof v === "string" ? TID.exec(v) : null
      if (m === null) return fail("a tid string ((block,offset))", v)
      const out = Buffer.allocUnsafe(6)
      out.writeUInt32BE(Number(m[1]), 0)
      out.writeUInt16BE(Number(m[2]), 4)
      return out
    }
  })
