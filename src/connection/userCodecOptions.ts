/**
 * The options of the connection's codec methods (`setTypeCodec`,
 * `setBuiltinTypeCodec`).
 *
 * @since 0.1.0
 */

/** Options of `setTypeCodec`: a text or binary codec, and where the type lives. */
export type TypeCodecOptions<A> =
  & { readonly schema?: string | undefined }
  & (
    | {
      readonly format?: "text" | undefined
      readonly encoder: (value: A) => string
      readonly decoder: (text: string) => A
    }
    | {
      readonly format: "binary"
      readonly encoder: (value: A) => Uint8Array
      readonly decoder: (bytes: Buffer) => A
    }
  )

/** Options of `setBuiltinTypeCodec`. */
export interface BuiltinCodecOptions {
  readonly schema?: string | undefined
  /** the built-in type whose codec to use (`"int4"`, `"text"`, `"jsonb"`, ...: a type in pg_catalog) */
  readonly codecName: string
  /** exchange values in this format (default: the built-in codec's own) */
  readonly format?: "text" | "binary" | undefined
}
