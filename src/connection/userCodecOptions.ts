/**
 * The options of the connection's codec methods (`setTypeCodec`,
 * `setBuiltinTypeCodec`, `resetTypeCodec`), and their checks: the methods
 * refuse bad options with a message before anything changes.
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

const FORMATS = ["text", "binary"]

/** What a value is, for a message about options (never inspects it further). */
const kindOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v)

/** Why `schema` cannot be a schema option, or `undefined`. */
const badSchema = (o: Record<string, unknown>): string | undefined =>
  o.schema === undefined || typeof o.schema === "string" ? undefined : `schema must be a string, got ${kindOf(o.schema)}`

/** Why `format` cannot be a codec format, or `undefined`. */
const badFormat = (o: Record<string, unknown>): string | undefined => {
  const f = o.format
  if (f === undefined || (typeof f === "string" && FORMATS.includes(f))) return undefined
  const shown = typeof f === "string" ? `"${f}"` : kindOf(f)
  return `format must be "text" or "binary", got ${shown}${f === "tuple" ? ' (the "tuple" format is not supported: use "binary" with an encoder to bytes)' : ""}`
}

/** Reads the options through a check that may meet throwing getters: a message, never an exception. */
const checked = (what: string, options: unknown, check: (o: Record<string, unknown>) => string | undefined): string | undefined => {
  if (typeof options !== "object" || options === null) return `${what}: options must be an object, got ${kindOf(options)}`
  try {
    const why = check(options as Record<string, unknown>)
    return why === undefined ? undefined : `${what}: ${why}`
  } catch (e) {
    return `${what}: the options could not be read (${e instanceof Error ? e.message : String(e)})`
  }
}

/** Why `typeName` cannot be a type name, or `undefined`. */
export const checkTypeName = (what: string, typeName: unknown): string | undefined =>
  typeof typeName === "string" && typeName !== "" ? undefined : `${what}: the type name must be a non-empty string, got ${kindOf(typeName)}`

/**
 * Why `options` are not valid `setTypeCodec` options (a message naming
 * what is wrong), or `undefined`: an object with `encoder` and `decoder`
 * functions, `format` "text" or "binary", `schema` a string.
 */
export const checkTypeCodecOptions = (options: unknown): string | undefined =>
  checked("setTypeCodec", options, (o) => {
    for (const key of ["encoder", "decoder"]) {
      if (typeof o[key] !== "function") return `${key} must be a function, got ${o[key] === undefined ? "none" : kindOf(o[key])}`
    }
    return badFormat(o) ?? badSchema(o)
  })

/** Why `options` are not valid `setBuiltinTypeCodec` options, or `undefined`. */
export const checkBuiltinCodecOptions = (options: unknown): string | undefined =>
  checked("setBuiltinTypeCodec", options, (o) =>
    typeof o.codecName !== "string" || o.codecName === ""
      ? `codecName must be the name of a built-in type, got ${kindOf(o.codecName)}`
      : badFormat(o) ?? badSchema(o))

/** Why `options` are not valid `resetTypeCodec` options, or `undefined`. */
export const checkResetOptions = (options: unknown): string | undefined =>
  options === undefined ? undefined : checked("resetTypeCodec", options, badSchema)
