/**
 * A pool's metrics in Effect's metric registry (`effect/Metric`), named
 * after OpenTelemetry's database-client conventions where they have a name
 * (`db.client.connection.*`, `db.client.operation.duration`) and
 * `effect_pg.pool.*` otherwise, every series tagged
 * `db.client.connection.pool.name`.
 *
 * Nothing is updated as the pool works: each series is registered with a
 * read hook over the pool's own counters (`stats()`) and its meter
 * (`meter.ts`), evaluated only when a snapshot is taken (`Metric.snapshot`,
 * an exporter).
 *
 * Internal: not exported by the package.
 */
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import type { RetireReason } from "../pool/core.js"
import type { PoolStats } from "../pool/types.js"
import { ERROR_TYPE, POOL_NAME } from "./attributes.js"
import type { HistogramSnapshot, PoolMeter } from "./meter.js"

/** Metric names. */
export const Names = {
  /** gauge, `state` = `idle` | `used`: connections nobody holds / held by callers or pool-level queries */
  connectionCount: "db.client.connection.count",
  /** gauge: callers waiting for a connection */
  pendingRequests: "db.client.connection.pending_requests",
  /** gauge: maxSize */
  maxConnections: "db.client.connection.max",
  /** gauge: live connections (idle + used) */
  size: "effect_pg.pool.size",
  /** counter: acquires that ended in AcquireTimeoutError */
  timeouts: "db.client.connection.timeouts",
  /** counter, `kind` = `exclusive` (acquire, and pool-level queries on a connection of their own) | `shared` (pool-level queries on a lane) */
  acquires: "effect_pg.pool.acquires",
  /** counter: callers turned away by maxWaiting */
  exhausted: "effect_pg.pool.exhausted",
  /** counter: connections opened */
  opened: "effect_pg.pool.connections.opened",
  /** counter, `reason`: connections closed, by why */
  closed: "effect_pg.pool.connections.closed",
  /** counter: queries finished on the pool's connections */
  queries: "effect_pg.pool.queries",
  /** counter, `error.type` = SQLSTATE class (`23`) or client error tag: failed queries */
  errors: "effect_pg.pool.query.errors",
  /** histogram, seconds: time callers waited in the queue for a connection (only those that waited) */
  waitTime: "db.client.connection.wait_time",
  /** histogram, seconds: query duration, from sending to the result */
  queryDuration: "db.client.operation.duration"
} as const

/** Every reason a connection leaves a pool (a Record, so a new reason in core.ts fails to compile here until it is added). */
const REASONS: Record<RetireReason, true> = {
  idle: true,
  maxQueries: true,
  expired: true,
  lifetime: true,
  broken: true,
  interrupted: true,
  reset: true,
  closed: true,
  hook: true,
  health: true,
  resize: true
}

/** What the metrics read from a pool. */
export interface MeteredPool {
  /** may be given a suffix at registration when the user did not choose it */
  poolName: string
  /** true when the user chose the name */
  readonly named: boolean
  readonly meter: PoolMeter
  stats(): PoolStats
}

/** Registrations of one pool, removed together. */
export interface PoolMetrics {
  /** Removes every series of the pool from the registry. */
  readonly remove: () => void
  /** another open pool registered the same name in the same registry: their series replace each other */
  readonly sharedName: boolean
}

/** Open pools per registry, by name: two pools of one name would write over each other's series. */
const openNames = new WeakMap<object, Map<string, number>>()

const noop = (): void => {}

/**
 * Registers the series of `pool` in the metric registry of `context`.
 * Error series appear as their first error happens.
 */
export const registerPool = (pool: MeteredPool, context: Context.Context<never>): PoolMetrics => {
  const registrations: Array<Metric.Registration> = []
  const registry = Context.get(context, Metric.MetricRegistry)
  const names = openNames.get(registry) ?? new Map<string, number>()
  openNames.set(registry, names)
  // a pool the user did not name takes the first free "default", "default-2", ...: no clash to warn about
  if (!pool.named) {
    const base = pool.poolName
    for (let i = 2; (names.get(pool.poolName) ?? 0) > 0; i++) pool.poolName = `${base}-${i}`
  }
  const sharedName = (names.get(pool.poolName) ?? 0) > 0
  names.set(pool.poolName, (names.get(pool.poolName) ?? 0) + 1)
  const tags = (extra?: Record<string, string>): Record<string, string> => ({ [POOL_NAME]: pool.poolName, ...extra })
  const gauge = (name: string, description: string, read: (s: PoolStats) => number, extra?: Record<string, string>) => {
    const metric = Metric.gauge(name, { description, attributes: tags(extra) })
    registrations.push(Metric.registerUnsafe(metric, context, { get: () => ({ value: read(pool.stats()) }), update: noop, modify: noop }))
  }
  const counter = (name: string, description: string, read: () => number, extra?: Record<string, string>) => {
    const metric = Metric.counter(name, { description, attributes: tags(extra), incremental: true })
    registrations.push(Metric.registerUnsafe(metric, context, { get: () => ({ count: read(), incremental: true }), update: noop, modify: noop }))
  }
  const histogram = (name: string, description: string, read: () => HistogramSnapshot, bounds: ReadonlyArray<number>) => {
    const metric = Metric.histogram(name, { description, attributes: tags(), boundaries: bounds })
    registrations.push(Metric.registerUnsafe(metric, context, { get: read, update: noop, modify: noop }))
  }

  gauge(Names.connectionCount, "connections nobody holds", (s) => s.idle, { state: "idle" })
  gauge(Names.connectionCount, "connections held by callers or pool-level queries", (s) => s.borrowed, { state: "used" })
  gauge(Names.pendingRequests, "callers waiting for a connection", (s) => s.waiting)
  gauge(Names.maxConnections, "the pool's maxSize", (s) => s.maxSize)
  gauge(Names.size, "live connections", (s) => s.size)
  counter(Names.timeouts, "acquires that timed out", () => pool.stats().acquireTimeouts)
  counter(Names.acquires, "connections leased", () => pool.stats().acquires, { kind: "exclusive" })
  counter(Names.acquires, "pool-level queries placed on a shared connection", () => pool.stats().sharedQueries, { kind: "shared" })
  counter(Names.exhausted, "callers turned away by maxWaiting", () => pool.stats().exhausted)
  counter(Names.opened, "connections opened", () => pool.stats().created)
  for (const reason of Object.keys(REASONS)) {
    counter(Names.closed, "connections closed", () => pool.stats().closedByReason[reason] ?? 0, { reason })
  }
  counter(Names.queries, "queries finished", () => pool.meter.queries)
  histogram(Names.waitTime, "seconds callers waited for a connection", () => pool.meter.acquireWait.snapshot(), pool.meter.acquireWait.bounds)
  histogram(Names.queryDuration, "seconds from sending a query to its result", () => pool.meter.queryDuration.snapshot(), pool.meter.queryDuration.bounds)

  const errorSeries = (key: string) => counter(Names.errors, "failed queries", () => pool.meter.errors.get(key) ?? 0, { [ERROR_TYPE]: key })
  for (const key of pool.meter.errors.keys()) errorSeries(key)
  pool.meter.onNewErrorKey = errorSeries
  let removed = false
  return {
    sharedName,
    remove: () => {
      if (removed) return
      removed = true
      pool.meter.onNewErrorKey = undefined
      for (const r of registrations.splice(0)) r.remove()
      names.set(pool.poolName, (names.get(pool.poolName) ?? 1) - 1)
    }
  }
}
