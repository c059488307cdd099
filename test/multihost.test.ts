/**
 * Host lists beyond target_session_attrs (issue 15): load_balance_hosts, and
 * which server answers move on to the next host.
 *
 * Servers: the local one (5432) and throwaway clusters with a `root`
 * superuser and a `test` database, so one DSN works on all of them.
 * Specification:
 * - `load_balance_hosts=random` spreads 1,000 connections over two servers,
 *   each between 40 % and 60 %; `disable` (the default) always takes the first;
 * - 53300 (too many connections) and 57P03 (shutting down) on the first
 *   host move on to the second; alone, each is its typed server error;
 * - a server error that the next host would repeat (an unknown database) is
 *   final: the list is not walked further;
 * - a bad `load_balance_hosts` is an InterfaceError naming the value.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Connection from "../src/Connection.js"
import { throwawayCluster, type Cluster } from "./support/cluster.js"

const GOOD = 5432
const setup = ["CREATE ROLE root SUPERUSER LOGIN", "CREATE DATABASE test"]

class Servers extends Context.Service<Servers, { readonly other: Cluster; readonly full: Cluster; readonly closing: Cluster }>()(
  "test/multihost/Servers"
) {}

const ServersLive = Layer.effect(
  Servers,
  Effect.all({
    // a TimeZone of its own: the ParameterStatus at startup tells the servers apart without a query
    other: throwawayCluster({ setup, conf: { timezone: "'Pacific/Chatham'" } }),
    full: throwawayCluster({ setup, conf: { max_connections: "3", superuser_reserved_connections: "0" } }),
    closing: throwawayCluster({ setup })
  })
)

const dsn = (ports: ReadonlyArray<number>, extra = "") =>
  `postgres://root@${ports.map((p) => `127.0.0.1:${p}`).join(",")}/test?sslmode=disable${extra}`

const portOf = (conn: Connection.Connection) => Effect.map(conn.fetchval("SELECT inet_server_port()"), Number)

/**
 * Opens and drops `n` connections, `concurrency` at a time; counts the server
 * each reached (the `other` cluster by its TimeZone, reported at startup).
 */
const spread = (url: string, n: number, concurrency: number, otherPort: number) =>
  Effect.gen(function*() {
    const counts = new Map<number, number>()
    yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      () =>
        Effect.gen(function*() {
          const conn = yield* Connection.connectUnscoped(url)
          const port = conn.getSettings().get("TimeZone") === "Pacific/Chatham" ? otherPort : GOOD
          yield* conn.terminate()
          counts.set(port, (counts.get(port) ?? 0) + 1)
        }),
      { concurrency, discard: true }
    )
    return counts
  })

