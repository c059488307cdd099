/**
 * The base of every error sent by the server (ErrorResponse): its fields, the
 * common class and the factory the generated SQLSTATE classes are made with.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import { hasProperty } from "effect/Predicate"
import { redactDsn } from "./redact.js"

/**
 * Marks every server error instance (see `isPostgresError`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId = "~effect-pg/PostgresError" as const

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The fields of a PostgreSQL ErrorResponse (or NoticeResponse), decoded.
 * `code` is the SQLSTATE; the names follow libpq's `PG_DIAG_*` fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerErrorFields {
  /** `ERROR`, `FATAL` or `PANIC` (localized; see `severityLocal`). */
  severity: string
  /** The severity in the server's `lc_messages` language (field `S`). */
  severityLocal?: string
  /** The SQLSTATE code, five characters. */
  code: string
  /** The primary human-readable message. */
  message: string
  /** Optional secondary message with more detail. */
  detail?: string
  /** Optional suggestion what to do about the problem. */
  hint?: string
  /** 1-based character offset of the error in the query string. */
  position?: number
  /** Like `position`, but in `internalQuery`. */
  internalPosition?: number
  /** The text of an internally generated command that failed. */
  internalQuery?: string
  /** Call stack context (PL/pgSQL function, SQL function, ...). */
  where?: string
  /** Schema of the object the error is about. */
  schema?: string
  /** Table of the object the error is about. */
  table?: string
  /** Column the error is about. */
  column?: string
  /** Data type the error is about. */
  dataType?: string
  /** Constraint the error is about. */
  constraint?: string
  /** Server source file that reported the error. */
  file?: string
  /** Line in the server source file. */
  line?: number
  /** Server source routine that reported the error. */
  routine?: string
}

/**
 * The constructor argument of every server error class: the ErrorResponse
 * fields (with `code` and `severity` defaulting to the class's SQLSTATE and
 * `"ERROR"`) and the query that failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerErrorInit extends Omit<ServerErrorFields, "code" | "severity"> {
  /** Defaults to the class's own SQLSTATE. */
  readonly code?: string
  /** Defaults to `"ERROR"`. */
  readonly severity?: string
  /** The SQL text of the failed query, when known. */
  readonly query?: string
}

/**
 * What every server error instance carries: all ErrorResponse fields, the
 * SQLSTATE again as `sqlstate` (asyncpg's name) and the failed query.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerErrorProps extends ServerErrorFields {
  /** The SQLSTATE code (same as `code`). */
  readonly sqlstate: string
  /** The SQL text of the failed query, when known. */
  readonly query?: string
}

/**
 * The common superclass of every server error class. Use `isPostgresError`
 * and the `PostgresError` union in types; this class is what they share at
 * runtime.
 *
 * @since 0.1.0
 * @category models
 */
export abstract class PostgresErrorBase extends Data.Error<ServerErrorProps> {
  /** The class name of the concrete error, for `Effect.catchTag`. */
  abstract readonly _tag: string
  declare readonly [TypeId]: TypeId

  constructor(init: ServerErrorInit) {
    const code = init.code ?? (new.target as unknown as { readonly sqlstate?: string }).sqlstate ?? "XX000"
    const props: { -readonly [K in keyof ServerErrorProps]: ServerErrorProps[K] } = {
      ...init,
      severity: init.severity ?? "ERROR",
      code,
      sqlstate: code
    }
    // the SQL may carry a secret (ALTER ROLE ... PASSWORD '...')
    if (props.query === undefined) delete props.query
    else props.query = redactDsn(props.query)
    if (props.internalQuery !== undefined) props.internalQuery = redactDsn(props.internalQuery)
    super(props)
  }

  /** The SQLSTATE class: the first two characters of `sqlstate`. */
  get sqlstateClass(): string {
    return this.sqlstate.slice(0, 2)
  }

  /** asyncpg's name for `where`: the call stack context (PL/pgSQL function, SQL function, ...). */
  get context(): string | undefined {
    return this.where
  }

  /** `Tag [SQLSTATE]: message (detail: ...) (hint: ...)`. */
  override toString(): string {
    let out = `${this._tag} [${this.sqlstate}]: ${this.message}`
    if (this.detail !== undefined) out += ` (detail: ${this.detail})`
    if (this.hint !== undefined) out += ` (hint: ${this.hint})`
    if (this.position !== undefined) out += ` (position: ${this.position})`
    return out
  }
}
Object.defineProperty(PostgresErrorBase.prototype, TypeId, { value: TypeId })

/** The server fields a copy of an error carries over. */
const COPIED_FIELDS = [
  "severity", "severityLocal", "code", "message", "detail", "position", "internalPosition", "internalQuery", "where",
  "schema", "table", "column", "dataType", "constraint", "file", "line", "routine", "query"
] as const

/**
 * A copy of a server error (same class, same fields) with `note` added to
 * its hint (after the server's own hint, if any): the driver's advice on
 * an error it understands better than the server can.
 */
export const withHint = <E extends PostgresErrorBase>(e: E, note: string): E => {
  const init: Record<string, unknown> = {}
  for (const k of COPIED_FIELDS) if (e[k] !== undefined) init[k] = e[k]
  init.hint = e.hint === undefined || e.hint === "" ? note : `${e.hint}\n${note}`
  return new (e.constructor as new(init: ServerErrorInit) => E)(init as unknown as ServerErrorInit)
}

/**
 * Tests whether a value is a server error (any class made by
 * {@link ServerError}); `isPostgresError` in `Errors` narrows to the union.
 *
 * @since 0.1.0
 * @category guards
 */
export const isPostgresErrorBase = (u: unknown): u is PostgresErrorBase => hasProperty(u, TypeId)

/**
 * The constructor type of a server error class for SQLSTATE `Code`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerErrorClass<Tag extends string, Code extends string> {
  new(init: ServerErrorInit): PostgresErrorBase & { readonly _tag: Tag }
  /** The SQLSTATE this class stands for. */
  readonly sqlstate: Code
  /** The SQLSTATE class (first two characters of `sqlstate`). */
  readonly sqlstateClass: string
}

/**
 * Makes the base of a server error class: `_tag` is `tag`, the static
 * `sqlstate` is `sqlstate`.
 *
 * ```ts
 * class UniqueViolationError extends ServerError("UniqueViolationError", "23505") {}
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ServerError = <const Tag extends string, const Code extends string>(
  tag: Tag,
  sqlstate: Code
): ServerErrorClass<Tag, Code> => {
  class Base extends PostgresErrorBase {
    static readonly sqlstate: Code = sqlstate
    static readonly sqlstateClass: string = sqlstate.slice(0, 2)
    readonly _tag: Tag = tag
  }
  Object.defineProperty(Base.prototype, "name", { value: tag, writable: true, configurable: true })
  return Base
}

/**
 * A server error whose SQLSTATE class is unknown to this version of the
 * library (asyncpg's `UnknownPostgresError`). Its `_tag` is `"PostgresError"`;
 * it is also exported as the value `PostgresError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownPostgresError extends PostgresErrorBase {
  readonly _tag = "PostgresError" as const
  constructor(init: ServerErrorInit & { readonly code: string }) {
    super(init)
  }
}
Object.defineProperty(UnknownPostgresError.prototype, "name", {
  value: "PostgresError",
  writable: true,
  configurable: true
})
