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
import * as Rows from "./connection/rowOptions.js"
import type { FetchOptions, FetchvalOptions, RowOf, ValueOf } from "./connection/rowOptions.js"
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

/**
 * A statement prepared on one connection. `R` is its row: the Schema's or
 * recordClass's it was prepared with, else the connection's; each call may
 * ask for other rows (`recordClass`, `schema`) as `Connection.fetch` does.
 */
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
  fetch<O extends FetchOptions = QueryOptions>(args?: ReadonlyArray<unknown>, options?: O): Effect.Effect<ReadonlyArray<RowOf<O, R>>, QueryError>
  /** Runs it; returns the first row, or null. */
  fetchrow<O extends FetchOptions = QueryOptions>(args?: ReadonlyArray<unknown>, options?: O): Effect.Effect<RowOf<O, R> | null, QueryError>
  /** Runs it; returns one value of the first row (column 0 by default; decoded by `options.schema`), or null when there is no row. */
  fetchval<O extends FetchvalOptions = QueryOptions>(
    args?: ReadonlyArray<unknown>,
    column?: number | string,
    options?: O
  ): Effect.Effect<ValueOf<O> | null, QueryError>
  /** Runs it once per argument set, pipelined before one Sync: all or nothing. */
  executemany(argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, QueryError>
  /** Runs it once per argument set, all or nothing; returns the rows of each. */
  fetchmany<O extends FetchOptions = QueryOptions>(
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: O
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<RowOf<O, R>>>, QueryError>
  /** Its rows as a stream, `prefetch` per round trip (see `Cursor`). */
  cursor<O extends Cursor.CursorOptions = QueryOptions>(args?: ReadonlyArray<unknown>, options?: O): Stream.Stream<RowOf<O, R>, QueryError>
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
    readonly conn: SessionHandle<unknown>,
    readonly st: Statement,
    /** builds its rows when a call asks for nothing else (its recordClass or schema, else the connection's) */
    readonly rows: Rows.RowMapper | undefined
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
    options: FetchOptions | undefined,
    firstOnly = false
  ): Effect.Effect<Array<Portal.Batch>, QueryError> {
    if (this.closed) return Effect.fail(this.closedError())
    const map = skipRows ? undefined : Rows.mapperFor(options, this.rows)
    if (map !== undefined && typeof map !== "function") return Effect.fail(map)
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
        const execute = (): void => {
          const encoded = Stmt.encodeMany(session, st, argsList)
          if (!Array.isArray(encoded)) {
            cb(encoded as Parameters<typeof cb>[0], undefined)
            return
          }
          task.request = Portal.bindExecute(session, st, encoded, "", 0, skipRows, (err, batches) => {
            const last = batches?.[batches.length - 1]
            if (last?.status !== undefined) this.status = last.status
            if (map === undefined || err !== undefined || batches === undefined) return cb(err, batches)
            const out = new Array<Portal.Batch>(batches.length)
            for (let k = 0; k < batches.length; k++) {
              const b = batches[k]!
              const rows = map(firstOnly && b.rows.length > 1 ? b.rows.slice(0, 1) : b.rows, 0)
              if (!Array.isArray(rows)) return cb(argsList.length > 1 ? Object.assign(rows, { message: `argument set ${k}: ${rows.message}` }) : rows, undefined)
              out[k] = { ...b, rows }
            }
            cb(undefined, out)
          })
        }
        // the session forgot its introspected types since (a type changed): rebuild this statement's codecs first
        if (session.codecsCurrent(st)) execute()
        else {
          session.refreshCodecs(st, (err) => {
            if (task.abandoned) return
            if (err !== undefined) cb(err, undefined)
            else execute()
          })
        }
        return task
      },
      argsList.length === 1 ? argsList[0] : argsList
    )
  }

  fetch<O extends FetchOptions = QueryOptions>(args?: ReadonlyArray<unknown>, options?: O): Effect.Effect<ReadonlyArray<RowOf<O, R>>, QueryError> {
    return Effect.map(this.run([args ?? []], false, options), (b) => (b[0]?.rows ?? []) as Array<RowOf<O, R>>)
  }

  fetchrow<O extends FetchOptions = QueryOptions>(args?: ReadonlyArray<unknown>, options?: O): Effect.Effect<RowOf<O, R> | null, QueryError> {
    return Effect.map(this.run([args ?? []], false, options, true), (b) => (b[0]?.rows[0] as RowOf<O, R> | undefined) ?? null)
  }

  fetchval<O extends FetchvalOptions = QueryOptions>(
    args?: ReadonlyArray<unknown>,
    column: number | string = 0,
    options?: O
  ): Effect.Effect<ValueOf<O> | null, QueryError> {
    // the value is read from the Record, whatever rows the statement builds
    return Effect.flatMap(this.run([args ?? []], false, { timeout: options?.timeout, ...Rows.AS_RECORDS }), (b) => {
      const row = b[0]?.rows[0] as PgRecord.Record | undefined
      if (row === undefined) return Effect.succeed(null)
      return Effect.flatMap(
        Effect.try({
          try: () => row.get(column),
          catch: (e) => new Errors.InterfaceError({ message: `fetchval: ${(e as Error).message}` })
        }),
        (value) => {
          if (options?.schema === undefined) return Effect.succeed(value as ValueOf<O>)
          const decoded = Rows.valueFor(options.schema, value, column)
          return decoded._tag === "Success" ? Effect.succeed(decoded.success as ValueOf<O>) : Effect.fail(decoded.failure)
        }
      )
    })
  }

  executemany(argsList: Iterable<ReadonlyArray<unknown>>, options?: QueryOptions): Effect.Effect<void, QueryError> {
    return Effect.asVoid(this.run(Array.from(argsList), true, options))
  }

  fetchmany<O extends FetchOptions = QueryOptions>(
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: O
  ): Effect.Effect<ReadonlyArray<ReadonlyArray<RowOf<O, R>>>, QueryError> {
    return Effect.map(this.run(Array.from(argsList), false, options), (bs) => bs.map((b) => b.rows as Array<RowOf<O, R>>))
  }

  cursor<O extends Cursor.CursorOptions = QueryOptions>(args?: ReadonlyArray<unknown>, options?: O): Stream.Stream<RowOf<O, R>, QueryError> {
    if (this.closed) return Stream.fail(this.closedError())
    return Cursor.stream<RowOf<O, R>>(this.conn, this.st.sql, args, options, this)
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
      oids.length === 0 ? Effect.succeed([]) : this.conn.catalogRows(TYPE_INFO_SQL, [oids.map(String)]),
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
  conn: SessionHandle<unknown>,
  sql: string,
  options?: FetchOptions
): Effect.Effect<PreparedStatement<R>, QueryError> =>
  Effect.suspend(() => {
    const rows = Rows.mapperFor(options, conn.defaultRows)
    if (rows !== undefined && typeof rows !== "function") return Effect.fail(rows)
    return Effect.map(Stmt.prepare(conn, sql, options, true), (st) => new PreparedStatementImpl<R>(conn, st, rows))
  })
