/**
 * Server errors end to end: each is triggered on the real server and caught
 * by its tag, with the ErrorResponse fields checked.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Connection from "../src/Connection.js"
import * as Errors from "../src/Errors.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const connect = () => Connection.connect({ dsn: TEST_DSN })

/** Fails the test (as a defect) when `self` succeeds; keeps its errors. */
const expectFailure = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<never, E, R> =>
  Effect.flatMap(self, (a) => Effect.die(new Error(`expected the query to fail, it returned ${String(a)}`)))

/** Ignores any failure (clean-up). */
const quietly = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
  self.pipe(Effect.asVoid, Effect.catch(() => Effect.void))

/**
 * Creates `public.<unique name>` with the given column definitions and drops
 * it when the test's scope closes (on a connection of its own, so an aborted
 * transaction on the test's connections cannot stop the drop).
 */
const table = (prefix: string, definition: string) =>
  Effect.gen(function*() {
    const name = uniqueName(prefix)
    const admin = yield* connect()
    yield* Effect.addFinalizer(() => quietly(admin.execute(`DROP TABLE IF EXISTS public.${name} CASCADE`)))
    yield* admin.execute(`CREATE TABLE public.${name} (${definition})`)
    return name
  })

describe("server errors, caught by tag", () => {
  it.live("unique violation", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const t = yield* table("e_unique", "id int4 PRIMARY KEY")
      yield* conn.execute(`INSERT INTO ${t} VALUES (1)`)
      const sql = `INSERT INTO ${t} VALUES ($1)`
      const err = yield* expectFailure(conn.execute(sql, [1])).pipe(
        Effect.catchTag("UniqueViolationError", Effect.succeed)
      )
      expect(err).toBeInstanceOf(Errors.UniqueViolationError)
      expect(err.sqlstate).toBe("23505")
      expect(err.code).toBe("23505")
      expect(err.severity).toBe("ERROR")
      expect(err.schema).toBe("public")
      expect(err.table).toBe(t)
      expect(err.constraint).toBe(`${t}_pkey`)
      expect(err.detail).toBe("Key (id)=(1) already exists.")
      expect(err.query).toBe(sql)
      expect(err.routine).toBeTypeOf("string")
      expect(Errors.isIntegrityConstraintViolation(err)).toBe(true)
      expect(err.toString()).toMatch(/^UniqueViolationError \[23505\]: duplicate key value .* \(detail: Key \(id\)=\(1\) already exists\.\)$/)
      // the connection is still usable
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("foreign key violation", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const parent = yield* table("e_parent", "id int4 PRIMARY KEY")
      const child = yield* table("e_child", `id int4 PRIMARY KEY, parent int4 REFERENCES ${parent} (id)`)
      const err = yield* expectFailure(conn.execute(`INSERT INTO ${child} VALUES ($1, $2)`, [1, 42])).pipe(
        Effect.catchTag("ForeignKeyViolationError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("23503")
      expect(err.table).toBe(child)
      expect(err.constraint).toBe(`${child}_parent_fkey`)
      expect(err.detail).toContain("(parent)=(42)")
    }))

  it.live("not-null violation", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const t = yield* table("e_notnull", "id int4 PRIMARY KEY, name text NOT NULL")
      const err = yield* expectFailure(conn.execute(`INSERT INTO ${t} (id, name) VALUES ($1, $2)`, [1, null])).pipe(
        Effect.catchTag("NotNullViolationError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("23502")
      expect(err.table).toBe(t)
      expect(err.column).toBe("name")
    }))

  it.live("check violation", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const t = yield* table("e_check", "id int4 PRIMARY KEY, qty int4 CONSTRAINT qty_positive CHECK (qty > 0)")
      const err = yield* expectFailure(conn.execute(`INSERT INTO ${t} VALUES (1, -5)`)).pipe(
        Effect.catchTag("CheckViolationError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("23514")
      expect(err.constraint).toBe("qty_positive")
      expect(err.table).toBe(t)
    }))

  it.live("exclusion violation (gist on a range, no extension needed)", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const t = yield* table("e_excl", "r int4range, CONSTRAINT no_overlap EXCLUDE USING gist (r WITH &&)")
      yield* conn.execute(`INSERT INTO ${t} VALUES (int4range(1, 10))`)
      const err = yield* expectFailure(conn.execute(`INSERT INTO ${t} VALUES (int4range(5, 15))`)).pipe(
        Effect.catchTag("ExclusionViolationError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("23P01")
      expect(err.constraint).toBe("no_overlap")
      expect(err.detail).toContain("conflicts with existing key")
    }))

  it.live("serialization failure between two serializable transactions", () =>
    Effect.gen(function*() {
      const t = yield* table("e_serial", "id int4 PRIMARY KEY, v int4 NOT NULL")
      const setup = yield* connect()
      yield* setup.execute(`INSERT INTO ${t} VALUES (1, 0)`)
      const c1 = yield* connect()
      const c2 = yield* connect()
      yield* c1.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
      yield* c2.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
      // both take their snapshot
      expect(yield* c1.fetchval(`SELECT v FROM ${t} WHERE id = 1`)).toBe(0)
      expect(yield* c2.fetchval(`SELECT v FROM ${t} WHERE id = 1`)).toBe(0)
      yield* c2.execute(`UPDATE ${t} SET v = v + 1 WHERE id = 1`)
      yield* c2.execute("COMMIT")
      const err = yield* expectFailure(c1.execute(`UPDATE ${t} SET v = v + 10 WHERE id = 1`)).pipe(
        Effect.catchTag("SerializationError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("40001")
      expect(Errors.isTransactionRollback(err)).toBe(true)
      expect(c1.isInTransaction()).toBe(true)
      yield* c1.execute("ROLLBACK")
      expect(yield* setup.fetchval(`SELECT v FROM ${t} WHERE id = 1`)).toBe(1)
    }))

  it.live("deadlock", () =>
    Effect.gen(function*() {
      const t = yield* table("e_deadlock", "id int4 PRIMARY KEY, v int4 NOT NULL")
      const setup = yield* connect()
      yield* setup.execute(`INSERT INTO ${t} VALUES (1, 0), (2, 0)`)
      const c1 = yield* connect()
      const c2 = yield* connect()
      // detect quickly where allowed (superuser); the default of 1 s works too
      for (const c of [c1, c2]) yield* quietly(c.execute("SET deadlock_timeout = '100ms'"))
      yield* c1.execute("BEGIN")
      yield* c1.execute(`UPDATE ${t} SET v = v + 1 WHERE id = 1`)
      yield* c2.execute("BEGIN")
      yield* c2.execute(`UPDATE ${t} SET v = v + 1 WHERE id = 2`)
      const outcome = (c: Connection.Connection, id: number) =>
        c.execute(`UPDATE ${t} SET v = v + 1 WHERE id = $1`, [id]).pipe(
          Effect.as("updated" as string),
          Effect.catchTag("DeadlockDetectedError", (e) => {
            expect(e.sqlstate).toBe("40P01")
            expect(Errors.isTransactionRollback(e)).toBe(true)
            return Effect.succeed("deadlock")
          })
        )
      const first = yield* Effect.forkChild(outcome(c1, 2))
      yield* Effect.sleep("200 millis") // let c1 block on row 2
      const second = yield* outcome(c2, 1)
      const results = [yield* Fiber.join(first), second].sort()
      expect(results).toEqual(["deadlock", "updated"])
      yield* c1.execute("ROLLBACK")
      yield* c2.execute("ROLLBACK")
    }))

  it.live("division by zero", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const err = yield* expectFailure(conn.fetchval("SELECT $1::int4 / 0", [1])).pipe(
        Effect.catchTag("DivisionByZeroError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("22012")
      expect(err.message).toBe("division by zero")
      expect(Errors.isDataException(err)).toBe(true)
    }))

  it.live("undefined table, column and function", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const missing = uniqueName("no_such_table")
      const table = yield* expectFailure(conn.fetch(`SELECT * FROM ${missing}`)).pipe(
        Effect.catchTag("UndefinedTableError", Effect.succeed)
      )
      expect(table.sqlstate).toBe("42P01")
      expect(table.message).toContain(missing)
      expect(table.position).toBe(15)

      const column = yield* expectFailure(conn.fetch("SELECT nope FROM (SELECT 1 AS yes) s")).pipe(
        Effect.catchTag("UndefinedColumnError", Effect.succeed)
      )
      expect(column.sqlstate).toBe("42703")
      expect(column.position).toBe(8)

      const fn = yield* expectFailure(conn.fetch("SELECT no_such_function_xyz($1::int4)", [1])).pipe(
        Effect.catchTag("UndefinedFunctionError", Effect.succeed)
      )
      expect(fn.sqlstate).toBe("42883")
      expect(fn.hint).toBeTypeOf("string")
      expect(Errors.isSyntaxErrorOrAccessRuleViolation(fn)).toBe(true)
    }))

  it.live("syntax error, with its position", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const sql = "SELECT 1 FROM FROM"
      const err = yield* expectFailure(conn.fetch(sql)).pipe(
        Effect.catchTag("PostgresSyntaxError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("42601")
      expect(err.position).toBe(15)
      expect(err.query).toBe(sql)
      expect(String(err)).toContain("(position: 15)")
      // the simple-query (script) path maps errors the same way
      const script = yield* expectFailure(conn.execute("SELEC 1")).pipe(
        Effect.catchTag("PostgresSyntaxError", Effect.succeed)
      )
      expect(script.position).toBe(1)
    }))

  it.live("query canceled by statement_timeout", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      yield* conn.execute("SET statement_timeout = 50")
      const err = yield* expectFailure(conn.fetch("SELECT pg_sleep(1)")).pipe(
        Effect.catchTag("QueryCanceledError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("57014")
      expect(Errors.isOperatorIntervention(err)).toBe(true)
      yield* conn.execute("SET statement_timeout = 0")
      expect(yield* conn.fetchval("SELECT 2")).toBe(2)
    }))

  it.live("read-only transaction", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const t = yield* table("e_readonly", "id int4")
      yield* conn.execute("BEGIN READ ONLY")
      const err = yield* expectFailure(conn.execute(`INSERT INTO ${t} VALUES ($1)`, [1])).pipe(
        Effect.catchTag("ReadOnlySQLTransactionError", Effect.succeed)
      )
      expect(err.sqlstate).toBe("25006")
      expect(Errors.isInvalidTransactionState(err)).toBe(true)
      // after an error the transaction is aborted: further statements fail too
      const aborted = yield* expectFailure(conn.fetchval("SELECT 1")).pipe(
        Effect.catchTag("InFailedSQLTransactionError", Effect.succeed)
      )
      expect(aborted.sqlstate).toBe("25P02")
      yield* conn.execute("ROLLBACK")
    }))

  it.live("catchTags over several server errors", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const classify = (sql: string) =>
        conn.fetch(sql).pipe(
          Effect.as("ok"),
          Effect.catchTags({
            DivisionByZeroError: (e) => Effect.succeed(`div:${e.sqlstate}`),
            UndefinedTableError: (e) => Effect.succeed(`table:${e.sqlstate}`),
            PostgresSyntaxError: (e) => Effect.succeed(`syntax:${e.position}`)
          })
        )
      expect(yield* classify("SELECT 1/0")).toBe("div:22012")
      expect(yield* classify(`SELECT * FROM ${uniqueName("missing")}`)).toBe("table:42P01")
      expect(yield* classify("SELECT )")).toBe("syntax:8")
      expect(yield* classify("SELECT 1")).toBe("ok")
    }))

  it.live("RAISE with a custom SQLSTATE maps by code and class", () =>
    Effect.gen(function*() {
      const conn = yield* connect()
      const raise = (code: string) =>
        expectFailure(
          conn.execute(`DO $$ BEGIN RAISE EXCEPTION 'custom %', '${code}' USING ERRCODE = '${code}', DETAIL = 'd', HINT = 'h'; END $$`)
        ).pipe(Effect.flip)
      const exact = yield* raise("23505")
      expect(exact._tag).toBe("UniqueViolationError")
      const inClass = yield* raise("23Q99")
      expect(inClass._tag).toBe("IntegrityConstraintViolationError")
      if (Errors.isPostgresError(inClass)) {
        expect(inClass.sqlstate).toBe("23Q99")
        expect(inClass.detail).toBe("d")
        expect(inClass.hint).toBe("h")
        expect(inClass.where).toContain("PL/pgSQL")
        expect(inClass.context).toBe(inClass.where)
      }
      const unknown = yield* raise("Q9999")
      expect(unknown._tag).toBe("PostgresError")
      const plain = yield* raise("P0001")
      expect(plain._tag).toBe("RaiseError")
    }))
})

