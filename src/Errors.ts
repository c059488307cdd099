/**
 * Every failure of effect-pg is a tagged error.
 *
 * - Server errors: one class per SQLSTATE (`UniqueViolationError`,
 *   `SerializationError`, `PostgresSyntaxError`, ...), named like asyncpg's
 *   exceptions, generated from PostgreSQL's errcodes.txt. Their union is
 *   {@link PostgresError}; `Effect.catchTag("UniqueViolationError", ...)`
 *   narrows on it. Each SQLSTATE class has a union type and a predicate
 *   (`IntegrityConstraintViolation` / `isIntegrityConstraintViolation`).
 * - Client errors: {@link PostgresConnectionError},
 *   {@link ConnectionDoesNotExistError}, {@link AcquireTimeoutError},
 *   {@link CommandTimeoutError}, {@link PoolClosedError},
 *   {@link InterfaceError}, {@link ProtocolError}, {@link DataError},
 *   {@link OutdatedSchemaCacheError}, {@link RowDecodeError}.
 *
 * @since 0.1.0
 */
import { isPostgresErrorBase, type ServerErrorFields, UnknownPostgresError } from "./errors/base.js"
import { classBySqlstate, classBySqlstateClass, InvalidCachedStatementError } from "./errors/sqlstate.js"
import type { PostgresError } from "./errors/sqlstate.js"

export * from "./errors/sqlstate.js"
export {
  PostgresErrorBase,
  ServerError,
  type ServerErrorClass,
  type ServerErrorFields,
  type ServerErrorInit,
  type ServerErrorProps,
  TypeId,
  UnknownPostgresError
} from "./errors/base.js"
export {
  AcquireTimeoutError,
  type ClientError,
  CommandTimeoutError,
  ConnectionDoesNotExistError,
  type ConnectionErrorReason,
  connectionErrorReason,
  DataError,
  InterfaceError,
  OutdatedSchemaCacheError,
  PoolClosedError,
  PoolExhaustedError,
  PoolHookError,
  PostgresConnectionError,
  ProtocolError,
  RowDecodeError
} from "./errors/client.js"
export { redactCause, redactDsn } from "./errors/redact.js"

/**
 * Builds the error for a server ErrorResponse: the class of its exact
 * SQLSTATE, else the generic class of its SQLSTATE class (an unknown `23xxx`
 * becomes `IntegrityConstraintViolationError`), else `PostgresError`
 * (`UnknownPostgresError`). The instance carries every field, `sqlstate`
 * and `query`.
 *
 * A `0A000` raised by the server's `RevalidateCachedQuery` ("cached plan must
 * not change result type") becomes `InvalidCachedStatementError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromServerFields = (fields: ServerErrorFields, query?: string): PostgresError => {
  const init = query === undefined ? fields : { ...fields, query }
  const code = fields.code
  if (code === "0A000" && fields.routine === "RevalidateCachedQuery") {
    return new InvalidCachedStatementError(init)
  }
  const exact = classBySqlstate.get(code)
  if (exact !== undefined) return new exact(init)
  const generic = classBySqlstateClass.get(code.slice(0, 2))
  if (generic !== undefined) return new generic(init)
  return new UnknownPostgresError(init)
}

/**
 * Tests whether a value is an error sent by the server (any member of the
 * {@link PostgresError} union).
 *
 * @since 0.1.0
 * @category guards
 */
export const isPostgresError = (u: unknown): u is PostgresError => isPostgresErrorBase(u)

/**
 * The SQLSTATE class of a server error: the first two characters of its
 * SQLSTATE (`"23"` for a `UniqueViolationError`). The class titles are in
 * `sqlstateClassTitles`.
 *
 * @since 0.1.0
 * @category getters
 */
export const sqlstateClass = (error: PostgresError): string => error.sqlstate.slice(0, 2)
