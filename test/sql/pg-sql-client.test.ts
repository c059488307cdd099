/**
 * What effect-pg's `SqlClient` adds or decides on its own: the jsonb
 * helper, name transforms, `layerFromPool`, error mapping of client errors
 * (timeouts, refused connections), a COMMIT the server turns into a
 * ROLLBACK, interruption, and what `raw` returns.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as String from "effect/String"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Errors from "../../src/Errors.js"
import { PgPool } from "../../src/Pool.js"
import * as PgMigrator from "../../src/sql/PgMigrator.js"
import * as PgSqlClient from "../../src/sql/PgSqlClient.js"
import { freePort, TEST_DSN, uniqueName } from "../support/db.js"

const SqlLive = PgSqlClient.layer({ dsn: TEST_DSN, minSize: 1, maxSize: 3 })

const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | PgSqlClient.PgSqlClient | PgPool | Scope.Scope>) =>
  Effect.provide(Effect.scoped(effect), SqlLive)

/** A table dropped when the scope closes. */
const table = (prefix: string, columns: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const name = uniqueName(prefix)
    yield* Effect.acquireRelease(sql.unsafe(`CREATE TABLE ${name} (${columns})`), () =>
      Effect.ignore(sql.unsafe(`DROP TABLE IF EXISTS ${name}`)))
    return name
  })

