/**
 * Every example of asyncpg's pool reference (shared/reference/asyncpg-pool-api.txt),
 * translated to effect-pg and run against the real local server.
 *
 * Sizes are scaled down (the test server's 100 connections are shared with the
 * other test files); each test says what it stands for. The pool's COPY
 * methods (`copy_from_table`, `copy_to_table`, `copy_records_to_table`) are
 * in pool.copy.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Connection from "../src/Connection.js"
import { PgPool, type PgPoolShape } from "../src/Pool.js"
import { TEST_DSN, freePort, uniqueName } from "./support/db.js"
import { hold, observer, until } from "./support/pool.js"

const countOf = (obs: Connection.Connection, app: string) =>
  Effect.map(obs.fetchval("SELECT count(*)::int4 FROM pg_stat_activity WHERE application_name = $1", [app]), (n) => n as number)

/** A table of its own for a test, dropped at the end. */
const table = (obs: Connection.Connection, prefix: string, columns: string) =>
  Effect.gen(function* () {
    const name = uniqueName(prefix)
    yield* obs.execute(`CREATE TABLE ${name} (${columns})`)
    yield* Effect.addFinalizer(() => Effect.ignore(obs.execute(`DROP TABLE IF EXISTS ${name}`)))
    return name
  })

describe("asyncpg pool reference: create_pool", () => {
  it.live("basic pool: PgPool.make(dsn) — asyncpg's defaults, min_size = max_size = 10", () =>
    Effect.gen(function* () {
      // pool = asyncpg.create_pool('postgresql://user:pass@localhost/mydb')
      const obs = yield* observer()
      const app = uniqueName("pool")
      const pool = yield* PgPool.make({ dsn: TEST_DSN, applicationName: app })
      expect(pool.getMinSize()).toBe(10)
      expect(pool.getMaxSize()).toBe(10)
      expect(yield* countOf(obs, app)).toBe(10)
      expect(yield* pool.fetchval("SELECT 1")).toBe(1)
      yield* pool.close()
      expect(yield* until(countOf(obs, app), (n) => n === 0)).toBe(0)
    }))

  it.live("advanced configuration: maxQueries, maxInactiveConnectionLifetime, commandTimeout", () =>
    Effect.gen(function* () {
      // create_pool(dsn, min_size=5, max_size=20, max_queries=10000,
      //             max_inactive_connection_lifetime=600.0, command_timeout=60.0)  — sizes scaled to 2/5
      const obs = yield* observer()
      const app = uniqueName("pool")
      const pool = yield* PgPool.make({
        dsn: TEST_DSN,
        applicationName: app,
        minSize: 2,
        maxSize: 5,
        maxQueries: 10_000,
        maxInactiveConnectionLifetime: "600 seconds",
        commandTimeout: "60 seconds"
      })
      expect([pool.getMinSize(), pool.getMaxSize(), pool.getSize()]).toEqual([2, 5, 2])
      expect(yield* countOf(obs, app)).toBe(2)
      expect(yield* pool.fetchval("SELECT $1::int4 * 2", [21])).toBe(42)
      // five callers holding a connection each: the pool grows to max_size and no further
      yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i),
        () => pool.withConnection((c) => c.fetchval("SELECT pg_sleep(0.05)")),
        { concurrency: "unbounded" }
      )
      expect(pool.getSize()).toBe(5)
      expect(yield* countOf(obs, app)).toBe(5)
    }))

  it.live("command_timeout: a query running longer fails with CommandTimeoutError, on acquired and pool-level queries", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 2, commandTimeout: "150 millis" })
      const started = Date.now()
      const e1 = yield* Effect.flip(pool.withConnection((c) => c.fetchval("SELECT pg_sleep(5)")))
      expect(e1._tag).toBe("CommandTimeoutError")
      const e2 = yield* Effect.flip(pool.fetchval("SELECT pg_sleep($1::float8)", [5]))
      expect(e2._tag).toBe("CommandTimeoutError")
      expect(Date.now() - started).toBeLessThan(1500)
      // a per-query timeout wins over the pool's
      expect(yield* pool.fetchval("SELECT $1::int4 FROM pg_sleep(0.3)", [7], { timeout: "2 seconds" })).toBe(7)
      expect(yield* pool.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("pool with custom setup: a json codec and SET timezone on every acquired connection", () =>
    Effect.gen(function* () {
      // async def setup_connection(conn):
      //     await conn.set_type_codec('json', encoder=json.dumps, decoder=json.loads)
      //     await conn.execute("SET timezone = 'UTC'")
      // pool = asyncpg.create_pool(dsn, setup=setup_connection, min_size=2, max_size=10)  — max scaled to 4
      let setups = 0
      let decoded = 0
      const pool = yield* PgPool.make({
        dsn: TEST_DSN,
        minSize: 2,
        maxSize: 4,
        setup: (conn) =>
          Effect.andThen(
            Effect.sync(() => setups++),
            Effect.andThen(
              conn.setTypeCodec("json", {
                encoder: (v: unknown) => JSON.stringify(v),
                decoder: (text: string) => {
                  decoded++
                  return JSON.parse(text) as unknown
                },
                format: "text",
                schema: "pg_catalog"
              }),
              conn.execute("SET timezone = 'UTC'")
            )
          )
      })
      // the codec is the setup's: it encodes and decodes json values
      const json = yield* pool.withConnection((conn) => conn.fetchval("SELECT $1::json", [{ a: [1, "two"] }]))
      expect(json).toEqual({ a: [1, "two"] })
      expect(decoded).toBeGreaterThan(0)
      // the server's default is something else, so the setup is what we see
      const plain = yield* Connection.connect({ dsn: TEST_DSN, serverSettings: { timezone: "Asia/Tokyo" } })
      expect(yield* plain.fetchval("SHOW timezone")).toBe("Asia/Tokyo")
      yield* pool.setConnectArgs(undefined, { serverSettings: { timezone: "Asia/Tokyo" } })
      yield* pool.expireConnections()

      const inside = yield* pool.withConnection((conn) => conn.fetchval("SHOW timezone"))
      expect(inside).toBe("UTC")
      // pool-level queries run on acquired connections too, so they see the setup
      expect(yield* pool.fetchval("SHOW timezone")).toBe("UTC")
      expect(yield* pool.fetchval("SELECT current_setting('TimeZone')")).toBe("UTC")
      expect(yield* pool.fetchval("SELECT to_char($1::timestamptz, 'HH24:MI TZ')", [new Date(Date.UTC(2024, 0, 1, 12, 30))])).toBe(
        "12:30 UTC"
      )
      // once per acquire
      const n = setups
      yield* pool.withConnection((conn) => conn.fetchval("SELECT 1"))
      expect(setups).toBe(n + 1)
    }))

  it.live("await pool: the pool as a Layer (PgPool.layer), used through the PgPool service", () =>
    Effect.gen(function* () {
      const app = uniqueName("pool")
      const program = Effect.gen(function* () {
        const pool = yield* PgPool
        return yield* pool.fetchval("SELECT current_setting('application_name')")
      })
      expect(yield* Effect.provide(program, PgPool.layer({ dsn: TEST_DSN, applicationName: app, minSize: 1, maxSize: 2 }))).toBe(app)
      // layerConfig reads DATABASE_URL through effect/Config
      const fromConfig = PgPool.layerConfig({ applicationName: app, minSize: 1, maxSize: 1 }).pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ DATABASE_URL: TEST_DSN })))
      )
      expect(yield* Effect.provide(program, fromConfig)).toBe(app)
      // the layer's pool is closed when the program ends
      const obs = yield* observer()
      expect(yield* until(countOf(obs, app), (n) => n === 0)).toBe(0)
    }))
})

