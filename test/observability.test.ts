/**
 * Tracing and metrics against the real server: the spans an in-memory
 * tracer collects (names, kinds, OpenTelemetry attributes, parent/child,
 * no parameter value anywhere), no span at all when tracing is off, and the
 * pool's series in a fresh metric registry.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Connection from "../src/Connection.js"
import { PgPool, type PoolOptions } from "../src/Pool.js"
import { operationName, queryText, sanitize } from "../src/observability/attributes.js"
import * as Spans from "../src/observability/spans.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

/** A tracer that keeps every span it makes. */
const collector = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  const named = (name: string) => spans.filter((s) => s.name === name)
  const one = (name: string) => {
    const found = named(name)
    expect(found.map((s) => s.name)).toEqual([name])
    return found[0]!
  }
  const parentOf = (span: Tracer.NativeSpan) => Option.getOrUndefined(span.parent)?.spanId
  return { spans, tracer, named, one, parentOf }
}

const makePool = (options: PoolOptions = {}) => PgPool.make({ dsn: TEST_DSN, minSize: 1, maxSize: 2, ...options })

/** Every attribute value of every span, as one string. */
const allAttributes = (spans: ReadonlyArray<Tracer.NativeSpan>): string =>
  JSON.stringify(spans.map((s) => [s.name, [...s.attributes.entries()]]))

const SECRET = "hunter2-s3cr3t"

