/**
 * Per-connection type codecs (asyncpg's `set_type_codec`,
 * `set_builtin_type_codec`, `reset_type_codec`, `reload_schema_state`) on
 * top of the session's `TypeRegistry`.
 *
 * `reloadSchemaState` swaps in a registry that keeps the codecs set here and
 * has forgotten the introspected types (`TypeRegistry.withoutIntrospected`),
 * in the session and every session of its pool.
 *
 * Internal: not exported by the package.
 */
import * as Effect from "effect/Effect"
import type { SessionHandle } from "./Core.js"
import type { QueryError } from "./query.js"
import * as Errors from "../Errors.js"
import type { UserCodec } from "../types/Registry.js"
import { pgTypeName } from "../types/sqlNames.js"
import type { Session } from "./Session.js"
import {
  checkBuiltinCodecOptions,
  checkResetOptions,
  checkTypeCodecOptions,
  checkTypeName,
  type BuiltinCodecOptions,
  type TypeCodecOptions
} from "./userCodecOptions.js"

export type { BuiltinCodecOptions, TypeCodecOptions } from "./userCodecOptions.js"


const TYPE_BY_NAME_SQL = `SELECT t.oid, t.typname::text AS name, t.typtype::text AS kind, t.typcategory::text AS category
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.typname = $1 AND n.nspname = $2`

interface FoundType {
  readonly oid: number
  readonly name: string
  readonly kind: string
  readonly category: string
}

/** Looks a type up by name (or, in pg_catalog, its SQL spelling: `integer`) and schema, or fails naming it. */
const lookup = (conn: SessionHandle, typeName: string, schema: string): Effect.Effect<FoundType, QueryError> =>
  Effect.flatMap(conn.catalogRows(TYPE_BY_NAME_SQL, [pgTypeName(typeName, schema), schema]), ([row]) =>
    row === undefined
      ? Effect.fail(
        new Errors.InterfaceError({
          message: `unknown type: ${schema}.${typeName} is not in pg_type; check the name and the schema option (default "public"; built-in types are in "pg_catalog"), or create the type first`
        })
      )
      : Effect.succeed({
        oid: Number(row.get("oid")),
        name: String(row.get("name")),
        kind: String(row.get("kind")),
        category: String(row.get("category"))
      })
  )

/** Arrays follow their element type, domains travel as their base type: refuse codecs on them. */
const checkSettable = (t: FoundType, schema: string): Errors.InterfaceError | undefined => {
  const qualified = `${schema}.${t.name}`
  if (t.category === "A") {
    return new Errors.InterfaceError({
      message: `cannot set a codec on array type ${qualified}: set it on the element type, arrays of it follow`
    })
  }
  if (t.kind === "d") {
    return new Errors.InterfaceError({
      message: `cannot set a codec on domain type ${qualified}: the server sends domain values as their base type; set the codec on the base type`
    })
  }
  if (t.kind === "p") {
    return new Errors.InterfaceError({ message: `cannot set a codec on pseudo-type ${qualified}` })
  }
  return undefined
}

const install = (session: Session, oid: number, name: string, codec: UserCodec<unknown>): void => {
  session.registry.setTypeCodec(oid, name, codec)
  // cached statements resolved their codecs already
  session.clearStatements(true)
}

/**
 * Runs `body` unless a check of the arguments found something wrong: then
 * an InterfaceError saying what, and nothing changes. Never throws at the
 * call (the checks read the options inside the Effect).
 */
const whenValid = <A>(
  checks: () => string | undefined,
  body: () => Effect.Effect<A, QueryError>
): Effect.Effect<A, QueryError> =>
  Effect.suspend(() => {
    const why = checks()
    return why === undefined ? body() : Effect.fail(new Errors.InterfaceError({ message: why }))
  })

/** Sets a codec for `schema.typeName` on this connection. */
export const setTypeCodec = <A>(conn: SessionHandle, typeName: string, options: TypeCodecOptions<A>): Effect.Effect<void, QueryError> =>
  whenValid(() => checkTypeName("setTypeCodec", typeName) ?? checkTypeCodecOptions(options), () => setChecked(conn, typeName, options))