describe("asyncpg pool reference: acquire and release", () => {
  it.live("async with pool.acquire() as conn — scoped acquire, released when the scope closes", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const users = yield* table(obs, "users", "id int4, name text, active bool")
      yield* obs.execute(`INSERT INTO ${users} VALUES (1, 'ann', true), (2, 'bob', false)`)
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 2 })
      const result = yield* Effect.scoped(
        Effect.gen(function* () {
          const conn = yield* pool.acquire()
          expect(pool.getIdleSize()).toBe(0)
          return yield* conn.fetch(`SELECT * FROM ${users} ORDER BY id`)
        })
      )
      expect(result.map((r) => r.get("name"))).toEqual(["ann", "bob"])
      expect(pool.getIdleSize()).toBe(1) // connection automatically released
    }))

  it.live("conn = await pool.acquire(); try ... finally: await pool.release(conn) — manual acquire/release", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 2 })
      const conn = yield* pool.acquireUnscoped()
      const result = yield* conn.fetch("SELECT generate_series(1, 3) AS n").pipe(Effect.ensuring(Effect.ignore(pool.release(conn))))
      expect(result.map((r) => r.get("n"))).toEqual([1, 2, 3])
      expect(pool.getIdleSize()).toBe(1)
      // the same with a failing query: the finally still releases
      const e = yield* Effect.flip(
        Effect.flatMap(pool.acquireUnscoped(), (c) => c.fetch("SELECT * FROM no_such_table_xyz").pipe(Effect.ensuring(Effect.ignore(pool.release(c)))))
      )
      expect(e._tag).toBe("UndefinedTableError")
      expect(pool.getIdleSize()).toBe(1)
    }))

  it.live("pool.acquire(timeout=5.0): the timeout fails with AcquireTimeoutError (asyncio.TimeoutError)", () =>
    Effect.gen(function* () {
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 1 })
      // a free connection: the query runs
      const status = yield* Effect.scoped(Effect.flatMap(pool.acquire({ timeout: "5 seconds" }), (conn) => conn.execute("SELECT pg_sleep(0.01)")))
      expect(status).toBe("SELECT 1")
      // none free: "Could not acquire connection within timeout"
      const holder = yield* hold(pool)
      const message = yield* Effect.scoped(Effect.flatMap(pool.acquire({ timeout: "100 millis" }), (conn) => conn.execute("SELECT 1"))).pipe(
        Effect.as("acquired"),
        Effect.catchTag("AcquireTimeoutError", (e) => Effect.succeed(`Could not acquire connection within timeout (${e.timeoutMs} ms)`))
      )
      expect(message).toBe("Could not acquire connection within timeout (100 ms)")
      yield* pool.release(holder)
    }))
})

