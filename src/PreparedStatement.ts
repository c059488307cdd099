/**
 * Prepared statements, as asyncpg's `Connection.prepare()`.
 *
 * ```ts
 * const stmt = yield* conn.prepare("SELECT * FROM users WHERE id = $1")
 * const row = yield* stmt.fetchrow([42])
 * const cols = yield* stmt.getAttributes() // [{ name: "id", type: { name: "int4", ... } }, ...]
 * ```
 *
 * Each prepared statement is a named server statement of its own (not the
 * connection's statement cache, whose entries may be evicted): it is closed
 * on the server by `close()`, or once the object is garbage collected, or
 * with the connection. Using it after its connection was closed fails with
 * `ConnectionDoesNotExistError`, after its pool connection was released with
 * `InterfaceError`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { SessionHandle } from "./connection/Core.js"
import type { QueryError, QueryOptions } from "./connection/query.js"
import * as Cursor from "./Cursor.js"
import * as Errors from "./Errors.js"
import * as Portal from "./connection/portal.js"
import { Task, type Session } from "./connection/Session.js"
import type { Statement } from "./connection/statement.js"
import * as Stmt from "./connection/prepare.js"
import type * as PgRecord from "./Record.js"
import * as Transaction from "./Transaction.js"

/** What kind of type a parameter or column has (from `pg_type`). */
export type TypeKind = "scalar" | "array" | "composite" | "domain" | "enum" | "range" | "multirange" | "pseudo"

/** A PostgreSQL type, as asyncpg's `Type`. */
export interface TypeInfo {
  readonly oid: number
  readonly name: string
  readonly schema: string
  readonly kind: TypeKind
}

/** A result column, as asyncpg's `Attribute`. */
export interface Attribute {
  readonly name: string
  readonly type: TypeInfo
}

/** Options of `explain`. */
export interface ExplainOptions extends QueryOptions {
  /** run the statement (EXPLAIN ANALYZE) inside a transaction or savepoint that is rolled back */
  readonly analyze?: boolean | undefined
}

/** @since 0.1.0 */
export const TypeId: unique symbol = Symbol.for("effect-pg/PreparedStatement")

