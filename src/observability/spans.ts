/**
 * Spans for queries, acquires, COPY, transactions and pool-level calls,
 * with OpenTelemetry's database attributes. Each helper wraps an Effect
 * and decides when it runs: with no tracer installed (Effect's built-in
 * native tracer, which exports nothing), with `References.TracerEnabled`
 * off, or in a pool made with `tracing: false`, the Effect runs as it is:
 * no span, no attributes, no SQL scan.
 *
 * Names: a query span is named by its operation (`SELECT`, `INSERT`; or
 * `postgresql` when the SQL starts with no keyword), a COPY `COPY <table>`,
 * a transaction `pg.transaction`, an acquire `pg.pool.acquire`, a
 * pool-level call `pg.pool.<method>` (`pg.pool.fetch`). Kinds: `client` for
 * queries, COPY, transactions and acquires; `internal` for the pool-level
 * wrapper, whose query child is the client span (one client span per
 * statement, so backends do not count a statement twice).
 *
 * Internal: not exported by the package.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type { Session } from "../connection/Session.js"
import * as Attr from "./attributes.js"
import * as Sessions from "./sessions.js"

/**
 * True when a span made now reaches someone: a tracer other than Effect's
 * native one is installed and tracing is enabled. Reads the fiber's cache
 * of its context (`tracer` is set only when a tracer was provided), so the
 * answer costs three property reads.
 */
export const wanted = (fiber: Fiber.Fiber<unknown, unknown>): boolean => {
  const cache = fiber.cache
  const tracer = cache.tracer
  return tracer !== undefined && tracer !== Tracer.nativeTracer && cache.tracerEnabled
}

/** The part of a pool its spans need. */
export interface TracedPool {
  /** the pool's `name` option */
  readonly poolName: string
  /** the pool's `tracing` option */
  readonly tracing: boolean
}

/** Puts the SQLSTATE (or error tag) of a typed failure on the current span. */
const annotateFailure = (error: unknown): Effect.Effect<void> => Effect.annotateCurrentSpan(Attr.failureAttributes(error))

/** `effect` inside a span named `name`; a typed failure adds its status code. */
const inSpan = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  kind: Tracer.SpanKind,
  attributes: Record<string, unknown>
): Effect.Effect<A, E, R> =>
  Effect.withSpan(Effect.tapError(effect, annotateFailure), name, { kind, attributes, captureStackTrace: false }) as Effect.Effect<A, E, R>

/** The attributes of a statement: operation name and text (literals hidden when it has no parameters). */
const statementAttributes = (
  base: Record<string, unknown>,
  sql: string,
  parameterized: boolean
): { readonly op: string; readonly attributes: Record<string, unknown> } => {
  const op = Attr.operationName(sql)
  const attributes: Record<string, unknown> = { ...base, [Attr.DB_QUERY_TEXT]: Attr.queryText(sql, parameterized) }
  if (op !== "") attributes[Attr.DB_OPERATION_NAME] = op
  return { op, attributes }
}

/** What `Effect.callback` registers: starts the work, resumes the fiber once, may return a canceler. */
export type Register<A, E> = (resume: (effect: Effect.Effect<A, E>) => void) => void | Effect.Effect<void>

/**
 * A query on `session` as `Effect.callback(register)` (every query method,
 * prepared statements and cursor fetches run through it). The check runs
 * inside the callback, so an untraced query pays no extra Effect step; a
 * traced one resumes at once with the real callback inside its span.
 */
export const queryCallback = <A, E>(session: Session, sql: string, args: ReadonlyArray<unknown> | undefined, register: Register<A, E>): Effect.Effect<A, E> =>
  Effect.callback<A, E>((resume) => {
    const fiber = Fiber.getCurrent()
    if (fiber === undefined || !wanted(fiber) || !Sessions.tracingAllowed(session)) return register(resume)
    const { op, attributes } = statementAttributes(Sessions.attributesOf(session), sql, parameterized(args))
    resume(inSpan(Effect.callback<A, E>(register), op === "" ? Attr.SYSTEM : op, "client", attributes))
  })

/** The attributes of a COPY of `table` (or of `query`, whose text keeps its `$n`: the values are inlined by the server, not shown). */
const copyAttributes = (
  base: Record<string, unknown>,
  table: string | undefined,
  query: string | undefined,
  args: ReadonlyArray<unknown> | undefined
): { readonly name: string; readonly attributes: Record<string, unknown> } => {
  const attributes: Record<string, unknown> = { ...base, [Attr.DB_OPERATION_NAME]: "COPY" }
  if (table !== undefined) attributes[Attr.DB_COLLECTION_NAME] = table
  if (query !== undefined) attributes[Attr.DB_QUERY_TEXT] = Attr.queryText(query, parameterized(args))
  return { name: table === undefined ? "COPY" : `COPY ${table}`, attributes }
}

