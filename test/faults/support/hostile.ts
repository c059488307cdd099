/**
 * The runner of the hostile-input tables: each row runs against one shared
 * connection (or opens its own), its outcome is a typed error (`_tag`
 * asserted) or a value; after each row the shared connection must still
 * answer `SELECT 1` and the scratch table must hold what it held before
 * (nothing half-written).
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Connection from "../../../src/Connection.js"
import { TEST_DSN } from "../../support/db.js"

/** What a row must end with. */
export type Outcome =
  | { readonly fails: string }
  | { readonly value: unknown }
  | { readonly check: (value: unknown) => void }

/** One hostile input. */
export interface HostileRow {
  readonly name: string
  /** what it proves (copied into test/faults/README.md) */
  readonly proves?: string
  readonly run: (conn: Connection.Connection, table: string) => Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>
  readonly expect: Outcome
  /** the row tries to write to `table`: its row count must not change */
  readonly writes?: boolean
  /** the row may close the shared connection (it is reopened after) */
  readonly mayClose?: boolean
}

const safeString = (v: unknown): string => {
  try {
    return typeof v === "string" ? v.slice(0, 80) : String(v).slice(0, 80)
  } catch {
    return "?"
  }
}

/** Fails with the given tag. */
export const fails = (tag: string): Outcome => ({ fails: tag })
/** Succeeds with a value equal (toEqual) to `value`. */
export const value = (v: unknown): Outcome => ({ value: v })

/** The columns of the scratch table every row may write to. */
export const TABLE_COLUMNS = "id int4, s text, f4 float4, f8 float8, j jsonb, b bytea, u uuid, ts timestamptz, arr int4[], n numeric, i8 int8"

/** Opens a connection to the test server (for rows that need their own). */
export const open = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

/**
 * Runs the rows in order on one connection (reopened when a row closed it),
 * each with a timeout, and asserts outcome, liveness and the table's count.
 */
export const runRows = (rows: ReadonlyArray<HostileRow>, table: string) =>
  Effect.gen(function* () {
    let conn = yield* open()
    yield* conn.execute(`CREATE TEMP TABLE ${table} (${TABLE_COLUMNS})`)
    const count = (c: Connection.Connection) => c.fetchval(`SELECT count(*)::int FROM ${table}`)
    for (const row of rows) {
      const before = yield* count(conn)
      const exit = yield* Effect.result(row.run(conn, table).pipe(Effect.timeout("10 seconds")))
      const label = `row "${row.name}"`
      // soft assertions: one run reports every row that misbehaves
      if ("fails" in row.expect) {
        expect.soft(exit._tag, `${label} should fail, got ${exit._tag === "Success" ? safeString(exit.success) : ""}`).toBe("Failure")
        if (exit._tag === "Failure") {
          expect.soft(exit.failure._tag, `${label}: ${exit.failure.message}`).toBe(row.expect.fails)
          // every message says what happened: never empty
          expect.soft(exit.failure.message.length, label).toBeGreaterThan(10)
        }
      } else {
        if (exit._tag === "Failure") expect.soft(`${exit.failure._tag}: ${exit.failure.message}`, `${label} failed`).toBe("success")
        else if ("value" in row.expect) expect.soft(exit.success, label).toEqual(row.expect.value)
        else row.expect.check(exit.success)
      }
      if (conn.isClosed()) {
        expect.soft(row.mayClose === true, `${label} closed the connection`).toBe(true)
        conn = yield* open()
        yield* conn.execute(`CREATE TEMP TABLE IF NOT EXISTS ${table} (${TABLE_COLUMNS})`)
        continue
      }
      expect.soft(yield* conn.fetchval("SELECT 1"), `${label}: connection still works`).toBe(1)
      if (row.writes === true) expect.soft(yield* count(conn), `${label}: nothing half-written`).toBe(before)
    }
  })
