/**
 * The README's examples, as written there (against the test server), so the
 * documentation cannot drift from the API: they must type-check and run.
 * Also checked against the README itself: its type table (each PostgreSQL
 * type it names decodes to the JavaScript kind it states), its asyncpg table
 * (every pool API of asyncpg has a row), and the lines CI and users rely on.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SqlClient from "effect/sql/SqlClient"
import { Connection, Errors, Interval, PgPool, type Pool, Range } from "../src/index.js"
import * as PgSqlClient from "../src/sql/PgSqlClient.js"
import { createPool, CommandTimeoutError } from "../src/promise/index.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const README = fs.readFileSync(path.resolve(import.meta.dirname, "../README.md"), "utf8")

/** The text of the README section under `heading`, up to the next heading of the same level or above. */
const section = (heading: string): string => {
  const start = README.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`README has no section ${heading}`)
  const level = heading.indexOf(" ")
  const rest = README.slice(start + heading.length + 2)
  const next = rest.search(new RegExp(`^#{1,${level}} `, "m"))
  return next < 0 ? rest : rest.slice(0, next)
}

/** The kind of a decoded value, in the README type table's words. */
const kindOf = (v: unknown): string =>
  v === null
    ? "null"
    : Array.isArray(v)
    ? "array"
    : v instanceof Date
    ? "Date"
    : Buffer.isBuffer(v)
    ? "Buffer"
    : v instanceof Interval
    ? "Interval"
    : v instanceof Range
    ? "Range"
    : typeof v

/** A value of each type the README's type table names (the cell text as written there). */
const samples: Record<string, string> = {
  bool: "true",
  int2: "1::int2",
  int4: "1::int4",
  int8: "1::int8",
  float4: "1.5::float4",
  float8: "1.5::float8",
  numeric: "1.50::numeric",
  money: "1.5::money",
  oid: "1::oid",
  xid: "'1'::xid",
  cid: "'1'::cid",
  regclass: "'pg_class'::regclass",
  regtype: "'int4'::regtype",
  "reg*": "'pg_catalog'::regnamespace",
  xid8: "'5'::xid8",
  text: "'a'::text",
  varchar: "'a'::varchar",
  bpchar: "'a'::bpchar",
  "char(n)": "'a'::char(3)",
  name: "'a'::name",
  "\"char\"": "'a'::\"char\"",
  xml: "'<a/>'::xml",
  citext: "'A'::citext",
  uuid: "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid",
  json: "'{\"a\": 1}'::json",
  jsonb: "'{\"a\": 1}'::jsonb",
  jsonpath: "'$.a'::jsonpath",
  bytea: "'\\x0102'::bytea",
  date: "'2024-01-02'::date",
  timestamp: "'2024-01-02 03:04:05'::timestamp",
  timestamptz: "now()",
  time: "'03:04:05'::time",
  timetz: "'03:04:05+02'::timetz",
  interval: "'1 day 2 hours'::interval",
  inet: "'10.0.0.1'::inet",
  cidr: "'10.0.0.0/8'::cidr",
  macaddr: "'08:00:2b:01:02:03'::macaddr",
  macaddr8: "'08:00:2b:01:02:03:04:05'::macaddr8",
  point: "'(1,2)'::point",
  line: "'{1,2,3}'::line",
  lseg: "'[(1,2),(3,4)]'::lseg",
  box: "'(1,2),(3,4)'::box",
  path: "'[(1,2),(3,4)]'::path",
  polygon: "'((1,2),(3,4),(5,6))'::polygon",
  circle: "'<(1,2),3>'::circle",
  bit: "B'101'",
  varbit: "B'101'::varbit",
  tsvector: "'a b'::tsvector",
  tsquery: "'a & b'::tsquery",
  pg_lsn: "'0/16B3748'::pg_lsn",
  tid: "'(1,2)'::tid",
  txid_snapshot: "txid_current_snapshot()",
  int4range: "'[1,5)'::int4range",
  int8range: "'[1,5)'::int8range",
  numrange: "'[1.5,5)'::numrange",
  daterange: "'[2024-01-01,2024-02-01)'::daterange",
  tsrange: "tsrange('2024-01-01', NULL)",
  tstzrange: "tstzrange(now(), NULL)",
  int4multirange: "'{[1,2),[5,6)}'::int4multirange",
  "int4[]": "ARRAY[1, NULL, 3]",
  "text[][]": "ARRAY[['a', 'b'], ['c', 'd']]",
  "CREATE TYPE ... AS (...)": "ROW(1, 'x')::pg_temp.readme_pair",
  "ROW(1, 'a')": "ROW(1, 'a')",
  "CREATE TYPE ... AS ENUM": "'ok'::pg_temp.readme_mood",
  "CREATE DOMAIN": "5::pg_temp.readme_posint",
  hstore: "'a=>1, b=>NULL'::hstore",
  NULL: "NULL::int4"
}