describe("asyncpg pool reference: pool-level queries", () => {
  it.live("fetch, fetchval, execute, executemany, fetchrow, fetchmany straight on the pool", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const users = yield* table(obs, "users", "id int4, name text, active bool")
      const orders = yield* table(obs, "orders", "id serial, amount int4, status text")
      const logs = yield* table(obs, "logs", "message text, timestamp timestamptz")
      yield* obs.execute(`INSERT INTO ${users} VALUES (1, 'ann', true), (2, 'bob', false), (3, 'cy', true)`)
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 3 })

      // users = await pool.fetch("SELECT * FROM users WHERE active = $1", True)
      const active = yield* pool.fetch(`SELECT * FROM ${users} WHERE active = $1 ORDER BY id`, [true])
      expect(active.map((r) => r.get("name"))).toEqual(["ann", "cy"])
      // count = await pool.fetchval("SELECT COUNT(*) FROM orders")
      expect(yield* pool.fetchval(`SELECT COUNT(*)::int4 FROM ${orders}`)).toBe(0)
      // await pool.execute("INSERT INTO logs(message, timestamp) VALUES($1, $2)", "User logged in", datetime.now())
      const now = new Date()
      expect(yield* pool.execute(`INSERT INTO ${logs}(message, timestamp) VALUES($1, $2)`, ["User logged in", now])).toBe("INSERT 0 1")
      const logged = yield* pool.fetchrow(`SELECT * FROM ${logs}`)
      expect(logged?.get("message")).toBe("User logged in")
      expect((logged?.get("timestamp") as Date).getTime()).toBe(now.getTime())
      // await pool.executemany("INSERT INTO orders(amount, status) VALUES($1, $2)", orders)
      yield* pool.executemany(`INSERT INTO ${orders}(amount, status) VALUES($1, $2)`, [
        [100, "pending"],
        [200, "shipped"],
        [300, "delivered"]
      ])
      expect(yield* pool.fetchval(`SELECT COUNT(*)::int4 FROM ${orders}`)).toBe(3)
      // fetchval(column=...)
      expect(yield* pool.fetchval(`SELECT amount, status FROM ${orders} WHERE amount = $1`, [200], { column: "status" })).toBe("shipped")
      expect(yield* pool.fetchval(`SELECT amount, status FROM ${orders} WHERE amount = $1`, [300], { column: 1 })).toBe("delivered")
      // fetchmany: one result per argument set
      const many = yield* pool.fetchmany(`SELECT status FROM ${orders} WHERE amount = $1`, [[100], [300], [999]])
      expect(many.map((rows) => rows.map((r) => r.get("status")))).toEqual([["pending"], ["delivered"], []])
      // a statement of the pool-level API fails with its SQLSTATE's tag
      const e = yield* Effect.flip(pool.execute(`INSERT INTO ${orders}(amount, status) VALUES($1, $2)`, ["x", "y"]))
      expect(e._tag).toBe("DataError")
      // executemany is all or nothing
      const e2 = yield* Effect.flip(pool.executemany(`INSERT INTO ${orders}(id, amount) VALUES($1, $2)`, [[10, 1], [10, 1 / 0]]))
      expect(["DataError", "InterfaceError"]).toContain(e2._tag)
      expect(yield* pool.fetchval(`SELECT COUNT(*)::int4 FROM ${orders}`)).toBe(3)
      // a script without arguments (simple protocol), e.g. DDL, through the pool
      yield* pool.execute(`CREATE INDEX ON ${orders}(status); ANALYZE ${orders}`)
      expect(yield* pool.fetchval("SELECT count(*)::int4 FROM pg_indexes WHERE tablename = $1", [orders])).toBe(1)
    }))
})