layer(ServersLive, { excludeTestServices: true, timeout: 300_000 })("host lists", (it) => {
  it.effect("load_balance_hosts=random spreads 1,000 connections 40/60 or better; disable takes the first", () =>
    Effect.gen(function*() {
      const { other } = yield* Servers
      const started = Date.now()
      const random = yield* spread(dsn([GOOD, other.port], "&load_balance_hosts=random"), 1000, 10, other.port)
      console.log(`load_balance_hosts=random, 1,000 connections in ${Date.now() - started} ms:`, Object.fromEntries(random))
      expect([...random.keys()].sort()).toEqual([GOOD, other.port].sort())
      for (const count of random.values()) {
        expect(count).toBeGreaterThanOrEqual(400)
        expect(count).toBeLessThanOrEqual(600)
      }
      const plain = yield* spread(dsn([other.port, GOOD]), 20, 4, other.port)
      expect(Object.fromEntries(plain)).toEqual({ [other.port]: 20 })
      // the connectTimeout-style option form: loadBalanceHosts
      const counts = new Map<number, number>()
      for (let i = 0; i < 60; i++) {
        const port = yield* Effect.scoped(
          Effect.flatMap(
            Connection.connect({ host: ["127.0.0.1", "127.0.0.1"], port: [GOOD, other.port], user: "root", database: "test", sslmode: "disable", loadBalanceHosts: "random" }),
            portOf
          )
        )
        counts.set(port, (counts.get(port) ?? 0) + 1)
      }
      // 60 fair coin flips: both sides at least 15 times (fails with probability < 1e-4)
      for (const p of [GOOD, other.port]) expect(counts.get(p) ?? 0).toBeGreaterThanOrEqual(15)
    }), 300_000)

  it.effect("53300 too_many_connections on the first host moves on to the second", () =>
    Effect.gen(function*() {
      const { full } = yield* Servers
      // fill the cluster (max_connections=3, nothing reserved)
      for (let i = 0; i < 3; i++) yield* Connection.connect(dsn([full.port]))
      const alone = yield* Effect.flip(Connection.connect(dsn([full.port])))
      expect(alone._tag).toBe("TooManyConnectionsError")
      const conn = yield* Connection.connect(dsn([full.port, GOOD]))
      expect(yield* portOf(conn)).toBe(GOOD)
    }))

  it.effect("57P03 cannot_connect_now (a server shutting down) on the first host moves on to the second", () =>
    Effect.gen(function*() {
      const { closing } = yield* Servers
      // smart shutdown: the postmaster waits for this session and refuses new ones with 57P03
      const held = yield* Connection.connectUnscoped(dsn([closing.port]))
      process.kill(closing.postmasterPid()!, "SIGTERM")
      let alone: { readonly _tag: string } | undefined
      for (let i = 0; i < 100; i++) {
        alone = yield* Effect.flip(Connection.connect(dsn([closing.port])))
        if (alone._tag === "CannotConnectNowError") break
        yield* Effect.sleep("20 millis")
      }
      expect(alone?._tag).toBe("CannotConnectNowError")
      const conn = yield* Connection.connect(dsn([closing.port, GOOD]))
      expect(yield* portOf(conn)).toBe(GOOD)
      yield* held.close()
    }))

  it.effect("an unknown database on the first host is final; every host failing names each one", () =>
    Effect.gen(function*() {
      const { other } = yield* Servers
      yield* Effect.sync(() => other.psql("CREATE DATABASE only_here"))
      // only_here exists on the second server, but a missing database ends the walk (libpq does the same)
      const err = yield* Effect.flip(Connection.connect(`postgres://root@127.0.0.1:${GOOD},127.0.0.1:${other.port}/only_here?sslmode=disable`))
      expect(err._tag).toBe("InvalidCatalogNameError")
      // a refused port and a standby-only list: both named, each with why
      const none = yield* Effect.flip(Connection.connect(dsn([1, GOOD], "&target_session_attrs=standby")))
      expect(none._tag).toBe("PostgresConnectionError")
      expect(none.message).toContain("could not connect to any of 2 server addresses with target_session_attrs=standby")
      expect(none.message).toMatch(/127\.0\.0\.1:1: could not connect to the server: connect ECONNREFUSED/)
      expect(none.message).toContain(`127.0.0.1:${GOOD}: is a primary, not what target_session_attrs=standby asks for`)
    }))

  it.effect("a bad load_balance_hosts is an InterfaceError naming the value", () =>
    Effect.gen(function*() {
      const err = yield* Effect.flip(Connection.connect(dsn([GOOD], "&load_balance_hosts=round-robin")))
      expect(err._tag).toBe("InterfaceError")
      expect(err.message).toContain(`invalid load_balance_hosts "round-robin" in the DSN: expected one of disable, random`)
      const opt = yield* Effect.flip(Connection.connect({ dsn: dsn([GOOD]), loadBalanceHosts: "sometimes" as never }))
      expect(opt._tag).toBe("InterfaceError")
      expect(opt.message).toContain(`invalid loadBalanceHosts "sometimes"`)
    }))
})