/** A statement prepared on one connection. */
export interface PreparedStatement<R = PgRecord.Record> {
  readonly [TypeId]: typeof TypeId
  /** The SQL text. */
  getQuery(): string
  /** The server-side statement name. */
  getName(): string
  /** The command tag of the last execution (`"SELECT 2"`, `"INSERT 0 1"`), "" before the first. */
  getStatusMsg(): string
  /** The parameter types, looked up in `pg_type` once. */
  getParameters(): Effect.Effect<ReadonlyArray<TypeInfo>, QueryError>
  /** The result columns and their types, looked up in `pg_type` once. */
  getAttributes(): Effect.Effect<ReadonlyArray<Attribute>, QueryError>
  /** Runs it; returns all rows. */
  fetch(args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<ReadonlyArray<R>, QueryError>
  /** Runs it; returns the first row, or null. */
  fetchrow(args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<R | null, QueryError>
  /** Runs it; returns one value of the first row (column 0 by default), or null when there is no row. */
  fetchval(args?: ReadonlyArray<unknown>, column?: number | string, options?: QueryOptions): Effect.Effect<unknown, QueryError>
  /** Runs it once per argument set, pipelined before one Sync: all or nothing. */
  executemany(argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, QueryError>
  /** Runs it once per argument set, all or nothing; returns the rows of each. */
  fetchmany(argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<ReadonlyArray<ReadonlyArray<R>>, QueryError>
  /** Its rows as a stream, `prefetch` per round trip (see `Cursor`). */
  cursor(args?: ReadonlyArray<unknown>, options?: Cursor.CursorOptions): Stream.Stream<R, QueryError>
  /** The plan as EXPLAIN (FORMAT JSON, VERBOSE) returns it (parsed JSON). */
  explain(args?: ReadonlyArray<unknown>, options?: ExplainOptions): Effect.Effect<unknown, QueryError>
  /** Closes the server statement now; later use fails with InterfaceError. */
  close(): Effect.Effect<void>
}

const TYPE_INFO_SQL = `SELECT t.oid, t.typname::text AS name, n.nspname::text AS schema, t.typtype::text AS kind, t.typcategory::text AS category
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid = ANY($1::oid[])`

const kindOf = (typtype: string, category: string): TypeKind => {
  if (category === "A") return "array"
  switch (typtype) {
    case "c":
      return "composite"
    case "d":
      return "domain"
    case "e":
      return "enum"
    case "r":
      return "range"
    case "m":
      return "multirange"
    case "p":
      return "pseudo"
    default:
      return "scalar"
  }
}

/** Closes statements whose PreparedStatement was garbage collected. */
const collected = new FinalizationRegistry<{ readonly session: Session; readonly st: Statement }>(({ session, st }) => {
  Stmt.closeStatement(session, st)
})

class PreparedStatementImpl<R> implements PreparedStatement<R> {
  readonly [TypeId]: typeof TypeId = TypeId
  private status = ""
  private closed = false
  private types: Effect.Effect<ReadonlyMap<number, TypeInfo>, QueryError> | undefined
  constructor(
    readonly conn: SessionHandle,
    readonly st: Statement
  ) {
    collected.register(this, { session: conn.session, st }, this)
  }

  getQuery(): string {
    return this.st.sql
  }

  getName(): string {
    return this.st.name
  }

  getStatusMsg(): string {
    return this.status
  }

  private closedError(): Errors.InterfaceError {
    return new Errors.InterfaceError({
      message: `prepared statement ${this.st.name} was closed; prepare it again (${truncate(this.st.sql)})`
    })
  }

  /** Binds and executes the statement once per argument set (unnamed portal), before one Sync. */
  private run(
    argsList: ReadonlyArray<ReadonlyArray<unknown>>,
    skipRows: boolean,
    options: QueryOptions | undefined
  ): Effect.Effect<Array<Portal.Batch>, QueryError> {
    if (this.closed) return Effect.fail(this.closedError())
    const session = this.conn.session
    const st = this.st
    return this.conn.run<Array<Portal.Batch>>(
      options,
      st.sql,
      (cb) => {
        const task = new Task()
        if (argsList.length === 0) {
          cb(undefined, [])
          return task
        }
        const encoded = Stmt.encodeMany(session, st, argsList)
        if (!Array.isArray(encoded)) {
          cb(encoded as Parameters<typeof cb>[0], undefined)
          return task
        }
        task.request = Portal.bindExecute(session, st, encoded, "", 0, skipRows, (err, batches) => {
          const last = batches?.[batches.length - 1]
          if (last?.status !== undefined) this.status = last.status
          cb(err, batches)
        })
        return task
      },
      argsList.length === 1 ? argsList[0] : argsList
    )
  }

  fetch(args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<ReadonlyArray<R>, QueryError> {
    return Effect.map(this.run([args ?? []], false, options), (b) => (b[0]?.rows ?? []) as Array<R>)
  }

  fetchrow(args?: ReadonlyArray<unknown>, options?: QueryOptions): Effect.Effect<R | null, QueryError> {
    return Effect.map(this.run([args ?? []], false, options), (b) => (b[0]?.rows[0] as R | undefined) ?? null)
  }

  fetchval(args?: ReadonlyArray<unknown>, column: number | string = 0, options?: QueryOptions): Effect.Effect<unknown, QueryError> {
    return Effect.flatMap(this.run([args ?? []], false, options), (b) => {
      const row = b[0]?.rows[0] as PgRecord.Record | undefined
      if (row === undefined) return Effect.succeed(null)
      return Effect.try({
        try: () => row.get(column),
        catch: (e) => new Errors.InterfaceError({ message: `fetchval: ${(e as Error).message}` })
      })
    })
  }

  executemany(argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, QueryError> {
    return Effect.asVoid(this.run(Array.from(argsList), true, options))
  }

  fetchmany(argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<ReadonlyArray<ReadonlyArray<R>>, QueryError> {
    return Effect.map(this.run(Array.from(argsList), false, options), (bs) => bs.map((b) => b.rows as Array<R>))
  }

  cursor(args?: ReadonlyArray<unknown>, options?: Cursor.CursorOptions): Stream.Stream<R, QueryError> {
    if (this.closed) return Stream.fail(this.closedError())
    return Cursor.stream<R>(this.conn, this.st.sql, args, options, this)
  }

  explain(args?: ReadonlyArray<unknown>, options?: ExplainOptions): Effect.Effect<unknown, QueryError> {
    if (this.closed) return Effect.fail(this.closedError())
    const analyze = options?.analyze === true
    const sql = `EXPLAIN (FORMAT JSON, VERBOSE${analyze ? ", ANALYZE" : ""}) ${this.st.sql}`
    const query = this.conn.fetchval(sql, args ?? [], options)
    if (!analyze) return query
    // EXPLAIN ANALYZE runs the statement: keep none of its effects
    return Effect.acquireUseRelease(Transaction.begin(this.conn), () => query, (tx) =>
      tx.state === "started" ? tx.rollback() : Effect.void
    )
  }

  private typeInfo(): Effect.Effect<ReadonlyMap<number, TypeInfo>, QueryError> {
    if (this.types !== undefined) return this.types
    const oids = [...new Set([...this.st.paramOids, ...this.st.fields.map((f) => f.typeOid)])]
    const lookup = Effect.map(
      oids.length === 0 ? Effect.succeed([]) : this.conn.fetch(TYPE_INFO_SQL, [oids.map(String)]),
      (rows) => {
        const map = new Map<number, TypeInfo>()
        for (const row of rows) {
          const oid = Number(row.get("oid"))
          map.set(oid, {
            oid,
            name: String(row.get("name")),
            schema: String(row.get("schema")),
            kind: kindOf(String(row.get("kind")), String(row.get("category")))
          })
        }
        return map as ReadonlyMap<number, TypeInfo>
      }
    )
    return Effect.tap(lookup, (map) => Effect.sync(() => (this.types = Effect.succeed(map))))
  }

  private typeOf(map: ReadonlyMap<number, TypeInfo>, oid: number): TypeInfo {
    return map.get(oid) ?? { oid, name: this.conn.session.registry.codecFor(oid).name, schema: "", kind: "scalar" }
  }

  getParameters(): Effect.Effect<ReadonlyArray<TypeInfo>, QueryError> {
    return Effect.map(this.typeInfo(), (map) => this.st.paramOids.map((oid) => this.typeOf(map, oid)))
  }

  getAttributes(): Effect.Effect<ReadonlyArray<Attribute>, QueryError> {
    return Effect.map(this.typeInfo(), (map) => this.st.fields.map((f) => ({ name: f.name, type: this.typeOf(map, f.typeOid) })))
  }

  close(): Effect.Effect<void> {
    return Effect.sync(() => {
      if (this.closed) return
      this.closed = true
      collected.unregister(this)
      Stmt.closeStatement(this.conn.session, this.st)
    })
  }
}

const truncate = (sql: string): string => (sql.length > 80 ? `${sql.slice(0, 77)}...` : sql)

/**
 * Prepares `sql` as a named statement of its own. A syntax error fails
 * here, with its position.
 *
 * @internal
 */
export const make = <R = PgRecord.Record>(
  conn: SessionHandle,
  sql: string,
  options?: QueryOptions
): Effect.Effect<PreparedStatement<R>, QueryError> =>
  Effect.map(Stmt.prepare(conn, sql, options, true), (st) => new PreparedStatementImpl<R>(conn, st))
