/**
 * Behind a real PgBouncer in transaction mode (test/support/pgbouncer.ts),
 * in front of a throwaway cluster: each transaction runs on whichever server
 * connection is free, shared by every client process.
 *
 * - Two client processes × 32 callers, different SQL with different result
 *   shapes, pipelined through pools and a plain connection: with
 *   `prepare: false` no wrong row and no error; in the default mode no wrong
 *   row (errors are counted and printed).
 * - Statement names differ between processes.
 * - A PgBouncer that wipes prepared statements after every transaction
 *   (`server_reset_query = DEALLOCATE ALL`, always): the default mode
 *   prepares again up to 5 times, then fails with an error naming
 *   `prepare: false`; `prepare: false` and `statementCacheSize: 0` just work.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Connection from "../src/Connection.js"
import { throwawayCluster } from "./support/cluster.js"
import { TEST_DSN } from "./support/db.js"
import { type PgBouncer, pgbouncer } from "./support/pgbouncer.js"
import type { ClientSummary } from "./support/pgbouncer-client.js"
import { wiretap } from "./support/wiretap.js"

const CLIENT = path.join(import.meta.dirname, "support", "pgbouncer-client.ts")
const ROOT = path.join(import.meta.dirname, "..")

/** Seconds each stress run lasts (PGBOUNCER_TEST_SECONDS scales them). */
const scale = Number(process.env.PGBOUNCER_TEST_SECONDS ?? "1")

let scope: Scope.Closeable
/** a plain transaction-mode PgBouncer, 4 server connections */
let shared: PgBouncer
/** one that runs DEALLOCATE ALL after every transaction: a named statement never survives */
let wiping: PgBouncer

beforeAll(async () => {
  scope = await Effect.runPromise(Scope.make())
  await Effect.runPromise(
    Scope.provide(scope)(
      Effect.gen(function* () {
        const cluster = yield* throwawayCluster({ conf: { max_connections: "30" } })
        const server = { host: cluster.host, port: cluster.port }
        shared = yield* pgbouncer({ server })
        wiping = yield* pgbouncer({
          server,
          poolSize: 2,
          settings: { server_reset_query: "DEALLOCATE ALL", server_reset_query_always: "1" }
        })
      })
    )
  )
}, 120_000)

