/**
 * The README's examples, as written there (against the test server), so the
 * documentation cannot drift from the API: they must type-check and run.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Connection, PgPool } from "../src/index.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

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
})