/** The rows of the README's type table: the type names of the first cell, the kind the second states. */
const typeTable = (): ReadonlyArray<{ readonly types: ReadonlyArray<string>; readonly kind: string; readonly line: string }> =>
  section("## PostgreSQL types and JavaScript values")
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| PostgreSQL"))
    .map((line) => {
      const [first = "", second = ""] = line.split(" | ").map((c) => c.replace(/^\| /, ""))
      const types = [...first.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
      const kind = second.startsWith("array") ? "array" : (second.match(/`([^`]+)`/)?.[1] ?? second)
      return { types, kind, line }
    })

describe("README examples", () => {
  it.live("quick start: PgPool.layer, pool.fetch, acquire with a timeout, catchTag", () =>
    Effect.gen(function* () {
      const users = uniqueName("readme_users")
      const PgPoolLive = PgPool.layer({ dsn: TEST_DSN, minSize: 1, maxSize: 4, commandTimeout: "30 seconds" })

      const program = Effect.gen(function* () {
        const pool = yield* PgPool
        yield* pool.execute(`CREATE TABLE ${users} (id int PRIMARY KEY, name text, active bool)`)
        yield* pool.executemany(`INSERT INTO ${users} VALUES ($1, $2, $3)`, [
          [1, "Ada", true],
          [2, "Grace", false]
        ])
        const rows = yield* pool.fetch(`SELECT * FROM ${users} WHERE active = $1`, [true])
        const name = rows[0]?.get("name")
        const path = yield* Effect.scoped(
          Effect.flatMap(pool.acquire({ timeout: "5 seconds" }), (conn) =>
            Effect.andThen(conn.execute("SET search_path = public"), conn.fetchval("SHOW search_path"))
          )
        )
        const duplicate = yield* pool
          .execute(`INSERT INTO ${users} VALUES ($1, $2, $3)`, [1, "Ada again", true])
          .pipe(
            Effect.as("inserted"),
            Effect.catchTag("UniqueViolationError", (e) => Effect.succeed(`refused: ${e.constraint}`))
          )
        yield* pool.execute(`DROP TABLE ${users}`)
        return { name, path, duplicate, count: rows.length }
      }).pipe(
        Effect.catchTag("AcquireTimeoutError", (e) => Effect.die(e)),
        Effect.provide(PgPoolLive)
      )

      const out = yield* program
      expect(out).toEqual({ name: "Ada", path: "public", duplicate: `refused: ${users}_pkey`, count: 1 })
    }))

  it.live("a single connection; transactions, prepare, cursor, listen", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect(TEST_DSN) // closed with the scope
      expect(yield* conn.fetchval("SELECT $1::int + 1", [41])).toBe(42)
      const t = uniqueName("readme_t")
      yield* conn.execute(`CREATE TEMP TABLE ${t} (id int, v text)`)
      yield* conn.executemany(`INSERT INTO ${t} VALUES ($1, $2)`, [
        [1, "a"],
        [2, "b"]
      ])
      yield* conn.transaction(
        Effect.gen(function* () {
          yield* conn.execute(`INSERT INTO ${t} VALUES ($1, $2)`, [3, "c"])
        }),
        { isolation: "serializable" }
      )
      const byId = yield* conn.prepare(`SELECT v FROM ${t} WHERE id = $1`)
      expect((yield* byId.fetchrow([3]))?.get("v")).toBe("c")
      const ids = yield* conn.cursor(`SELECT id FROM ${t} ORDER BY id`, [], { prefetch: 2 }).pipe(
        Stream.map((r) => r.get("id")),
        Stream.runCollect
      )
      expect(Array.from(ids)).toEqual([1, 2, 3])
    }))

  it.live("the transactions and cursors sections: tx.commit() in a scope; what a failed COMMIT at scope close is", () =>
    Effect.gen(function* () {
      expect(section("### Transactions")).toContain("a COMMIT that fails at scope close is a defect")
      expect(section("### Cursors")).toContain("share that one transaction")
      const conn = yield* Connection.connect(TEST_DSN)
      const orders = uniqueName("readme_orders")
      yield* conn.execute(`CREATE TEMP TABLE ${orders} (id int)`)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const tx = yield* conn.transaction()
          yield* conn.execute(`INSERT INTO ${orders} VALUES ($1)`, [1])
          yield* tx.commit() // a failed COMMIT is a typed error here, not a defect at scope close
        })
      )
      expect(yield* conn.fetchval(`SELECT count(*)::int4 FROM ${orders}`)).toBe(1)
    }))

  it.live("the opening program: layerConfig, fetchrow, a row's columns as properties", () =>
    Effect.gen(function* () {
      const program = Effect.gen(function* () {
        const pool = yield* PgPool
        const row = yield* pool.fetchrow("SELECT $1::text AS greeting, now() AS at", ["hello"])
        return [row?.greeting, row?.at] as const
      })
      // as in the README, with the test server's DSN (explicit options win over DATABASE_URL)
      const [greeting, at] = yield* program.pipe(Effect.provide(PgPool.layerConfig({ maxSize: 10, dsn: TEST_DSN })))
      expect(greeting).toBe("hello")
      expect(at).toBeInstanceOf(Date)
    }))

  it.live("effect-pg/sql: the SqlClient example", () =>
    Effect.gen(function* () {
      const users = uniqueName("readme_sql_users")
      const program = Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE ${sql(users)} (id serial PRIMARY KEY, name text NOT NULL)`
        yield* sql.withTransaction(sql`INSERT INTO ${sql(users)} ${sql.insert({ name: "Ada" })}`)
        const rows = yield* sql<{ id: number; name: string }>`SELECT id, name FROM ${sql(users)}`
        yield* sql`DROP TABLE ${sql(users)}`
        return rows
      }).pipe(Effect.provide(PgSqlClient.layer({ dsn: TEST_DSN, maxSize: 10 })))
      expect(yield* program).toEqual([{ id: 1, name: "Ada" }])
    }))

  it.live("errors guide: catchTag into a domain error, a whole SQLSTATE class, retrying a serialization failure", () =>
    Effect.gen(function* () {
      const users = uniqueName("readme_err_users")
      class EmailTaken extends Data.TaggedError("EmailTaken")<{ readonly email: string }> {}
      const register = (email: string) =>
        Effect.gen(function* () {
          const pool = yield* PgPool
          return yield* pool.fetchval(`INSERT INTO ${users} (email) VALUES ($1) RETURNING id`, [email])
        }).pipe(Effect.catchTag("UniqueViolationError", () => Effect.fail(new EmailTaken({ email }))))
      const insertOrNull = (pool: PgPool["Service"], sql: string, args: ReadonlyArray<unknown>) =>
        pool.execute(sql, args).pipe(
          Effect.catchIf(Errors.isIntegrityConstraintViolation, (e) => Effect.as(Effect.logDebug(e.detail ?? e.message), null))
        )
      let attempts = 0
      const transfer = (pool: PgPool["Service"]) =>
        pool.withConnection((conn) =>
          conn.transaction(
            Effect.gen(function* () {
              attempts++
              // what a lost serialization conflict looks like, the first two times
              if (attempts < 3) yield* conn.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
            }),
            { isolation: "serializable" }
          )
        ).pipe(
          Effect.retry({
            times: 5,
            schedule: Schedule.exponential("10 millis"),
            while: (e) => e._tag === "SerializationError" || e._tag === "DeadlockDetectedError"
          })
        )
      const out = yield* Effect.gen(function* () {
        const pool = yield* PgPool
        yield* pool.execute(`CREATE TABLE ${users} (id serial PRIMARY KEY, email text UNIQUE NOT NULL)`)
        const first = yield* register("ada@example.com")
        const again = yield* Effect.flip(register("ada@example.com"))
        const nullInsert = yield* insertOrNull(pool, `INSERT INTO ${users} (email) VALUES ($1)`, [null])
        yield* transfer(pool)
        yield* pool.execute(`DROP TABLE ${users}`)
        return { first, again, nullInsert }
      }).pipe(Effect.provide(PgPool.layer({ dsn: TEST_DSN, minSize: 1, maxSize: 2 })))
      expect(out).toEqual({ first: 1, again: new EmailTaken({ email: "ada@example.com" }), nullInsert: null })
      expect(attempts).toBe(3)
    }))

  it.live("the type table: every PostgreSQL type it names decodes to the JavaScript kind it states", () =>
    Effect.gen(function* () {
      const rows = typeTable()
      expect(rows.length).toBeGreaterThan(20)
      const conn = yield* Connection.connect(TEST_DSN)
      // extensions and types made for the check are rolled back
      const tx = yield* conn.transaction()
      yield* conn.execute("CREATE EXTENSION IF NOT EXISTS hstore; CREATE EXTENSION IF NOT EXISTS citext")
      yield* conn.execute(`CREATE TYPE pg_temp.readme_pair AS (a int, b text);
        CREATE TYPE pg_temp.readme_mood AS ENUM ('ok', 'sad');
        CREATE DOMAIN pg_temp.readme_posint AS int4 CHECK (VALUE > 0)`)
      yield* conn.reloadSchemaState()
      const checked: Array<string> = []
      for (const { types, kind, line } of rows) {
        expect(types.length, `a README type row without a type: ${line}`).toBeGreaterThan(0)
        for (const type of types) {
          const sample = samples[type]
          expect(sample, `no sample value for README type ${type}: add one to this test`).toBeDefined()
          const value = yield* conn.fetchval(`SELECT ${sample}`)
          expect({ type, kind: kindOf(value) }).toEqual({ type, kind })
          checked.push(type)
        }
      }
      yield* tx.rollback()
      expect(checked).toContain("int8")
      expect(checked).toContain("tstzrange")
    }))

  it.live("configuration: options as Configs, the DSN a Redacted from the environment", () =>
    Effect.gen(function* () {
      expect(section("### Configuration")).toContain('Config.Redacted("APP_DATABASE_URL")')
      const PgPoolLive = PgPool.layerConfig({
        dsn: Config.Redacted("APP_DATABASE_URL"),
        maxSize: Config.Int("APP_DB_POOL_SIZE").pipe(Config.withDefault(20)),
        commandTimeout: "30 seconds"
      })
      const env = ConfigProvider.fromEnv({ env: { APP_DATABASE_URL: TEST_DSN, APP_DB_POOL_SIZE: "3" } })
      const got = yield* Effect.gen(function* () {
        const pool = yield* PgPool
        return { one: yield* pool.fetchval("SELECT 1"), max: pool.getMaxSize() }
      }).pipe(Effect.provide(PgPoolLive), Effect.provideService(ConfigProvider.ConfigProvider, env))
      expect(got).toEqual({ one: 1, max: 3 })
    }))

  it.live("without Effect: the effect-pg/promise example", () =>
    Effect.promise(async () => {
      expect(section("### Without Effect: `effect-pg/promise`")).toContain("await using conn = await pool.acquire()")
      const users = uniqueName("readme_promise")
      const pool = await createPool(TEST_DSN, { minSize: 2, maxSize: 10 })
      try {
        await pool.execute(`CREATE TABLE ${users} (name text, active bool DEFAULT true)`)
        {
          await using conn = await pool.acquire()
          await conn.transaction(async () => {
            await conn.execute(`INSERT INTO ${users} (name) VALUES ($1)`, "ada")
          })
        }
        const rows = await pool.fetch(`SELECT * FROM ${users} WHERE active = $1`, true)
        expect(rows.map((r) => r.get("name"))).toEqual(["ada"])
        const late = await pool.with({ timeout: 500 }).fetchval("SELECT pg_sleep(1)").catch((e: unknown) => e)
        expect(late).toBeInstanceOf(CommandTimeoutError)
        await pool.execute(`DROP TABLE ${users}`)
      } finally {
        await pool.close()
      }
    }))

  it.live("rows your way: a Schema per call, a recordClass per call", () =>
    Effect.gen(function* () {
      expect(section("### Rows your way: `recordClass` and Schema-typed rows")).toContain("{ schema: User }")
      const users = uniqueName("readme_rows")
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 2 })
      yield* pool.execute(`CREATE TABLE ${users} (id int, name text, created timestamptz DEFAULT now())`)
      yield* pool.execute(`INSERT INTO ${users} (id, name) VALUES (1, 'ada')`)
      const User = Schema.Struct({ id: Schema.Number, name: Schema.String, created: Schema.Date })
      const rows = yield* pool.fetch(`SELECT id, name, created FROM ${users}`, [], { schema: User })
      expect(rows[0]?.name).toBe("ada")
      expect(rows[0]?.created).toBeInstanceOf(Date)
      const bad = yield* Effect.flip(pool.fetch(`SELECT id, 42 AS name, created FROM ${users}`, [], { schema: User }))
      expect(bad._tag).toBe("RowDecodeError")
      class Point {
        constructor(readonly x: number, readonly y: number) {}
      }
      const toPoint = (_shape: unknown, values: ReadonlyArray<unknown>) => new Point(values[0] as number, values[1] as number)
      const points = yield* pool.fetch("SELECT 1 AS x, 2 AS y", [], { recordClass: toPoint })
      const p: Point = points[0]!
      expect(p).toEqual(new Point(1, 2))
      yield* pool.execute(`DROP TABLE ${users}`)
    }))

  it("asyncpg table: every pool API of asyncpg has a row with its counterpart", () => {
    const table = section("## Coming from asyncpg")
    const asyncpg = [
      "create_pool", "dsn=", "min_size=", "max_size=", "max_queries=", "max_inactive_connection_lifetime=", "connect=",
      "setup=", "init=", "reset=", "loop=", "connection_class=", "record_class=", "**connect_kwargs", "await pool",
      "pool.acquire(timeout=", "pool.release(conn", "pool.execute(", "pool.executemany(", "pool.fetch(", "pool.fetchval(",
      "pool.fetchrow(", "pool.fetchmany(", "pool.copy_from_table(", "pool.copy_to_table(", "pool.copy_records_to_table(",
      "pool.close()", "pool.terminate()", "pool.expire_connections()", "pool.is_closing()", "pool.set_connect_args(",
      "get_size()", "get_min_size()", "get_max_size()", "get_idle_size()", "PoolAcquireContext", "asyncio.TimeoutError",
      "asyncpg.TooManyConnectionsError", "asyncpg.PostgresConnectionError"
    ]
    const rows = table.split("\n").filter((l) => l.startsWith("| "))
    for (const name of asyncpg) {
      const row = rows.find((r) => r.split(" | ")[0]!.includes(name))
      expect(row, `no asyncpg table row for ${name}`).toBeDefined()
      // the effect-pg column says something
      expect(row!.split(" | ")[1]!.trim().length).toBeGreaterThan(3)
    }
    // the pool methods it names (checked against the pool's type by the compiler)
    const methods: ReadonlyArray<keyof Pool.PgPoolShape> = [
      "acquire", "acquireUnscoped", "release", "withConnection", "execute", "executemany", "fetch", "fetchval", "fetchrow",
      "fetchmany", "copyFromTable", "copyToTable", "copyRecordsToTable", "close", "terminate", "expireConnections",
      "isClosing", "setConnectArgs", "getSize", "getMinSize", "getMaxSize", "getIdleSize", "stats"
    ]
    for (const method of methods) expect(table).toContain(`${method}(`)
  })

  it("the README opens with the install line and keeps the contributor commands CI runs", () => {
    expect(README.indexOf("npm install effect-pg effect")).toBeLessThan(README.indexOf("## "))
    const contributing = section("## Contributing")
    for (const cmd of ["npm install", "npm test", "npm start"]) expect(contributing).toMatch(new RegExp(`^${cmd} `, "m"))
    expect(README).toContain("[Running on more than one server](docs/multi-server.md)")
  })
})