afterAll(async () => {
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

interface Summary extends ClientSummary {
  readonly fatal?: string
  readonly name?: string
}

/** Runs one client process (tsx) and parses its RESULT line. */
const client = (bouncer: PgBouncer, spec: { who: "A" | "B"; mode: "pool" | "conn" | "name"; prepare: boolean; durationMs?: number }) =>
  new Promise<Summary>((resolve, reject) => {
    const args = JSON.stringify({ port: bouncer.port, user: bouncer.user, callers: 32, durationMs: 0, ...spec })
    const child = spawn(process.execPath, ["--import", "tsx", CLIENT, args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => (err += d.toString()))
    // a client that does not end (a hang is a failure, not an orphan burning a core) is killed
    const killer = setTimeout(() => child.kill("SIGKILL"), (spec.durationMs ?? 0) + 30_000)
    child.on("error", reject)
    child.on("close", () => {
      clearTimeout(killer)
      const line = out.split("\n").find((l) => l.startsWith("RESULT "))
      if (line === undefined) reject(new Error(`client ${spec.who} printed no result:\n${out}\n${err}\n${bouncer.log()}`))
      else resolve(JSON.parse(line.slice(7)) as Summary)
    })
  })

/** Process A and process B at once, each 32 callers, for `seconds`. */
const race = async (mode: "pool" | "conn", prepare: boolean, seconds: number) => {
  const durationMs = Math.round(seconds * scale * 1000)
  const [a, b] = await Promise.all([
    client(shared, { who: "A", mode, prepare, durationMs }),
    client(shared, { who: "B", mode, prepare, durationMs })
  ])
  console.log(`PgBouncer ${mode}, prepare: ${prepare}, ${seconds * scale} s:`, JSON.stringify(a), JSON.stringify(b))
  return [a, b] as const
}

describe("behind PgBouncer in transaction mode", () => {
  it("two processes name their statements differently", async () => {
    const [a, b] = await Promise.all([
      client(shared, { who: "A", mode: "name", prepare: true }),
      client(shared, { who: "B", mode: "name", prepare: true })
    ])
    expect(a.fatal).toBeUndefined()
    expect(a.name).toMatch(/^__epg_[0-9a-z]+_1$/)
    expect(b.name).toMatch(/^__epg_[0-9a-z]+_1$/)
    expect(a.name).not.toBe(b.name)
  }, 30_000)

  it("prepare: false on pools: two processes × 32 callers, no wrong row, no error", async () => {
    for (const s of await race("pool", false, 6)) {
      expect(s.fatal).toBeUndefined()
      expect(s.calls).toBeGreaterThan(100)
      expect(s.wrong).toBe(0)
      expect(s.errors).toEqual({})
    }
  }, 60_000)

  it("prepare: false on one connection each: no wrong row, no error", async () => {
    for (const s of await race("conn", false, 3)) {
      expect(s.fatal).toBeUndefined()
      expect(s.calls).toBeGreaterThan(100)
      expect(s.wrong).toBe(0)
      expect(s.errors).toEqual({})
    }
  }, 60_000)

  const defaultMode = (summaries: ReadonlyArray<Summary>) => {
    for (const s of summaries) {
      expect(s.fatal).toBeUndefined()
      expect(s.calls).toBeGreaterThan(100)
      expect(s.wrong).toBe(0)
      // a lost statement is only ever reported as such, naming the option to use
      for (const tag of Object.keys(s.errors)) expect(tag).toBe("InvalidSQLStatementNameError")
      if (s.messages.InvalidSQLStatementNameError !== undefined) expect(s.messages.InvalidSQLStatementNameError).toContain("prepare: false")
    }
  }

  it("the default mode on pools: errors may happen, wrong rows never", async () => {
    defaultMode(await race("pool", true, 4))
  }, 60_000)

  it("the default mode on one connection each: errors may happen, wrong rows never", async () => {
    defaultMode(await race("conn", true, 3))
  }, 60_000)
})

describe("a pooler that loses every named statement", () => {
  const through = (bouncer: PgBouncer, opts: Connection.ConnectOptions) =>
    Connection.connect({ host: "127.0.0.1", port: bouncer.port, user: bouncer.user, database: "postgres", sslmode: "disable", ...opts })

  it.live("the default mode prepares again up to 5 times, then names prepare: false", () =>
    Effect.gen(function* () {
      const tap = yield* wiretap({ host: "127.0.0.1", port: wiping.port })
      const conn = yield* Connection.connect({ host: "127.0.0.1", port: tap.port, user: wiping.user, database: "postgres", sslmode: "disable" })
      const err = yield* Effect.flip(conn.fetchval("SELECT $1::int4 + 1", [1]))
      expect(err._tag).toBe("InvalidSQLStatementNameError")
      expect(err.message).toContain("prepare: false")
      expect(err.message).toContain("6 times")
      const parses = tap.connections[0]!.filter((m) => m.type === "P")
      expect(parses).toHaveLength(6)
      expect(new Set(parses.map((m) => m.name)).size).toBe(6)
    }))

  it.live("prepare: false and statementCacheSize: 0 work there", () =>
    Effect.gen(function* () {
      for (const opts of [{ prepare: false }, { statementCacheSize: 0 }]) {
        const conn = yield* through(wiping, opts)
        for (let i = 0; i < 20; i++) expect(yield* conn.fetchval("SELECT $1::int4 + 1", [i])).toBe(i + 1)
        const many = yield* conn.fetchmany("SELECT $1::text || 'x' AS s", [["a"], ["b"]])
        expect(many.map((rows) => rows[0]!.get("s"))).toEqual(["ax", "bx"])
      }
    }))
})

describe("a statement lost inside a transaction", () => {
  it.live("is not prepared again (the transaction is aborted): the error names prepare: false; idle, it is", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connect(TEST_DSN)
      const sql = "SELECT $1::int4 * 3 AS n"
      expect(yield* conn.fetchval(sql, [1])).toBe(3)
      // what a pooler does: the statement is gone from the server connection
      yield* conn.execute("DEALLOCATE ALL")
      expect(yield* conn.fetchval(sql, [2])).toBe(6)
      yield* conn.execute("DEALLOCATE ALL")
      const err = yield* Effect.flip(
        Effect.scoped(
          Effect.gen(function* () {
            yield* conn.transaction()
            return yield* conn.fetchval(sql, [3])
          })
        )
      )
      expect(err._tag).toBe("InvalidSQLStatementNameError")
      expect(err.message).toContain("inside a transaction block")
      expect(err.message).toContain("prepare: false")
      expect(yield* conn.fetchval(sql, [4])).toBe(12)
    }))
})