describe("asyncpg pool reference: lifecycle and monitoring", () => {
  it.live("close(), terminate(), expire_connections(), is_closing(), set_connect_args()", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const app = uniqueName("pool")
      const pool = yield* PgPool.make({ dsn: TEST_DSN, applicationName: app, minSize: 2, maxSize: 3 })

      // pool.set_connect_args(command_timeout=30.0, server_settings={'timezone': 'America/New_York'})
      yield* pool.setConnectArgs(undefined, { commandTimeout: "30 seconds", serverSettings: { timezone: "America/New_York" } })
      // existing connections keep their settings until they are replaced ...
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW timezone"))).not.toBe("America/New_York")
      // await pool.expire_connections()  (useful after schema changes)
      const pidsBefore = yield* pool.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])
      yield* pool.expireConnections()
      expect(yield* pool.withConnection((c) => c.fetchval("SHOW timezone"))).toBe("America/New_York")
      const pidsAfter = yield* obs.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])
      const before = new Set(pidsBefore.map((r) => r.get("pid")))
      expect(pidsAfter.filter((r) => before.has(r.get("pid")))).toEqual([])

      // if pool.is_closing(): ... else: await pool.fetchval("SELECT 1")
      const check = (p: PgPoolShape) => (p.isClosing() ? Effect.succeed("Pool is shutting down") : p.fetchval("SELECT 1"))
      expect(yield* check(pool)).toBe(1)

      // await pool.close()  — graceful
      yield* pool.close()
      expect(pool.isClosing()).toBe(true)
      expect(yield* check(pool)).toBe("Pool is shutting down")
      expect(yield* until(countOf(obs, app), (n) => n === 0)).toBe(0)

      // pool.terminate()  — at once
      const app2 = uniqueName("pool")
      const pool2 = yield* PgPool.make({ dsn: TEST_DSN, applicationName: app2, minSize: 2, maxSize: 2 })
      const held = yield* hold(pool2)
      const q = yield* Effect.forkChild(Effect.flip(held.fetchval("SELECT pg_sleep(0.5)")))
      yield* Effect.sleep("50 millis")
      yield* pool2.terminate()
      expect(pool2.isClosing()).toBe(true)
      expect(["ConnectionDoesNotExistError", "PostgresConnectionError"]).toContain((yield* Fiber.join(q))._tag)
      yield* pool2.release(held)
      expect(yield* until(countOf(obs, app2), (n) => n === 0)).toBe(0)
    }))

  it.live("pool status monitoring: get_size, get_idle_size, active = size - idle, health check, auto-scaling hint", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const app = uniqueName("pool")
      const pool = yield* PgPool.make({ dsn: TEST_DSN, applicationName: app, minSize: 1, maxSize: 3 })
      const status = () => ({ size: pool.getSize(), idle: pool.getIdleSize(), active: pool.getSize() - pool.getIdleSize() })
      expect(status()).toEqual({ size: 1, idle: 1, active: 0 })
      const a = yield* hold(pool)
      const b = yield* hold(pool)
      expect(status()).toEqual({ size: 2, idle: 0, active: 2 })
      expect(yield* countOf(obs, app)).toBe(2)
      const c = yield* hold(pool)
      // if pool.get_idle_size() == 0 and pool.get_size() == pool.get_max_size(): "Warning: at maximum capacity"
      expect(pool.getIdleSize() === 0 && pool.getSize() === pool.getMaxSize()).toBe(true)
      // if pool.get_idle_size() < 2: "Consider increasing pool size"
      expect(pool.getIdleSize() < 2).toBe(true)
      yield* pool.release(a)
      yield* pool.release(b)
      expect(status()).toEqual({ size: 3, idle: 2, active: 1 })
      expect(yield* countOf(obs, app)).toBe(3)
      yield* pool.release(c)
      expect(status()).toEqual({ size: 3, idle: 3, active: 0 })
      expect(pool.stats()).toMatchObject({ size: 3, idle: 3, borrowed: 0, waiting: 0, minSize: 1, maxSize: 3, acquires: 3 })
    }))

  it.live("configuration patterns: web application, batch processing, OLTP (sizes scaled down)", () =>
    Effect.gen(function* () {
      const obs = yield* observer()
      const patterns = [
        // web: min 5, max 50, max_queries 10000, inactive 300 s, command_timeout 30 s
        { minSize: 2, maxSize: 5, maxQueries: 10_000, maxInactiveConnectionLifetime: "300 seconds", commandTimeout: "30 seconds" },
        // batch: min 2, max 10, max_queries 1000, inactive 1800 s, command_timeout 3600 s
        { minSize: 2, maxSize: 4, maxQueries: 1_000, maxInactiveConnectionLifetime: "1800 seconds", commandTimeout: "3600 seconds" },
        // OLTP: min 20, max 100, max_queries 50000, inactive 60 s, command_timeout 5 s
        { minSize: 4, maxSize: 8, maxQueries: 50_000, maxInactiveConnectionLifetime: "60 seconds", commandTimeout: "5 seconds" }
      ] as const
      for (const options of patterns) {
        const app = uniqueName("pool")
        yield* Effect.scoped(
          Effect.gen(function* () {
            const pool = yield* PgPool.make({ dsn: TEST_DSN, applicationName: app, ...options })
            expect(yield* countOf(obs, app)).toBe(options.minSize)
            const values = yield* Effect.forEach(
              Array.from({ length: 100 }, (_, i) => i),
              (i) => (i % 4 === 0 ? pool.withConnection((c) => c.fetchval("SELECT $1::int4", [i])) : pool.fetchval("SELECT $1::int4", [i])),
              { concurrency: "unbounded" }
            )
            expect(values).toEqual(Array.from({ length: 100 }, (_, i) => i))
            expect(yield* countOf(obs, app)).toBeLessThanOrEqual(options.maxSize)
          })
        )
        expect(yield* until(countOf(obs, app), (n) => n === 0)).toBe(0)
      }
    }))
})