const setChecked = <A>(conn: SessionHandle, typeName: string, options: TypeCodecOptions<A>): Effect.Effect<void, QueryError> => {
  const schema = options.schema ?? "public"
  return Effect.flatMap(lookup(conn, typeName, schema), (t) => {
    const bad = checkSettable(t, schema)
    if (bad !== undefined) return Effect.fail(bad)
    const codec: UserCodec<unknown> =
      options.format === "binary"
        ? { format: "binary", encoder: options.encoder as (v: unknown) => Uint8Array, decoder: options.decoder }
        : { format: "text", encoder: options.encoder as (v: unknown) => string, decoder: options.decoder }
    return Effect.sync(() => install(conn.session, t.oid, t.name, codec))
  })
}

/** The text form of a registry codec, when it has one (the registry's codecs carry it). */
interface TextForm {
  readonly parseText?: ((text: string) => unknown) | undefined
  readonly formatText?: ((value: unknown) => string) | undefined
}

/**
 * Declares `schema.typeName` wire-compatible with a built-in type: its
 * values are encoded and decoded with that type's codec.
 */
export const setBuiltinTypeCodec = (conn: SessionHandle, typeName: string, options: BuiltinCodecOptions): Effect.Effect<void, QueryError> =>
  whenValid(() => checkTypeName("setBuiltinTypeCodec", typeName) ?? checkBuiltinCodecOptions(options), () => setBuiltinChecked(conn, typeName, options))

const setBuiltinChecked = (conn: SessionHandle, typeName: string, options: BuiltinCodecOptions): Effect.Effect<void, QueryError> => {
  const schema = options.schema ?? "public"
  return Effect.gen(function* () {
    const target = yield* lookup(conn, typeName, schema)
    const bad = checkSettable(target, schema)
    if (bad !== undefined) return yield* Effect.fail(bad)
    const source = yield* lookup(conn, options.codecName, "pg_catalog")
    const builtin = conn.session.registry.get(source.oid)
    if (builtin === undefined) {
      return yield* Effect.fail(
        new Errors.InterfaceError({ message: `no built-in codec for pg_catalog.${options.codecName}; pick a built-in scalar type` })
      )
    }
    const format = options.format ?? (builtin.format === 1 ? "binary" : "text")
    const textForm = builtin as TextForm
    if (format === "binary" && builtin.format !== 1) {
      return yield* Effect.fail(
        new Errors.InterfaceError({ message: `the built-in codec for pg_catalog.${options.codecName} has no binary form; use format "text"` })
      )
    }
    if (format === "text" && builtin.format === 1) {
      const { formatText, parseText } = textForm
      if (formatText === undefined || parseText === undefined) {
        return yield* Effect.fail(
          new Errors.InterfaceError({ message: `the built-in codec for pg_catalog.${options.codecName} has no text form; use format "binary"` })
        )
      }
      install(conn.session, target.oid, target.name, { format: "text", encoder: formatText, decoder: parseText })
      return
    }
    const codec: UserCodec<unknown> =
      format === "binary"
        ? {
          format: "binary",
          encoder: (v) => builtin.encode(v) as Uint8Array,
          decoder: (bytes) => builtin.decode(bytes, 0, bytes.length)
        }
        : {
          format: "text",
          encoder: (v) => builtin.encode(v) as string,
          decoder: (text) => {
            const bytes = Buffer.from(text, "utf8")
            return builtin.decode(bytes, 0, bytes.length)
          }
        }
    install(conn.session, target.oid, target.name, codec)
  })
}

/** Removes the codec set for `schema.typeName`, restoring the default one. */
export const resetTypeCodec = (conn: SessionHandle, typeName: string, options?: { readonly schema?: string | undefined }): Effect.Effect<void, QueryError> =>
  whenValid(() => checkTypeName("resetTypeCodec", typeName) ?? checkResetOptions(options), () => resetChecked(conn, typeName, options?.schema ?? "public"))

const resetChecked = (conn: SessionHandle, typeName: string, schema: string): Effect.Effect<void, QueryError> =>
  Effect.flatMap(lookup(conn, typeName, schema), (t) =>
    Effect.sync(() => {
      const session = conn.session
      session.registry.resetTypeCodec(t.oid)
      session.clearStatements(true)
    })
  )

/**
 * Forgets introspected types and cached statements (after DDL changed
 * types), in this session and, at their next statement, every session of
 * its pool (as asyncpg's); codecs set with `setTypeCodec` stay.
 */
export const reloadSchemaState = (session: Session): void => session.schemaOutdated(true)