describe("secrets in SQL text", () => {
  it.live("a failing CREATE ROLE ... PASSWORD keeps the password out of the error and the query log", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const logged: Array<string> = []
      conn.addQueryLogger((entry) => {
        logged.push(entry.sql)
      })
      const secret = "TopSecret-" + uniqueName("pw")
      // the role exists already (we are connected as it): DuplicateObjectError
      const user = yield* conn.fetchval("SELECT current_user")
      const err = yield* Effect.flip(conn.execute(`CREATE ROLE "${user}" LOGIN PASSWORD '${secret}'`, [], {}))
      expect(err._tag).toBe("DuplicateObjectError")
      const shown = [String(err), JSON.stringify(err), (err as { query?: string }).query ?? ""].join("\n")
      expect(shown).not.toContain(secret)
      expect((err as { query?: string }).query).toContain("PASSWORD '***'")
      // an extended-protocol statement with the literal in it
      const err2 = yield* Effect.flip(conn.fetch(`ALTER ROLE no_such_role_${process.pid} PASSWORD E'${secret}' VALID UNTIL $1`, ["infinity"]))
      expect(String(JSON.stringify(err2))).not.toContain(secret)
      expect(logged.join("\n")).not.toContain(secret)
      expect(logged.length).toBeGreaterThan(0)
    }))
})

