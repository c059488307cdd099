/**
 * A pool's observability in one object, so the pool's own code calls it in
 * one line per place: its name and `tracing` option (for spans), its meter
 * (queries, errors, waits), the marking of the sessions it opens, and the
 * registration of its metrics for as long as it is open.
 *
 * Internal: not exported by the package.
 */
import * as Effect from "effect/Effect"
import type { Session } from "../connection/Session.js"
import type { PoolStats } from "../pool/types.js"
import { PoolMeter } from "./meter.js"
import { registerPool, type PoolMetrics } from "./metrics.js"
import * as Sessions from "./sessions.js"
import type { TracedPool } from "./spans.js"

/** The pool's options observability reads. */
export interface ObservedOptions {
  /** the pool's name on spans and metrics (default "default") */
  readonly name?: string | undefined
  /** false: no spans from this pool or its connections (default true) */
  readonly tracing?: boolean | undefined
}

/** Observability of one pool. */
export class PoolObservability implements TracedPool {
  /** the name on spans and metrics: the `name` option, else the first free "default", "default-2", ... of the metric registry */
  poolName: string
  /** true when the user chose the name */
  readonly named: boolean
  readonly tracing: boolean
  readonly meter = new PoolMeter()
  private metrics: PoolMetrics | undefined = undefined

  constructor(options: ObservedOptions, private readonly readStats: () => PoolStats) {
    this.named = options.name !== undefined
    this.poolName = options.name === undefined ? "default" : String(options.name)
    this.tracing = options.tracing ?? true
  }

  /** The pool's stats (what the metrics read). */
  stats(): PoolStats {
    return this.readStats()
  }

  /** Wraps an opener's callback: a session it opens is marked as this pool's. */
  adopting<C extends { readonly session: Session }>(cb: (error: unknown, conn: C | undefined) => void): (error: unknown, conn: C | undefined) => void {
    return (error, conn) => {
      if (conn !== undefined) Sessions.adopt(conn.session, this.meter, this.tracing, this.poolName)
      cb(error, conn)
    }
  }

  /**
   * Registers the pool's metrics in the registry of the running fiber's
   * context (once); warns when another open pool was given the same name there.
   */
  register(): Effect.Effect<void> {
    return Effect.withFiber((fiber) => {
      if (this.metrics !== undefined) return Effect.void
      this.metrics = registerPool(this, fiber.context)
      return this.metrics.sharedName
        ? Effect.logWarning(
            `effect-pg: another open pool is named "${this.poolName}"; the metrics of one replace the other's — give each pool its own name option`
          )
        : Effect.void
    })
  }

  /** Removes the pool's metrics from the registry (the pool closed). */
  unregister(): void {
    this.metrics?.remove()
    this.metrics = undefined
  }
}