describe("asyncpg pool reference: error handling", () => {
  it.live("asyncio.TimeoutError / TooManyConnectionsError / PostgresConnectionError are tags to catch", () =>
    Effect.gen(function* () {
      const handle = <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>) =>
        self.pipe(
          Effect.as("ok"),
          Effect.catch((e: { readonly _tag: string }) =>
            Effect.succeed(
              e._tag === "AcquireTimeoutError"
                ? "Timeout acquiring connection from pool"
                : e._tag === "TooManyConnectionsError"
                  ? "Pool has reached maximum size"
                  : e._tag === "PostgresConnectionError"
                    ? "Connection error in pool"
                    : `other: ${e._tag}`
            )
          )
        )
      const pool = yield* PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 1 })
      expect(yield* handle(Effect.scoped(Effect.flatMap(pool.acquire(), (c) => c.fetch("SELECT 1"))))).toBe("ok")
      const holder = yield* hold(pool)
      expect(yield* handle(Effect.scoped(Effect.flatMap(pool.acquire({ timeout: "50 millis" }), (c) => c.fetch("SELECT 1"))))).toBe(
        "Timeout acquiring connection from pool"
      )
      yield* pool.release(holder)
      // a server that is not there: creating the pool fails fast
      const port = yield* Effect.promise(() => freePort())
      expect(yield* handle(Effect.scoped(PgPool.make({ dsn: `postgres://root@127.0.0.1:${port}/test`, minSize: 1, maxSize: 1 })))).toBe(
        "Connection error in pool"
      )
      // and catchTag narrows to one of them
      const narrowed = yield* Effect.scoped(PgPool.make({ dsn: `postgres://root@127.0.0.1:${port}/test`, minSize: 1 })).pipe(
        Effect.as(""),
        Effect.catchTag("PostgresConnectionError", (e) => Effect.succeed(e.reason))
      )
      expect(narrowed).toBe("refused")
    }))
})