describe("spans", () => {
  it.live("pool.fetch is a span with its query as a child; attributes follow OpenTelemetry; no parameter value appears", () =>
    Effect.gen(function* () {
      const c = collector()
      const pool = yield* makePool({ name: "obs-main" })
      const sql = "SELECT $1::text AS secret, 42 AS n"
      const rows = yield* pool.fetch(sql, [SECRET]).pipe(Effect.withSpan("caller"), Effect.withTracer(c.tracer))
      expect(rows[0]!.get("secret")).toBe(SECRET)

      const caller = c.one("caller")
      const call = c.one("pg.pool.fetch")
      const query = c.one("SELECT")
      expect(c.parentOf(call)).toBe(caller.spanId)
      expect(c.parentOf(query)).toBe(call.spanId)
      expect(call.kind).toBe("internal")
      expect(query.kind).toBe("client")
      expect(query.status._tag).toBe("Ended")
      expect(Object.fromEntries(query.attributes)).toEqual({
        "db.system.name": "postgresql",
        "db.namespace": "test",
        "server.address": "127.0.0.1",
        "server.port": 5432,
        "db.client.connection.pool.name": "obs-main",
        "db.operation.name": "SELECT",
        "db.query.text": sql
      })
      expect(call.attributes.get("db.query.text")).toBe(sql)
      expect(call.attributes.get("db.client.connection.pool.name")).toBe("obs-main")
      expect(allAttributes(c.spans)).not.toContain(SECRET)
    }))

  it.live("a query run without parameters shows its literals as ?; executemany's argument sets never appear", () =>
    Effect.gen(function* () {
      const c = collector()
      const pool = yield* makePool()
      const table = uniqueName("obs_many")
      yield* Effect.withTracer(
        Effect.gen(function* () {
          yield* pool.withConnection((conn) =>
            Effect.gen(function* () {
              yield* conn.execute(`CREATE TEMP TABLE ${table} (v text)`)
              yield* conn.execute(`INSERT INTO ${table} VALUES ('${SECRET}'), (E'${SECRET}\\n'), ($$${SECRET}$$)`)
              yield* conn.executemany(`INSERT INTO ${table} VALUES ($1)`, [[SECRET], [SECRET + "2"]])
              expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table} WHERE v LIKE '${SECRET}%'`)).toBe(5)
            })
          )
        }),
        c.tracer
      )
      const inserts = c.named("INSERT")
      expect(inserts.length).toBe(2)
      expect(inserts[0]!.attributes.get("db.query.text")).toBe(`INSERT INTO ${table} VALUES (?), (?), (?)`)
      expect(inserts[1]!.attributes.get("db.query.text")).toBe(`INSERT INTO ${table} VALUES ($1)`)
      expect(allAttributes(c.spans)).not.toContain(SECRET)
      expect(c.named("pg.pool.acquire").length).toBe(1)
      expect(c.named("pg.pool.acquire")[0]!.kind).toBe("client")
    }))

  it.live("a caller that waits for a connection gets an acquire span under its pool span", () =>
    Effect.gen(function* () {
      const c = collector()
      const pool = yield* makePool({ minSize: 1, maxSize: 1 })
      const held = yield* pool.acquireUnscoped()
      const fiber = yield* Effect.forkChild(Effect.withTracer(pool.fetchval("SELECT $1::int4", [7]), c.tracer))
      yield* Effect.sleep("50 millis")
      const releasedAt = yield* Clock.currentTimeNanos
      yield* pool.release(held)
      expect(yield* Fiber.join(fiber)).toBe(7)
      const call = c.one("pg.pool.fetchval")
      const acquire = c.one("pg.pool.acquire")
      const query = c.one("SELECT")
      expect(c.parentOf(acquire)).toBe(call.spanId)
      expect(c.parentOf(query)).toBe(call.spanId)
      // the acquire span covers the wait: it began before the connection came back and ended after
      const { status } = acquire
      expect(status._tag).toBe("Ended")
      if (status._tag === "Ended") {
        expect(status.startTime).toBeLessThan(releasedAt)
        expect(status.endTime).toBeGreaterThanOrEqual(releasedAt)
        expect(status.endTime).toBeLessThanOrEqual(query.status.startTime)
      }
    }))

  it.live("a failed query carries its SQLSTATE; a timed-out acquire its error tag", () =>
    Effect.gen(function* () {
      const c = collector()
      const pool = yield* makePool({ minSize: 1, maxSize: 1 })
      const exit = yield* Effect.exit(Effect.withTracer(pool.fetchval("SELECT 1 / $1::int4", [0]), c.tracer))
      expect(Exit.isFailure(exit)).toBe(true)
      const query = c.one("SELECT")
      expect(query.attributes.get("db.response.status_code")).toBe("22012")
      expect(query.attributes.get("error.type")).toBe("22012")
      expect(c.one("pg.pool.fetchval").attributes.get("db.response.status_code")).toBe("22012")

      const held = yield* pool.acquireUnscoped()
      const timedOut = yield* Effect.exit(Effect.withTracer(pool.acquireUnscoped({ timeout: "20 millis" }), c.tracer))
      yield* pool.release(held)
      expect(Exit.isFailure(timedOut)).toBe(true)
      const acquire = c.one("pg.pool.acquire")
      expect(acquire.attributes.get("error.type")).toBe("AcquireTimeoutError")
      expect(acquire.attributes.has("db.response.status_code")).toBe(false)
    }))

  it.live("a transaction is a span; BEGIN, its queries and COMMIT are its children", () =>
    Effect.gen(function* () {
      const c = collector()
      const conn = yield* Connection.connect(TEST_DSN)
      yield* Effect.withTracer(
        conn.transaction(conn.fetchval("SELECT $1::int4", [1]), { isolation: "repeatable_read" }),
        c.tracer
      )
      const tx = c.one("pg.transaction")
      expect(tx.kind).toBe("client")
      expect(tx.attributes.get("db.postgresql.isolation_level")).toBe("repeatable_read")
      expect(tx.attributes.get("db.namespace")).toBe("test")
      const children = c.spans.filter((s) => c.parentOf(s) === tx.spanId).map((s) => s.name)
      expect(children).toEqual(["BEGIN", "SELECT", "COMMIT"])
      // a connection of its own: no pool name
      expect(c.one("SELECT").attributes.has("db.client.connection.pool.name")).toBe(false)

      // the scoped form: the span ends when the scope closes, after COMMIT
      yield* Effect.scoped(Effect.withTracer(Effect.andThen(conn.transaction(), conn.execute("SELECT 1")), c.tracer))
      const scoped = c.named("pg.transaction")[1]!
      expect(scoped.status._tag).toBe("Ended")
      const commit = c.named("COMMIT")[1]!
      expect(commit.status._tag === "Ended" && scoped.status._tag === "Ended" && commit.status.endTime <= scoped.status.endTime).toBe(true)
    }))

  it.live("COPY is a client span named after its table, under the pool's span", () =>
    Effect.gen(function* () {
      const c = collector()
      const pool = yield* makePool()
      const table = uniqueName("obs_copy")
      yield* pool.execute(`CREATE TABLE ${table} (id int4, v text)`)
      yield* Effect.addFinalizer(() => Effect.ignore(pool.execute(`DROP TABLE IF EXISTS ${table}`)))
      const status = yield* Effect.withTracer(
        pool.copyRecordsToTable(table, { records: [[1, SECRET], [2, "b"]], columns: ["id", "v"] }),
        c.tracer
      )
      expect(status).toBe("COPY 2")
      const copy = c.one(`COPY ${table}`)
      expect(copy.kind).toBe("client")
      expect(copy.attributes.get("db.collection.name")).toBe(table)
      expect(copy.attributes.get("db.operation.name")).toBe("COPY")
      const call = c.one("pg.pool.copyRecordsToTable")
      expect(c.parentOf(c.one("pg.pool.acquire"))).toBe(call.spanId)
      expect(c.parentOf(copy)).toBe(call.spanId)
      expect(allAttributes(c.spans)).not.toContain(SECRET)

      // COPY out as a stream: the span lasts while the stream runs; a query's $n stays, its value does not show
      const out = yield* Effect.scoped(
        pool.withConnection((conn) =>
          Stream.runFold(conn.copyFromQueryStream(`SELECT v FROM ${table} WHERE v = $1`, [SECRET]), () => 0, (n, chunk) => n + chunk.length)
        )
      ).pipe(Effect.withTracer(c.tracer))
      expect(out).toBe(SECRET.length + 1)
      const streamed = c.named("COPY")
      expect(streamed.length).toBe(1)
      expect(streamed[0]!.status._tag).toBe("Ended")
      expect(streamed[0]!.attributes.get("db.query.text")).toBe(`SELECT v FROM ${table} WHERE v = $1`)
      expect(allAttributes(c.spans)).not.toContain(SECRET)
    }))

  it.live("no spans: tracing: false on the pool, TracerEnabled off, or no tracer installed", () =>
    Effect.gen(function* () {
      const c = collector()
      const quiet = yield* makePool({ tracing: false })
      yield* Effect.withTracer(Effect.withSpan(quiet.fetchval("SELECT $1::int4", [1]), "caller"), c.tracer)
      yield* Effect.withTracer(quiet.withConnection((conn) => conn.fetchval("SELECT 2")), c.tracer)
      expect(c.spans.map((s) => s.name)).toEqual(["caller"])

      const pool = yield* makePool()
      yield* pool.fetchval("SELECT 1").pipe(Effect.withTracer(c.tracer), Effect.withTracerEnabled(false))
      expect(c.spans.map((s) => s.name)).toEqual(["caller"])

      const wanted = Effect.withFiber((fiber) => Effect.succeed(Spans.wanted(fiber)))
      expect(yield* wanted).toBe(false)
      expect(yield* Effect.withTracer(wanted, c.tracer)).toBe(true)
      expect(yield* Effect.provideService(Effect.withTracer(wanted, c.tracer), References.TracerEnabled, false)).toBe(false)
    }))
})

describe("SQL on spans", () => {
  it("the operation name is the first keyword, past comments and parentheses", () => {
    expect(operationName("  select 1")).toBe("SELECT")
    expect(operationName("-- a comment\n/* nested /* c */ */ (SELECT 1) UNION (SELECT 2)")).toBe("SELECT")
    expect(operationName("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x")).toBe("WITH")
    expect(operationName("")).toBe("")
    expect(operationName("$1")).toBe("")
  })

  it("sanitize hides every kind of literal and keeps identifiers, parameters and comments", () => {
    expect(sanitize(`SELECT 'a''b', E'x\\'y', B'0101', X'ff', $$it's$$, $tag$ $$ $tag$, 1.5e-3, .5, 42 FROM "t'1" WHERE c1 = $1`)).toBe(
      `SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? FROM "t'1" WHERE c1 = $1`
    )
    expect(sanitize("ALTER ROLE bob PASSWORD 'pw' -- it's\n")).toBe("ALTER ROLE bob PASSWORD ? -- it's\n")
    expect(sanitize("SELECT 'unterminated")).toBe("SELECT ?")
    expect(queryText("SELECT 'x'", true)).toBe("SELECT 'x'")
    expect(queryText("SELECT 'x'", false)).toBe("SELECT ?")
    expect(queryText("SELECT " + "1, ".repeat(3000) + "1", true).length).toBe(4097)
  })
})

/** The one series named `id` whose attributes include `attrs`. */
const series = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, id: string, attrs: Record<string, string> = {}) => {
  const found = snapshots.filter((s) => s.id === id && Object.entries(attrs).every(([k, v]) => s.attributes?.[k] === v))
  expect(found.length, `${id} ${JSON.stringify(attrs)}`).toBe(1)
  return found[0]!
}
const count = (s: Metric.Metric.Snapshot): number => (s.type === "Counter" ? Number(s.state.count) : NaN)
const gauge = (s: Metric.Metric.Snapshot): number => (s.type === "Gauge" ? Number(s.state.value) : NaN)
const histogram = (s: Metric.Metric.Snapshot) => {
  if (s.type !== "Histogram") throw new Error(`${s.id} is a ${s.type}`)
  return s.state
}

describe("metrics", () => {
  it.live("a pool's series in the registry: gauges from stats(), counters, histograms; gone when it closes", () =>
    Effect.gen(function* () {
      const name = uniqueName("obs")
      const tag = { "db.client.connection.pool.name": name }
      const table = uniqueName("obs_err")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const pool = yield* makePool({ name, minSize: 1, maxSize: 1 })
          yield* Effect.forEach([1, 2, 3], (i) => pool.fetchval("SELECT $1::int4", [i]), { concurrency: 3 })
          yield* pool.execute("SELECT pg_sleep(0.05)")
          const slow = histogram(series(yield* Metric.snapshot, "db.client.operation.duration", tag))
          expect(slow.count).toBe(4)
          expect(slow.max).toBeGreaterThanOrEqual(0.05)
          expect(slow.max).toBeLessThan(5)
          // the sleep lands above 25 ms, everything below 10 s
          expect(slow.buckets.find(([bound]) => bound === 0.025)![1]).toBeLessThanOrEqual(3)
          expect(slow.buckets.find(([bound]) => bound === 10)![1]).toBe(4)
          yield* pool.withConnection((conn) =>
            Effect.gen(function* () {
              yield* conn.execute(`CREATE TEMP TABLE ${table} (id int4 PRIMARY KEY)`)
              yield* conn.execute(`INSERT INTO ${table} VALUES ($1)`, [1])
              yield* Effect.exit(conn.execute(`INSERT INTO ${table} VALUES ($1)`, [1]))
              yield* Effect.exit(conn.fetchval("SELECT 1 / $1::int4", [0]))
            })
          )
          // one caller waits, one times out
          const held = yield* pool.acquireUnscoped()
          const waiter = yield* Effect.forkChild(pool.fetchval("SELECT 9"))
          expect(Exit.isFailure(yield* Effect.exit(pool.acquireUnscoped({ timeout: "20 millis" })))).toBe(true)
          yield* Effect.sleep("10 millis")
          let snap = yield* Metric.snapshot
          expect(gauge(series(snap, "db.client.connection.count", { ...tag, state: "used" }))).toBe(1)
          expect(gauge(series(snap, "db.client.connection.count", { ...tag, state: "idle" }))).toBe(0)
          expect(gauge(series(snap, "db.client.connection.pending_requests", tag))).toBe(1)
          expect(gauge(series(snap, "db.client.connection.max", tag))).toBe(1)
          expect(gauge(series(snap, "effect_pg.pool.size", tag))).toBe(1)
          yield* pool.release(held)
          yield* Fiber.join(waiter)

          snap = yield* Metric.snapshot
          expect(gauge(series(snap, "db.client.connection.pending_requests", tag))).toBe(0)
          const idle = gauge(series(snap, "db.client.connection.count", { ...tag, state: "idle" }))
          expect(idle + gauge(series(snap, "db.client.connection.count", { ...tag, state: "used" }))).toBe(1)
          // 3 SELECT, the sleep, CREATE, 2 INSERT, 1 division, the waiter's SELECT
          const queries = count(series(snap, "effect_pg.pool.queries", tag))
          expect(queries).toBe(9)
          const duration = histogram(series(snap, "db.client.operation.duration", tag))
          expect(duration.count).toBe(queries)
          expect(duration.sum).toBeGreaterThan(0)
          expect(duration.buckets.at(-1)![1]).toBe(queries)
          expect(count(series(snap, "effect_pg.pool.query.errors", { ...tag, "error.type": "23" }))).toBe(1)
          expect(count(series(snap, "effect_pg.pool.query.errors", { ...tag, "error.type": "22" }))).toBe(1)
          expect(count(series(snap, "db.client.connection.timeouts", tag))).toBe(1)
          const wait = histogram(series(snap, "db.client.connection.wait_time", tag))
          // every wait in the queue: the ones served and the one that timed out
          const stats = pool.stats()
          expect(wait.count).toBe(stats.emptyAcquires + stats.acquireTimeouts)
          expect(wait.count).toBeGreaterThanOrEqual(2)
          expect(wait.max).toBeGreaterThanOrEqual(0.015)
          // the sleep (no arguments: a connection of its own), withConnection and the held lease; the
          // other pool-level queries went onto the shared lane
          expect(count(series(snap, "effect_pg.pool.acquires", { ...tag, kind: "exclusive" }))).toBe(3)
          expect(count(series(snap, "effect_pg.pool.acquires", { ...tag, kind: "shared" }))).toBe(pool.stats().sharedQueries)
          expect(pool.stats().sharedQueries).toBeGreaterThanOrEqual(4)
          expect(count(series(snap, "effect_pg.pool.connections.opened", tag))).toBe(1)

          yield* pool.expireConnections()
          snap = yield* Metric.snapshot
          expect(count(series(snap, "effect_pg.pool.connections.closed", { ...tag, reason: "expired" }))).toBe(1)
        })
      )
      const after = yield* Metric.snapshot
      expect(after.filter((s) => s.attributes?.["db.client.connection.pool.name"] === name)).toEqual([])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.live("two pools keep separate series; a standalone connection adds none", () =>
    Effect.gen(function* () {
      const a = yield* makePool({ name: "obs-a" })
      const b = yield* makePool({ name: "obs-b" })
      yield* a.fetchval("SELECT 1")
      yield* b.fetchval("SELECT 1")
      yield* b.fetchval("SELECT 2")
      const conn = yield* Connection.connect(TEST_DSN)
      yield* conn.fetchval("SELECT 3")
      const snap = yield* Metric.snapshot
      expect(count(series(snap, "effect_pg.pool.queries", { "db.client.connection.pool.name": "obs-a" }))).toBe(1)
      expect(count(series(snap, "effect_pg.pool.queries", { "db.client.connection.pool.name": "obs-b" }))).toBe(2)
      expect(snap.filter((s) => s.id === "effect_pg.pool.queries").length).toBe(2)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.live("pools nobody named get their own series: default, default-2; no warning", () =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const logger = Logger.make<unknown, void>(({ message }) => {
        logs.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const program = Effect.gen(function* () {
        const a = yield* makePool({})
        const b = yield* makePool({})
        yield* a.fetchval("SELECT 1")
        yield* b.fetchval("SELECT 1")
        yield* b.fetchval("SELECT 2")
        const snap = yield* Metric.snapshot
        expect(count(series(snap, "effect_pg.pool.queries", { "db.client.connection.pool.name": "default" }))).toBe(1)
        expect(count(series(snap, "effect_pg.pool.queries", { "db.client.connection.pool.name": "default-2" }))).toBe(2)
      })
      yield* program.pipe(Effect.provide(Logger.layer([logger])), Effect.provideService(Metric.MetricRegistry, new Map()))
      expect(logs.filter((l) => l.includes("another open pool"))).toEqual([])
    }))

  it.live("a second open pool of the same name is warned about", () =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const logger = Logger.make<unknown, void>(({ message }) => {
        logs.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const program = Effect.gen(function* () {
        yield* makePool({ name: "twin" })
        expect(logs.filter((l) => l.includes("twin"))).toEqual([])
        yield* makePool({ name: "twin" })
      })
      yield* program.pipe(Effect.provide(Logger.layer([logger])), Effect.provideService(Metric.MetricRegistry, new Map()))
      expect(logs.filter((l) => l.includes('another open pool is named "twin"')).length).toBe(1)
    }))
})
