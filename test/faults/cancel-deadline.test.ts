/**
 * A cancel request whose socket the server side never closes: the
 * connection to the backend is alive, but new connections to the server's
 * port are accepted and never answered (the tests' proxy in `blackholeNew`
 * mode, like a frozen postmaster). The session holds new requests back
 * until its cancel is done; the cancel socket's own deadline (10 s) is what
 * lets them go, so a query sent after a timed-out one still completes.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Connection from "../../src/Connection.js"
import { until } from "../support/pool.js"
import { tcpProxy } from "../support/proxy.js"

describe("a cancel socket that never closes", () => {
  it.live("is given up after its deadline: the requests held behind the cancel run, the session stays usable", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const conn = yield* Connection.connect(proxy.dsn("user=root dbname=test sslmode=disable"))
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
      proxy.blackholeNew()
      // times out: the cancel goes to a socket that hangs; the query ends on its own after 1 s
      const e = yield* Effect.flip(conn.fetchval("SELECT pg_sleep(1)", [], { timeout: "100 millis" }))
      expect(e._tag).toBe("CommandTimeoutError")
      // the cancel's connection was taken in by the black hole
      expect((yield* until(Effect.sync(() => proxy.stats().blackholed), (n) => n >= 1, 2000))).toBeGreaterThanOrEqual(1)
      // held behind the cancel until its socket is given up (10 s after it was sent), then served
      const started = performance.now()
      expect(yield* conn.fetchval("SELECT 41 + 1", [], { timeout: "20 seconds" })).toBe(42)
      const took = performance.now() - started
      expect(took).toBeGreaterThan(5_000)
      expect(took).toBeLessThan(12_000)
      expect(conn.isClosed()).toBe(false)
    }), 30_000)
})