/** Whether a statement's values travel as parameters: a non-empty argument array, or the argument sets of executemany. */
const parameterized = (args: ReadonlyArray<unknown> | Iterable<ReadonlyArray<unknown>> | undefined): boolean =>
  args !== undefined && (!Array.isArray(args) || args.length > 0)

/** What every span of a pool carries: the database system and the pool's name. */
const poolAttributes = (pool: TracedPool): Record<string, string> => ({ [Attr.DB_SYSTEM_NAME]: Attr.SYSTEM, [Attr.POOL_NAME]: pool.poolName })

/** A pool-level call (`pool.fetch`, ...): the parent of its acquire and query spans. */
export const poolCall = <A, E, R>(
  pool: TracedPool,
  method: string,
  sql: string,
  args: ReadonlyArray<unknown> | Iterable<ReadonlyArray<unknown>> | undefined,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    if (!pool.tracing || !wanted(fiber)) return effect
    const base = poolAttributes(pool)
    return inSpan(effect, `pg.pool.${method}`, "internal", statementAttributes(base, sql, parameterized(args)).attributes)
  })

/** A pool-level COPY (`pool.copyToTable`, ...): the parent of its acquire and COPY spans. */
export const poolCopy = <A, E, R>(
  pool: TracedPool,
  method: string,
  table: string | undefined,
  query: string | undefined,
  args: ReadonlyArray<unknown> | undefined,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    if (!pool.tracing || !wanted(fiber)) return effect
    const attributes = copyAttributes(poolAttributes(pool), table, query, args).attributes
    return inSpan(effect, `pg.pool.${method}`, "internal", attributes)
  })

/** Waiting for (or taking) a connection from the pool. */
export const acquire = <A, E, R>(pool: TracedPool, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    if (!pool.tracing || !wanted(fiber)) return effect
    return inSpan(effect, "pg.pool.acquire", "client", poolAttributes(pool))
  })

/** A COPY to or from `table` (or out of `query`). */
export const copy = <A, E, R>(
  session: Session,
  table: string | undefined,
  query: string | undefined,
  args: ReadonlyArray<unknown> | undefined,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    if (!wanted(fiber) || !Sessions.tracingAllowed(session)) return effect
    const { name, attributes } = copyAttributes(Sessions.attributesOf(session), table, query, args)
    return inSpan(effect, name, "client", attributes)
  })

/** A COPY out as a stream: the span lasts as long as the stream runs. */
export const copyStream = <A, E>(
  session: Session,
  table: string | undefined,
  query: string | undefined,
  args: ReadonlyArray<unknown> | undefined,
  stream: Stream.Stream<A, E>
): Stream.Stream<A, E> =>
  Stream.unwrap(
    Effect.withFiber((fiber) => {
      if (!wanted(fiber) || !Sessions.tracingAllowed(session)) return Effect.succeed(stream)
      const { name, attributes } = copyAttributes(Sessions.attributesOf(session), table, query, args)
      const annotated = Stream.tapError(stream, annotateFailure)
      return Effect.succeed(Stream.withSpan(annotated, name, { kind: "client", attributes }))
    })
  )

/** The attributes of a transaction: the session's, plus its isolation level when set. */
const transactionAttributes = (session: Session, isolation: string | undefined): Record<string, unknown> => {
  const attributes: Record<string, unknown> = { ...Sessions.attributesOf(session) }
  if (isolation !== undefined) attributes["db.postgresql.isolation_level"] = isolation
  return attributes
}

/** A transaction run around an Effect: BEGIN, the Effect's queries and COMMIT/ROLLBACK are its children. */
export const transaction = <A, E, R>(session: Session, isolation: string | undefined, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    if (!wanted(fiber) || !Sessions.tracingAllowed(session)) return effect
    return inSpan(effect, "pg.transaction", "client", transactionAttributes(session, isolation))
  })

/** A transaction for a scope: the span ends when the scope closes (after COMMIT or ROLLBACK). */
export const transactionScoped = <A, E, R>(
  session: Session,
  isolation: string | undefined,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.withFiber((fiber) => {
    if (!wanted(fiber) || !Sessions.tracingAllowed(session)) return effect
    const attributes = transactionAttributes(session, isolation)
    return Effect.withSpanScoped(Effect.tapError(effect, annotateFailure), "pg.transaction", { kind: "client", attributes, captureStackTrace: false }) as Effect.Effect<
      A,
      E,
      R | Scope.Scope
    >
  })
