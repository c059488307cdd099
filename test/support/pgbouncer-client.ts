/**
 * A client process for test/pgbouncer.test.ts: `callers` fibers run one SQL
 * text as fast as they can for `durationMs` through PgBouncer, on a pool or
 * on one connection, and check every row. Process A and process B run
 * different SQL with different result shapes, so a row of the other
 * process's statement is detected. Prints one line: `RESULT {json}`.
 *
 * Usage: tsx pgbouncer-client.ts '{"port":6432,"who":"A","mode":"pool","prepare":false,"durationMs":5000,"callers":32}'
 * Mode "name" prints the name of its first prepared statement instead.
 */
import * as Effect from "effect/Effect"
import * as Connection from "../../src/Connection.js"
import * as PgPool from "../../src/Pool.js"
import type * as PgRecord from "../../src/Record.js"

interface Args {
  readonly port: number
  readonly user: string
  readonly who: "A" | "B"
  readonly mode: "pool" | "conn" | "name"
  readonly prepare: boolean
  readonly durationMs: number
  readonly callers: number
}

/** What a client reports. */
export interface ClientSummary {
  readonly who: string
  readonly calls: number
  readonly wrong: number
  /** failed calls by error tag */
  readonly errors: Record<string, number>
  /** the first message of each error tag */
  readonly messages: Record<string, string>
  /** the first wrong row, as JSON */
  readonly firstWrong?: string
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args

const options: Connection.ConnectOptions = {
  host: "127.0.0.1",
  port: args.port,
  user: args.user,
  database: "postgres",
  sslmode: "disable",
  prepare: args.prepare
}

/** Process A and process B: different SQL, different result shapes. */
const SQL = {
  A: "SELECT $1::int AS a, 'A' AS who",
  B: "SELECT $1::text AS b, 'B' AS who, 2 AS two"
} as const

const check = (who: "A" | "B", i: number, row: PgRecord.Record | null): boolean => {
  if (row === null) return false
  if (who === "A") return row.length === 2 && row.get("a") === i && row.get("who") === "A"
  return row.length === 3 && row.get("b") === String(1000 + (i % 9000)) && row.get("who") === "B" && row.get("two") === 2
}

type Run = (sql: string, arg: unknown) => Effect.Effect<PgRecord.Record | null, { readonly _tag: string; readonly message: string }>

const hammer = (run: Run) =>
  Effect.gen(function* () {
    let calls = 0
    let wrong = 0
    let firstWrong: string | undefined
    const errors: Record<string, number> = {}
    const messages: Record<string, string> = {}
    const deadline = Date.now() + args.durationMs
    const sql = SQL[args.who]
    const caller = (c: number) =>
      Effect.gen(function* () {
        let i = c * 1_000_000
        while (Date.now() < deadline) {
          i++
          // B's arguments are 4 bytes, like A's int4: bound to A's statement they run without an error
          const arg = args.who === "A" ? i : String(1000 + (i % 9000))
          const result = yield* Effect.result(run(sql, arg))
          calls++
          if (result._tag === "Failure") {
            const tag = result.failure._tag
            errors[tag] = (errors[tag] ?? 0) + 1
            messages[tag] ??= result.failure.message
          } else if (!check(args.who, i, result.success)) {
            wrong++
            firstWrong ??= JSON.stringify(result.success?.toJSON() ?? null)
          }
        }
      })
    yield* Effect.forEach(Array.from({ length: args.callers }, (_, c) => c), caller, { concurrency: "unbounded", discard: true })
    const summary: ClientSummary = { who: args.who, calls, wrong, errors, messages, ...(firstWrong ? { firstWrong } : {}) }
    return summary
  })

const program = Effect.gen(function* () {
  if (args.mode === "name") {
    const conn = yield* Connection.connect(options)
    const stmt = yield* conn.prepare(SQL[args.who])
    return { who: args.who, name: stmt.getName() }
  }
  if (args.mode === "pool") {
    const pool = yield* PgPool.make({ ...options, minSize: 2, maxSize: 4 })
    return yield* hammer((sql, arg) => pool.fetchrow(sql, [arg]))
  }
  const conn = yield* Connection.connect(options)
  return yield* hammer((sql, arg) => conn.fetchrow(sql, [arg]))
}).pipe(Effect.scoped)

Effect.runPromise(program).then(
  (summary) => {
    process.stdout.write(`RESULT ${JSON.stringify(summary)}\n`)
    process.exit(0)
  },
  (e: unknown) => {
    process.stdout.write(`RESULT ${JSON.stringify({ who: args.who, fatal: String(e) })}\n`)
    process.exit(1)
  }
)
