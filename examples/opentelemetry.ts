/**
 * `npx tsx examples/opentelemetry.ts`: the spans and metrics effect-pg
 * produces, printed from an in-memory tracer and Effect's metric registry.
 *
 * `@effect/opentelemetry` is not a dependency of this project, so this
 * example collects the spans itself. With that package installed, the same
 * program exports to any OpenTelemetry backend by providing its layer
 * instead of the in-memory tracer (see the end of this file); effect-pg's
 * spans carry OpenTelemetry's database attributes (`db.system.name`,
 * `db.namespace`, `db.query.text`, `db.operation.name`,
 * `db.response.status_code`, `server.address`, `server.port`) and its
 * metrics use the `db.client.*` names where the conventions have one.
 *
 * Runs on DATABASE_URL, else the local server on 127.0.0.1:5432 (database test).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { PgPool } from "../src/Pool.js"

const dsn = process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test"

/** A tracer that keeps the spans in memory (what an exporter would send). */
const spans: Array<Tracer.NativeSpan> = []
const memoryTracer = Tracer.make({
  span(options) {
    const span = new Tracer.NativeSpan(options)
    spans.push(span)
    return span
  }
})

/** Prints the spans as a tree: name, kind, duration, attributes. */
const printTree = (): Effect.Effect<void> =>
  Effect.gen(function* () {
    const children = new Map<string | undefined, Array<Tracer.NativeSpan>>()
    const ids = new Set(spans.map((s) => s.spanId))
    for (const s of spans) {
      const parent = Option.getOrUndefined(s.parent)?.spanId
      const key = parent !== undefined && ids.has(parent) ? parent : undefined
      children.set(key, [...(children.get(key) ?? []), s])
    }
    const print = (parent: string | undefined, depth: number): Array<string> =>
      (children.get(parent) ?? []).flatMap((s) => {
        const ms = s.status._tag === "Ended" ? (Number(s.status.endTime - s.status.startTime) / 1e6).toFixed(2) : "?"
        const attrs = [...s.attributes].map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")
        return [`${"  ".repeat(depth)}${s.name} [${s.kind}, ${ms} ms] ${attrs}`, ...print(s.spanId, depth + 1)]
      })
    yield* Console.log(print(undefined, 0).join("\n"))
  })

/** Prints the pool's series from Effect's metric registry. */
const printMetrics = (pool: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (const m of yield* Metric.snapshot) {
      if (m.attributes?.["db.client.connection.pool.name"] !== pool) continue
      const { ["db.client.connection.pool.name"]: _, ...rest } = m.attributes
      const tags = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : ""
      const value =
        m.type === "Counter" ? `${m.state.count}`
        : m.type === "Gauge" ? `${m.state.value}`
        : m.type === "Histogram" ? `count=${m.state.count} sum=${m.state.sum.toFixed(4)}s max=${m.state.count > 0 ? m.state.max.toFixed(4) : "-"}s`
        : ""
      yield* Console.log(`${m.type.padEnd(9)} ${m.id}${tags} = ${value}`)
    }
  })

const program = Effect.gen(function* () {
  const pool = yield* PgPool.make({ dsn, name: "example", minSize: 2, maxSize: 4 })

  yield* Effect.gen(function* () {
    // a pool-level query: pg.pool.fetch → SELECT (the parameter value never reaches a span)
    yield* pool.fetch("SELECT $1::text AS who, now() AS at", ["a secret value"])
    // a transaction on a borrowed connection: pg.pool.acquire, then pg.transaction → BEGIN, INSERT, COMMIT
    yield* pool.withConnection((conn) =>
      Effect.gen(function* () {
        yield* conn.execute("CREATE TEMP TABLE otel_demo (id int4 PRIMARY KEY, note text)")
        yield* conn.transaction(conn.execute("INSERT INTO otel_demo VALUES ($1, $2)", [1, "one"]))
        // COPY: a client span named after its table
        yield* conn.copyRecordsToTable("otel_demo", { records: [[2, "two"], [3, "three"]] })
        // literals of a query without parameters are shown as ?
        yield* conn.execute("UPDATE otel_demo SET note = 'changed' WHERE id = 3")
      })
    )
    // a failure: db.response.status_code = 22012 on the span, error class 22 in the metrics
    yield* Effect.ignore(pool.fetchval("SELECT 1 / $1::int4", [0]))
  }).pipe(Effect.withSpan("example"), Effect.withTracer(memoryTracer))

  yield* Console.log("spans:")
  yield* printTree()
  yield* Console.log("\nmetrics of the pool named \"example\":")
  yield* printMetrics("example")
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})

/*
 * Exporting to OpenTelemetry instead (requires `npm install @effect/opentelemetry`
 * and the OpenTelemetry SDK packages, which this project does not ship):
 *
 *   import { NodeSdk } from "@effect/opentelemetry"
 *   import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
 *   import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
 *
 *   const Otel = NodeSdk.layer(() => ({
 *     resource: { serviceName: "my-app" },
 *     spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter())
 *   }))
 *   Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(Otel)))
 *
 * Not run or type-checked here.
 */
