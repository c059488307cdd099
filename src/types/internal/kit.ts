/**
 * The registry's internal codec shape and small constructors.
 *
 * Internal: not exported by the package.
 */
import type { Codec, FormatCode } from "../Codec.js"
import { utf8 } from "./binary.js"

/** Decodes the bytes `buf[start..end)` of one non-NULL value. */
export type Decoder = (buf: Buffer, start: number, end: number) => unknown

/** Encodes one non-NULL value; a `string` stands for its UTF-8 bytes. */
export type Encoder = (value: unknown) => string | Uint8Array

/**
 * A `Codec` plus what containers (arrays, composites, ranges) need to embed
 * it.
 *
 * - `format` 1: `decode`/`encode` are the binary form (`encode` may return a
 *   string only when its UTF-8 bytes are the binary form, as for `text`).
 * - `format` 0: `decode` parses UTF-8 text, `encode` returns text.
 *
 * `parseText`/`formatText` give the text form of one element, for text-format
 * containers. Format 0 codecs always have them; binary codecs have them when
 * cheap.
 *
 * `decodeBinary`/`encodeBinary` give the binary form for binary containers
 * (composites, ranges, records): `decode`/`encode` for format 1 codecs, and
 * set on format 0 codecs whose type has a binary form we can read.
 */
export interface TypeCodec extends Codec {
  readonly parseText: ((text: string) => unknown) | undefined
  readonly formatText: ((value: unknown) => string) | undefined
  readonly decodeBinary: Decoder | undefined
  readonly encodeBinary: Encoder | undefined
  /** The array element delimiter (`;` for box, `,` otherwise). */
  readonly delimiter: string
  /**
   * True when JS arrays are values of this type (json), so array encoders do
   * not read nested JS arrays as dimensions.
   */
  readonly arrayValues: boolean
}

/** Optional parts of a codec. */
export interface CodecExtras {
  readonly parseText?: ((text: string) => unknown) | undefined
  readonly formatText?: ((value: unknown) => string) | undefined
  readonly decodeBinary?: Decoder | undefined
  readonly encodeBinary?: Encoder | undefined
  readonly delimiter?: string
  readonly arrayValues?: boolean
}

/** Builds a binary-format codec. */
export const binary = (
  oid: number,
  name: string,
  decode: Decoder,
  encode: Encoder,
  extras?: CodecExtras
): TypeCodec => make(oid, name, 1, decode, encode, extras)

/**
 * Builds a text-format codec from a parser of the text form (`undefined`
 * keeps the string) and a formatter.
 */
export const text = (
  oid: number,
  name: string,
  parse: ((text: string) => unknown) | undefined,
  format: (value: unknown) => string,
  extras?: CodecExtras
): TypeCodec =>
  make(
    oid,
    name,
    0,
    parse === undefined ? utf8 : (buf, start, end) => parse(utf8(buf, start, end)),
    format,
    { ...extras, parseText: parse ?? identity, formatText: format }
  )

/** Builds a codec. */
export const make = (
  oid: number,
  name: string,
  format: FormatCode,
  decode: Decoder,
  encode: Encoder,
  extras?: CodecExtras
): TypeCodec => ({
  oid,
  name,
  format,
  decode,
  encode,
  parseText: extras?.parseText,
  formatText: extras?.formatText,
  decodeBinary: format === 1 ? decode : extras?.decodeBinary,
  encodeBinary: format === 1 ? encode : extras?.encodeBinary,
  delimiter: extras?.delimiter ?? ",",
  arrayValues: extras?.arrayValues ?? false
})

/** The same codec with another decoder (same format). */
export const withDecoder = (codec: TypeCodec, decode: Decoder): TypeCodec =>
  codec.format === 1 ? { ...codec, decode, decodeBinary: decode } : { ...codec, decode }

/** The same codec under another OID and name (domains, aliases). */
export const rename = (codec: TypeCodec, oid: number, name: string): TypeCodec => ({ ...codec, oid, name })

/** Returns its argument. */
export const identity = <A>(a: A): A => a