describe("effect-pg/sql PgSqlClient", () => {
  it.live("json: a value sent as jsonb comes back as the same value", () =>
    run(Effect.gen(function* () {
      const sql = yield* PgSqlClient.PgSqlClient
      const t = yield* table("sql_json", "id int4 PRIMARY KEY, doc jsonb NOT NULL")
      const doc = { a: 1, list: [1, "two", null], nested: { ok: true } }
      yield* sql`INSERT INTO ${sql(t)} (id, doc) VALUES (1, ${sql.json(doc)}), (2, ${sql.json("just a string")})`
      const rows = yield* sql<{ id: number; doc: unknown }>`SELECT id, doc FROM ${sql(t)} ORDER BY id`
      expect(rows).toEqual([{ id: 1, doc }, { id: 2, doc: "just a string" }])
    })))

  it.live("transformQueryNames / transformResultNames, and withoutTransforms", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const t = yield* table("sql_names", "id int4 PRIMARY KEY, first_name text NOT NULL")
      yield* sql`INSERT INTO ${sql(t)} ${sql.insert({ id: 1, firstName: "Ada" })}`
      expect(yield* sql`SELECT * FROM ${sql(t)}`).toEqual([{ id: 1, firstName: "Ada" }])
      expect(yield* sql.withoutTransforms()`SELECT * FROM ${sql(t)}`).toEqual([{ id: 1, first_name: "Ada" }])
      const streamed = yield* Stream.runCollect(sql`SELECT * FROM ${sql(t)}`.stream)
      expect(streamed).toEqual([{ id: 1, firstName: "Ada" }])
    }).pipe(
      Effect.scoped,
      Effect.provide(PgSqlClient.layer({
        dsn: TEST_DSN,
        minSize: 1,
        maxSize: 2,
        transformQueryNames: String.camelToSnake,
        transformResultNames: String.snakeToCamel
      }))
    ))

  it.live("layerFromPool shares the PgPool of the context; the pool stays open", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const pool = yield* PgPool
      const t = yield* table("sql_shared", "id int4 PRIMARY KEY")
      yield* sql`INSERT INTO ${sql(t)} ${sql.insert({ id: 7 })}`
      const rows = yield* pool.fetch(`SELECT id FROM ${t}`)
      expect(rows.map((r) => r.get("id"))).toEqual([7])
      const client = yield* PgSqlClient.PgSqlClient
      expect(client.pool).toBe(pool)
    }).pipe(
      Effect.scoped,
      Effect.provide(PgSqlClient.layerFromPool().pipe(Layer.provideMerge(PgPool.layer({ dsn: TEST_DSN, minSize: 1, maxSize: 2 }))))
    ))

  it.live("a COMMIT the server answers with ROLLBACK fails the transaction", () =>
    run(Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const t = yield* table("sql_commit", "id int4 PRIMARY KEY")
      yield* sql`INSERT INTO ${sql(t)} VALUES (1)`
      const err = yield* Effect.flip(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`INSERT INTO ${sql(t)} VALUES (2)`
            // swallowed without a savepoint: the transaction is aborted
            yield* Effect.ignore(sql`INSERT INTO ${sql(t)} VALUES (1)`)
          })
        )
      )
      expect(err._tag).toBe("SqlError")
      expect(err.reason.operation).toBe("commit")
      expect(err.message).toContain("COMMIT rolled the transaction back")
      expect((yield* sql<{ id: number }>`SELECT id FROM ${sql(t)}`).map((r) => r.id)).toEqual([1])
    })))

  it.live("a transaction sees its own rows in a stream; BeginTransaction sets the isolation level", () =>
    run(Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const t = yield* table("sql_txstream", "id int4 PRIMARY KEY")
      const inside = yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* sql`INSERT INTO ${sql(t)} SELECT generate_series(1, 300)`
          return yield* Stream.runCollect(sql`SELECT id FROM ${sql(t)}`.stream)
        })
      )
      expect(inside.length).toBe(300)
      const [row] = yield* sql.withTransaction(sql`SELECT current_setting('transaction_isolation') AS level`).pipe(
        Effect.provideService(SqlClient.BeginTransaction, "BEGIN ISOLATION LEVEL SERIALIZABLE")
      )
      expect(row).toEqual({ level: "serializable" })
    })))

  it.live("session state set on a reserved connection does not reach the next statements", () =>
    run(Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.scoped(Effect.gen(function* () {
        const conn = yield* sql.reserve
        yield* conn.executeRaw("SET application_name = 'sql_leak'; SET search_path = pg_catalog", [])
        yield* conn.executeRaw("SELECT pg_advisory_lock(4242)", [])
      }))
      const rows = yield* Effect.forEach(
        Array.from({ length: 6 }, (_, i) => i),
        () => sql<{ app: string; path: string; locks: number }>`SELECT current_setting('application_name') AS app,
          current_setting('search_path') AS path,
          (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242) AS locks`,
        { concurrency: 3 }
      )
      for (const [row] of rows) {
        expect(row!.app).not.toBe("sql_leak")
        expect(row!.path).not.toBe("pg_catalog")
        expect(row!.locks).toBe(0)
      }
    })))

  it.live("a stream ended early gives its connection back", () =>
    run(Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const pool = yield* PgPool
      const first = yield* Stream.runCollect(Stream.take(sql`SELECT n FROM generate_series(1, 100000) AS n`.stream, 3))
      expect(first).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
      expect(pool.stats().borrowed).toBe(0)
      const failed = yield* Effect.flip(Stream.runCollect(sql`SELECT 1 / (n - 500) AS x FROM generate_series(1, 1000) AS n`.stream))
      expect(failed.reason._tag).toBe("UnknownError")
      expect(failed.reason.cause).toBeInstanceOf(Errors.DivisionByZeroError)
      expect(pool.stats().borrowed).toBe(0)
    })))

  it.live("an interrupted transaction is rolled back and its connection goes back to the pool", () =>
    run(Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const pool = yield* PgPool
      const t = yield* table("sql_interrupt", "id int4 PRIMARY KEY")
      const fiber = yield* Effect.forkChild(
        sql.withTransaction(Effect.andThen(sql`INSERT INTO ${sql(t)} VALUES (1)`, sql`SELECT pg_sleep(30)`))
      )
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(fiber)
      // released by the time the interrupt returns (a pool-level query would
      // count as borrowed until its lane is handed back, so look first)
      expect(pool.stats().borrowed).toBe(0)
      expect(yield* sql`SELECT id FROM ${sql(t)}`).toEqual([])
    })))

  it.live("a connection killed inside a transaction fails it with a ConnectionError, not a defect", () =>
    run(Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const pool = yield* PgPool
      const exit = yield* Effect.exit(
        sql.withTransaction(sql`SELECT pg_terminate_backend(pg_backend_pid())`)
      )
      expect(exit._tag).toBe("Failure")
      if (exit._tag === "Failure") {
        const error = Cause.findErrorOption(exit.cause)
        expect(error._tag).toBe("Some")
        if (error._tag === "Some") {
          expect(error.value.reason._tag).toBe("ConnectionError")
          expect(error.value.reason.cause).toBeInstanceOf(Errors.AdminShutdownError)
        }
        expect(Cause.hasDies(exit.cause)).toBe(false)
      }
      expect(pool.stats().borrowed).toBe(0)
      expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
    })))

  it.live("listen / notify", () =>
    run(Effect.gen(function* () {
      const sql = yield* PgSqlClient.PgSqlClient
      const channel = uniqueName("sql_chan")
      const received = yield* Effect.forkChild(Stream.runCollect(Stream.take(sql.listen(channel), 2)))
      // LISTEN is issued when the stream starts: notify until two are heard
      const sender = yield* Effect.forkChild(
        Effect.repeat(sql.notify(channel, "it's \"quoted\""), Schedule.spaced("30 millis"))
      )
      const got = yield* Fiber.join(received)
      yield* Fiber.interrupt(sender)
      expect(got.map((n) => n.payload)).toEqual(["it's \"quoted\"", "it's \"quoted\""])
      expect(got[0]!.channel).toBe(channel)
    })))

  it.live("PgMigrator with a schemaDirectory runs the migrations and writes no dump", () =>
    run(Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const migrations = uniqueName("sql_migrations_dump")
      const dir = path.join(os.tmpdir(), uniqueName("sql_schema"))
      yield* Effect.addFinalizer(() => Effect.ignore(sql.unsafe(`DROP TABLE IF EXISTS ${migrations}`)))
      const ran = yield* PgMigrator.run({
        loader: PgMigrator.fromRecord({ "1_noop": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`) }),
        table: migrations,
        schemaDirectory: dir
      })
      expect(ran).toEqual([[1, "noop"]])
      expect(fs.existsSync(dir)).toBe(false)
    })))

  it.live("raw returns the command status; errors of the client map to SqlError reasons", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const t = yield* table("sql_raw", "id int4")
      expect(yield* sql`INSERT INTO ${sql(t)} VALUES (1), (2)`.raw).toBe("INSERT 0 2")
      const timeout = yield* Effect.flip(sql`SELECT pg_sleep(5)`)
      expect(timeout.reason._tag).toBe("StatementTimeoutError")
      expect(timeout.reason.cause).toBeInstanceOf(Errors.CommandTimeoutError)
      // the client keeps working
      expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
    }).pipe(
      Effect.scoped,
      Effect.provide(PgSqlClient.layer({ dsn: TEST_DSN, minSize: 1, maxSize: 2, commandTimeout: "300 millis" }))
    ))

  it.live("a server that refuses connections fails the layer with a ConnectionError", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const err = yield* Effect.flip(
        Effect.provide(Effect.asVoid(SqlClient.SqlClient), PgSqlClient.layer({ dsn: `postgres://root@127.0.0.1:${port}/test`, minSize: 1, maxSize: 1, timeout: "2 seconds" }))
      )
      expect(err.reason._tag).toBe("ConnectionError")
      expect(err.reason.cause).toBeInstanceOf(Errors.PostgresConnectionError)
      expect(err.message).toContain("PostgresConnectionError")
    }))
})
