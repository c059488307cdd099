/**
 * The contract between the protocol engine and the type codecs.
 *
 * A codec reads and writes one PostgreSQL type in one wire format. The engine
 * asks the registry for a codec by type OID when it binds parameters and when
 * it picks result formats; it never interprets bytes itself.
 *
 * @since 0.1.0
 */

/** Wire format code as used in Bind: 0 = text, 1 = binary. */
export type FormatCode = 0 | 1

/**
 * Thrown by an encoder when a JS value cannot be represented in the type.
 * The engine turns it into a `DataError` naming the parameter position.
 */
export class EncodeError extends Error {
  constructor(
    /** what was expected, e.g. "an integer between -2147483648 and 2147483647" */
    readonly expected: string,
    /** a short description of the value that was given */
    readonly given: string
  ) {
    super(`expected ${expected}, got ${given}`)
    this.name = "EncodeError"
  }
}

/**
 * A codec for one PostgreSQL type.
 *
 * `decode` receives the raw bytes of one non-NULL value in `format`
 * (`buf[start..end)`), `encode` returns the value in `format`: a `string` for
 * text (the engine writes it as UTF-8) or a `Uint8Array` for binary.
 */
export interface Codec {
  readonly oid: number
  readonly name: string
  readonly format: FormatCode
  readonly decode: (buf: Buffer, start: number, end: number) => unknown
  readonly encode: (value: unknown) => string | Uint8Array
}

/**
 * One row of the registry's introspection query: what the engine fetches
 * from `pg_type` for OIDs that no codec knows yet.
 */
export interface IntrospectedType {
  readonly oid: number
  readonly name: string
  readonly schema: string
  /** pg_type.typtype: b base, c composite, d domain, e enum, r range, m multirange, p pseudo */
  readonly kind: string
  /** element type for arrays (0 otherwise) */
  readonly elemOid: number
  /** base type for domains (0 otherwise) */
  readonly baseOid: number
  /** subtype for ranges, range's subtype for multiranges (0 otherwise) */
  readonly rangeSubtypeOid: number
  /** attribute names and type OIDs for composites (empty otherwise) */
  readonly attrNames: ReadonlyArray<string>
  readonly attrOids: ReadonlyArray<number>
}
