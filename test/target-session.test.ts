/**
 * target_session_attrs over several hosts: a throwaway cluster whose new
 * transactions are read-only, listed before the local (read-write) server.
 */
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Context from "effect/Context"
import * as Connection from "../src/Connection.js"
import { throwawayCluster, type Cluster } from "./support/cluster.js"

class ReadOnlyCluster extends Context.Service<ReadOnlyCluster, Cluster>()("test/ReadOnlyCluster") {}

const ClusterLive = Layer.effect(ReadOnlyCluster, throwawayCluster({ conf: { default_transaction_read_only: "on" } }))

const dsn = (c: Cluster, attrs: string) =>
  `postgres://postgres@127.0.0.1:${c.port},127.0.0.1:5432/postgres?sslmode=disable&target_session_attrs=${attrs}`

const portOf = (conn: Connection.Connection) => Effect.map(conn.fetchval("SELECT current_setting('port')::int"), Number)

layer(ClusterLive, { excludeTestServices: true, timeout: 120_000 })("target_session_attrs", (it) => {
  it.effect("read-write skips the read-only server; read-only and primary take the first", () =>
    Effect.gen(function* () {
      const c = yield* ReadOnlyCluster
      expect(yield* portOf(yield* Connection.connect(dsn(c, "read-write")))).toBe(5432)
      expect(yield* portOf(yield* Connection.connect(dsn(c, "read-only")))).toBe(c.port)
      expect(yield* portOf(yield* Connection.connect(dsn(c, "any")))).toBe(c.port)
      expect(yield* portOf(yield* Connection.connect(dsn(c, "primary")))).toBe(c.port)
    }))

  it.effect("standby with no standby is a typed error; prefer-standby falls back to the first host", () =>
    Effect.gen(function* () {
      const c = yield* ReadOnlyCluster
      const err = yield* Effect.flip(Connection.connect(dsn(c, "standby")))
      expect(err._tag).toBe("PostgresConnectionError")
      expect(err.message).toContain("target_session_attrs=standby")
      expect(yield* portOf(yield* Connection.connect(dsn(c, "prefer-standby")))).toBe(c.port)
    }))
})
