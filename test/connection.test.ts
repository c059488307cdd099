import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Connection from "../src/Connection.js"
import * as PgRecord from "../src/Record.js"
import { TEST_DSN, freePort, uniqueName } from "./support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

/** The error an effect fails with (the test fails if it succeeds). */
const errorOf = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.flip(self)

describe("Connection", () => {
  it.live("connects and runs a query with parameters", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const rows = yield* conn.fetch("SELECT $1::int4 + 1 AS n, $2::text AS t, NULL::int4 AS z", [41, "héllo"])
      expect(rows.length).toBe(1)
      const row = rows[0]!
      expect(row.get("n")).toBe(42)
      expect(row.get(1)).toBe("héllo")
      expect(row.z).toBe(null)
      expect(row.n).toBe(42)
      expect([...row.keys()]).toEqual(["n", "t", "z"])
      expect(row.length).toBe(3)
      expect(String(row)).toContain("n=42")
      expect(PgRecord.isRecord(row)).toBe(true)
    }))

  it.live("returns command status from execute, runs scripts over the simple protocol", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_exec")
      const status = yield* conn.execute(`CREATE TEMP TABLE ${table} (id int primary key, v text); INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
      expect(status).toBe("INSERT 0 2")
      expect(yield* conn.execute(`UPDATE ${table} SET v = $1 WHERE id = $2`, ["z", 1])).toBe("UPDATE 1")
      expect(yield* conn.fetchval(`SELECT v FROM ${table} WHERE id = $1`, [1])).toBe("z")
      expect(yield* conn.fetchval(`SELECT id, v FROM ${table} WHERE id = 2`, [], { column: "v" })).toBe("b")
      expect(yield* conn.fetchrow(`SELECT * FROM ${table} WHERE id = 99`)).toBe(null)
    }))

  it.live("1,000 concurrent queries on one connection each get their own value", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const ids = Array.from({ length: 1000 }, (_, i) => i)
      const results = yield* Effect.forEach(
        ids,
        (i) => conn.fetchval("SELECT $1::int4 * 2 + $2::int4", [i, i % 7]),
        { concurrency: "unbounded" }
      )
      expect(results).toEqual(ids.map((i) => i * 2 + (i % 7)))
      // with different statements interleaved too
      const mixed = yield* Effect.forEach(
        ids,
        (i) => (i % 2 === 0 ? conn.fetchval("SELECT $1::text", [`s${i}`]) : conn.fetchval("SELECT $1::int8", [BigInt(i)])),
        { concurrency: "unbounded" }
      )
      expect(mixed).toEqual(ids.map((i) => (i % 2 === 0 ? `s${i}` : BigInt(i))))
    }))

  it.live("interrupting pg_sleep(30) cancels it on the server and the connection stays usable", () =>
    Effect.gen(function* () {
      const appName = uniqueName("interrupt")
      const conn = yield* connect({ applicationName: appName })
      const observer = yield* connect()
      const fiber = yield* Effect.forkChild(conn.fetch("SELECT pg_sleep(30)"))
      yield* Effect.sleep("100 millis")
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      const took = Date.now() - started
      // the interrupt returns at once; the cancel lands in the background
      expect(took).toBeLessThan(100)
      let state: unknown = "active"
      const deadline = Date.now() + 1000
      while (state !== "idle" && Date.now() < deadline) {
        state = yield* observer.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", [conn.getServerPid()])
        if (state !== "idle") yield* Effect.sleep("10 millis")
      }
      expect(state).toBe("idle")
      expect(yield* conn.fetchval("SELECT 7")).toBe(7)
    }))

  it.live("commandTimeout cancels and fails with CommandTimeoutError; the connection stays usable", () =>
    Effect.gen(function* () {
      const conn = yield* connect({ commandTimeout: "150 millis" })
      const started = Date.now()
      const err = yield* errorOf(conn.execute("SELECT pg_sleep(5)", []))
      expect(err._tag).toBe("CommandTimeoutError")
      expect(Date.now() - started).toBeLessThan(1500)
      expect(yield* conn.fetchval("SELECT 1", [], { timeout: "5 seconds" })).toBe(1)
      const perCall = yield* errorOf(conn.fetch("SELECT pg_sleep(5)", [], { timeout: 100 }))
      expect(perCall._tag).toBe("CommandTimeoutError")
      expect(yield* conn.fetchval("SELECT 2")).toBe(2)
    }))

  it.live("a per-call timeout of 0 or below times out at once, nothing sent (asyncpg); Infinity is none; NaN is an InterfaceError", () =>
    Effect.gen(function* () {
      const conn = yield* connect({ commandTimeout: "100 millis" })
      const table = uniqueName("t_zero")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int)`)
      for (const timeout of [0, -1, "0 millis", "-5 seconds", Duration.zero] as ReadonlyArray<Duration.Input>) {
        const started = performance.now()
        const err = yield* errorOf(conn.execute("SELECT pg_sleep(1)", [], { timeout }))
        expect(err._tag).toBe("CommandTimeoutError")
        expect(performance.now() - started).toBeLessThan(100)
        // nothing reached the server
        expect((yield* errorOf(conn.execute(`INSERT INTO ${table} VALUES (1)`, [], { timeout })))._tag).toBe("CommandTimeoutError")
        expect((yield* errorOf(conn.fetchval(`INSERT INTO ${table} VALUES ($1) RETURNING id`, [2], { timeout })))._tag).toBe("CommandTimeoutError")
      }
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(0)
      // a prepared statement's call, too
      const stmt = yield* conn.prepare(`INSERT INTO ${table} VALUES ($1) RETURNING id`)
      expect((yield* errorOf(stmt.fetch([3], { timeout: 0 })))._tag).toBe("CommandTimeoutError")
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(0)
      // Infinity (either form) is no timeout, also over the connection's commandTimeout
      expect(yield* conn.fetchval("SELECT pg_sleep(0.3)::text || 'x'", [], { timeout: Infinity })).toBe("x")
      expect(yield* conn.fetchval("SELECT pg_sleep(0.3)::text || 'y'", [], { timeout: Duration.infinity })).toBe("y")
      // not a duration: a misuse, not a timeout
      expect((yield* errorOf(conn.fetchval("SELECT 1", [], { timeout: Number.NaN })))._tag).toBe("InterfaceError")
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("executemany is pipelined and all or nothing; fetchmany returns rows per set", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_many")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int primary key, v text)`)
      yield* conn.executemany(`INSERT INTO ${table} VALUES ($1, $2)`, [
        [1, "a"],
        [2, "b"],
        [3, "c"]
      ])
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(3)
      const err = yield* errorOf(
        conn.executemany(`INSERT INTO ${table} VALUES ($1, $2)`, [
          [4, "d"],
          [1, "duplicate"],
          [5, "e"]
        ])
      )
      expect(err._tag).toBe("UniqueViolationError")
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(3)
      const many = yield* conn.fetchmany(`SELECT v FROM ${table} WHERE id <= $1 ORDER BY id`, [[1], [3]])
      expect(many.map((rows) => rows.map((r) => r.get(0)))).toEqual([["a"], ["a", "b", "c"]])
    }))

  it.live("a large executemany streams its rows; a bad row aborts all of it; other callers are not mixed in", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_bigmany")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int4 PRIMARY KEY, v text)`)
      const rows = Array.from({ length: 5000 }, (_, i) => [i, `v${i}`])
      // queries from other callers while the rows are being written
      const [, others] = yield* Effect.all(
        [
          conn.executemany(`INSERT INTO ${table} VALUES ($1, $2)`, rows),
          Effect.forEach([1, 2, 3], (i) => conn.fetchval("SELECT $1::int4 * 10", [i]), { concurrency: "unbounded" })
        ],
        { concurrency: "unbounded" }
      )
      expect(others).toEqual([10, 20, 30])
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(5000)
      const bad = rows.map(([i]) => [Number(i) + 10_000, `w${i}`]) as Array<Array<unknown>>
      bad[3500] = [{ not: "an int" }, "x"]
      const err = yield* Effect.flip(conn.executemany(`INSERT INTO ${table} VALUES ($1, $2)`, bad))
      expect(err._tag).toBe("DataError")
      expect(err.message).toContain("argument set 3500")
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(5000)
      expect(conn.isInTransaction()).toBe(false)
    }))

  it.live("a cached statement whose result type changed is re-prepared transparently", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_stale")
      yield* conn.execute(`CREATE TABLE ${table} (id int, v int)`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP TABLE IF EXISTS ${table}`)))
      yield* conn.execute(`INSERT INTO ${table} VALUES (1, 10)`)
      expect((yield* conn.fetch(`SELECT * FROM ${table}`))[0]!.get("v")).toBe(10)
      yield* conn.execute(`ALTER TABLE ${table} ALTER COLUMN v TYPE text`)
      yield* conn.execute(`ALTER TABLE ${table} ADD COLUMN w int DEFAULT 5`)
      const row = (yield* conn.fetch(`SELECT * FROM ${table}`))[0]!
      expect(row.get("v")).toBe("10")
      expect(row.get("w")).toBe(5)
    }))

  it.live("works with the statement cache disabled", () =>
    Effect.gen(function* () {
      const conn = yield* connect({ statementCacheSize: 0 })
      const out = yield* Effect.forEach([1, 2, 3, 4], (i) => conn.fetchval("SELECT $1::int", [i]), { concurrency: 4 })
      expect(out).toEqual([1, 2, 3, 4])
      const open = yield* conn.fetchval("SELECT count(*)::int FROM pg_prepared_statements WHERE statement NOT LIKE '%pg_prepared_statements%'")
      expect(open).toBe(0)
    }))

  it.live("reports the session: pid, version, settings, transaction state", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      expect(yield* conn.fetchval("SELECT pg_backend_pid()")).toBe(conn.getServerPid())
      const v = conn.getServerVersion()
      expect(v.major).toBeGreaterThanOrEqual(12)
      expect(yield* conn.fetchval("SELECT current_setting('server_version_num')::int")).toBe(v.major * 10000 + v.micro)
      expect(conn.getSettings().get("client_encoding")).toBe("UTF8")
      expect(conn.isInTransaction()).toBe(false)
      yield* conn.execute("BEGIN")
      expect(conn.isInTransaction()).toBe(true)
      yield* conn.execute("ROLLBACK")
      expect(conn.isInTransaction()).toBe(false)
    }))

  it.live("close() ends the session; later queries fail with ConnectionDoesNotExistError", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connectUnscoped(TEST_DSN)
      expect(conn.isClosed()).toBe(false)
      yield* conn.close()
      expect(conn.isClosed()).toBe(true)
      const err = yield* errorOf(conn.fetch("SELECT 1"))
      expect(err._tag).toBe("ConnectionDoesNotExistError")
    }))
})

describe("Connection: bad input is a typed error", () => {
  it.live("wrong argument count", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const err = yield* errorOf(conn.fetch("SELECT $1::int + $2::int", [1, 2, 3]))
      expect(err._tag).toBe("InterfaceError")
      expect(err.message).toContain("expects 2 arguments, 3 were passed")
      expect(yield* conn.fetchval("SELECT $1::int + $2::int", [1, 2])).toBe(3)
    }))

  it.live("unencodable argument names the position and type", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const err = yield* errorOf(conn.fetch("SELECT $1::int4", [{ not: "a number" }]))
      expect(err._tag).toBe("DataError")
      expect(err.message).toContain("$1")
      expect(err.message).toContain("int4")
      const big = yield* errorOf(conn.fetch("SELECT $1::int4", [2 ** 40]))
      expect(big._tag).toBe("DataError")
    }))

  it.live("syntax error carries its position", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const err = yield* errorOf(conn.fetch("SELECT 1 FROM WHERE"))
      expect(err._tag).toBe("PostgresSyntaxError")
      expect("position" in err && err.position).toBe(15)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("unknown table", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const err = yield* errorOf(conn.fetch("SELECT * FROM no_such_table_here"))
      expect(err._tag).toBe("UndefinedTableError")
      expect("sqlstate" in err && err.sqlstate).toBe("42P01")
    }))

  it.live("connection refused", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const err = yield* errorOf(Connection.connect({ host: "127.0.0.1", port, user: "root", database: "test" }))
      expect(err._tag).toBe("PostgresConnectionError")
      expect(err._tag === "PostgresConnectionError" && err.reason).toBe("refused")
      expect(err.message).toContain(`127.0.0.1:${port}`)
    }))

  it.live("wrong database", () =>
    Effect.gen(function* () {
      const err = yield* errorOf(Connection.connect({ host: "127.0.0.1", port: 5432, user: "root", database: "no_such_db_xyz" }))
      expect(err._tag).toBe("InvalidCatalogNameError")
    }))

  it.live("the server closing the socket mid-query is a typed error, not a hang", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const killer = yield* connect()
      const fiber = yield* Effect.forkChild(Effect.flip(conn.fetch("SELECT pg_sleep(10)")))
      yield* Effect.sleep("100 millis")
      yield* killer.fetch("SELECT pg_terminate_backend($1)", [conn.getServerPid()])
      const err = yield* Fiber.join(fiber).pipe(Effect.timeout("3 seconds"))
      expect(["AdminShutdownError", "PostgresConnectionError"]).toContain(err._tag)
      expect(conn.isClosed()).toBe(true)
      const after = yield* errorOf(conn.fetch("SELECT 1"))
      expect(["ConnectionDoesNotExistError", "PostgresConnectionError"]).toContain(after._tag)
    }))

  it.live("an invalid DSN is an InterfaceError without the password", () =>
    Effect.gen(function* () {
      const err = yield* errorOf(Connection.connect("postgres://bob:s3cret-pw@localhost:notaport/db"))
      expect(err._tag).toBe("InterfaceError")
      expect(err.message).not.toContain("s3cret-pw")
    }))
})


describe("Connection: cancellation in a pipeline", () => {
  it.live("a cancel meant for a query that already finished does not fail the next pipelined query", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* conn.fetchval("SELECT 1") // both statements cached: each query is one request
      yield* conn.fetchval("SELECT pg_sleep(0.3)::text")
      const session = (conn as Connection.ConnectionImpl).session
      const slow = yield* Effect.promise(
        () =>
          new Promise<{ err: unknown; value: unknown }>((resolve) => {
            // SELECT 1 alone on the wire, abandoned at once: its CancelRequest reaches the
            // server after SELECT 1 finished. pg_sleep, asked for right after, is held back
            // until the cancel has landed, so the signal cannot cancel it instead.
            const quick = session.query("SELECT 1", [], () => {})
            quick.abandon(session, () => {})
            session.query("SELECT pg_sleep(0.3)::text", [], (err, r) => resolve({ err, value: r?.rows[0] }))
          })
      )
      expect(slow.err).toBeUndefined()
      expect((slow.value as { get(i: number): unknown }).get(0)).toBe("")
      expect(yield* conn.fetchval("SELECT 3")).toBe(3)
    }))

  it.live("a timed-out query pipelined behind another is cancelled once it runs alone, not left running for nobody", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const pid = conn.getServerPid()
      const watcher = yield* connect()
      // ahead on the wire: 300 ms of work; behind it: 30 s that nobody waits for after 100 ms
      // both statements prepared: each query below is one request on the wire
      yield* conn.fetchval("SELECT pg_sleep(0)::text")
      yield* conn.fetchval("SELECT pg_sleep($1)::text", [0])
      const ahead = yield* Effect.forkChild(conn.fetchval("SELECT pg_sleep(0)::text FROM pg_sleep(0.3)"))
      yield* Effect.sleep("30 millis") // the fork has written its query
      const err = yield* errorOf(conn.fetchval("SELECT pg_sleep($1)::text", [30], { timeout: 100 }))
      expect(err._tag).toBe("CommandTimeoutError")
      expect(yield* Fiber.join(ahead)).toBe("")
      // the abandoned pg_sleep(30) became the only request on the wire: it was cancelled then
      const started = Date.now()
      let state = "active"
      while (Date.now() - started < 5_000) {
        state = String(yield* watcher.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]))
        if (state === "idle") break
        yield* Effect.sleep("25 millis")
      }
      expect(state).toBe("idle")
      expect(Date.now() - started).toBeLessThan(2_000)
      expect(yield* conn.fetchval("SELECT 4")).toBe(4)
    }))
})