describe("lost or duplicate prepared statements the driver named", () => {
  /** The names of this session's prepared statements whose SQL is `sql`. */
  const preparedNames = (conn: Connection.Connection, sql: string) =>
    Effect.map(conn.fetch("SELECT name FROM pg_catalog.pg_prepared_statements WHERE statement = $1", [sql]), (rows) =>
      rows.map((r) => String(r.get("name"))))

  it.live("a prepared statement the server lost is InvalidSQLStatementNameError with a PgBouncer / prepare: false hint", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const sql = `SELECT 1 AS lost_${process.pid}`
      const ps = yield* conn.prepare(sql)
      const [name] = yield* preparedNames(conn, sql)
      expect(name).toMatch(/^__epg_/)
      // what a pooler does: the statement is gone from the server connection
      yield* conn.execute(`DEALLOCATE "${name}"`)
      const err = yield* Effect.flip(ps.fetchval())
      expect(err._tag).toBe("InvalidSQLStatementNameError")
      const e = err as Errors.InvalidSQLStatementNameError
      expect(e.hint).toMatch(/pgbouncer/i)
      expect(e.hint).toContain("prepare: false")
      expect(e.sqlstate).toBe("26000")
    }))

  it.live("a name the server already has is DuplicatePreparedStatementError with the hint; the same SQLSTATE raised by user SQL has none", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const first = `SELECT 1 AS dup_${process.pid}`
      yield* conn.fetchval(first)
      const [name] = yield* preparedNames(conn, first)
      const prefix = /^(.*_)[0-9a-z]+$/.exec(name!)![1]!
      // take the name the driver gives its next statement (this lookup is prepared too, and listed)
      const all = yield* conn.fetch("SELECT name FROM pg_catalog.pg_prepared_statements WHERE starts_with(name, $1)", [prefix])
      const last = Math.max(...all.map((r) => parseInt(String(r.get("name")).slice(prefix.length), 36)))
      const next = `${prefix}${(last + 1).toString(36)}`
      yield* conn.execute(`PREPARE "${next}" AS SELECT 2`)
      const err = yield* Effect.flip(conn.fetchval(`SELECT 3 AS dup_${process.pid}`))
      expect(err._tag).toBe("DuplicatePreparedStatementError")
      expect((err as Errors.DuplicatePreparedStatementError).hint).toMatch(/pgbouncer.*prepare: false/is)
      // the connection stays usable
      expect(yield* conn.fetchval("SELECT 4")).toBe(4)
      // not a statement the driver named: no hint
      const raised = yield* Effect.flip(
        conn.execute("DO $$ BEGIN RAISE EXCEPTION 'duplicate statement' USING ERRCODE = '42P05'; END $$")
      )
      expect(raised._tag).toBe("DuplicatePreparedStatementError")
      expect((raised as Errors.DuplicatePreparedStatementError).hint).toBeUndefined()
    }))
})
