/**
 * `npm start`: the effect-pg quick start.
 *
 * Runs on DATABASE_URL when it is set. Otherwise it tries the PG* variables
 * and the local server (unix socket, then localhost:5432); when nothing
 * answers it starts an embedded PostgreSQL (PGlite served over a socket) on
 * a free loopback port, so the demo works on a machine with no server.
 */
import * as net from "node:net"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Connection from "../src/Connection.js"
import { PgPool } from "../src/Pool.js"

/** Where to connect, and a function that stops the embedded server when there is one. */
interface Target {
  readonly dsn: string | undefined
  readonly label: string
  readonly stop: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })

/** Starts PGlite behind a PostgreSQL wire-protocol socket on a free port. */
const startEmbedded = Effect.promise(async (): Promise<Target> => {
  const { PGlite } = await import("@electric-sql/pglite")
  const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket")
  const db = await PGlite.create()
  const port = await freePort()
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port, maxConnections: 8 })
  await server.start()
  return {
    dsn: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    label: `an embedded PostgreSQL (PGlite) on 127.0.0.1:${port}`,
    stop: async () => {
      await server.stop()
      await db.close()
    }
  }
})

/** DATABASE_URL if set; else the PG* / local server if it answers; else PGlite. */
const chooseTarget: Effect.Effect<Target> = Effect.gen(function* () {
  const url = process.env.DATABASE_URL
  if (url !== undefined && url !== "") return { dsn: url, label: "DATABASE_URL", stop: async () => {} }
  const failure = yield* Effect.scoped(Effect.flatMap(Connection.connect({ timeout: "3 seconds" }), (c) => c.fetchval("SELECT 1"))).pipe(
    Effect.match({ onSuccess: () => undefined, onFailure: (e) => e.message })
  )
  if (failure === undefined) return { dsn: undefined, label: "the local PostgreSQL server (PG* variables / defaults)", stop: async () => {} }
  const embedded = yield* startEmbedded
  yield* Console.log(`No PostgreSQL server answered (${failure}); starting ${embedded.label}.`)
  return embedded
})

const demo = Effect.gen(function* () {
  const pool = yield* PgPool

  yield* pool.execute("DROP TABLE IF EXISTS quickstart_users")

  // A real table: temp tables live in one session, and the pool has several.
  yield* pool.execute(`
    CREATE TABLE quickstart_users (
      id int PRIMARY KEY,
      name text NOT NULL,
      active bool NOT NULL,
      joined timestamptz NOT NULL DEFAULT now()
    )`)

  yield* pool.executemany("INSERT INTO quickstart_users (id, name, active) VALUES ($1, $2, $3)", [
    [1, "Ada", true],
    [2, "Grace", true],
    [3, "Edsger", false]
  ])

  const users = yield* pool.fetch("SELECT id, name, joined FROM quickstart_users WHERE active = $1 ORDER BY id", [true])
  yield* Console.log(`active users: ${users.length}`)
  for (const u of users) yield* Console.log(`  #${u.get("id")} ${u.get("name")} (joined ${(u.get("joined") as Date).toISOString()})`)

  // A connection of your own, for work that needs one session.
  const count = yield* Effect.scoped(
    Effect.gen(function* () {
      const conn = yield* pool.acquire({ timeout: "5 seconds" })
      yield* conn.execute("UPDATE quickstart_users SET active = true WHERE id = $1", [3])
      return yield* conn.fetchval("SELECT count(*)::int FROM quickstart_users WHERE active")
    })
  )
  yield* Console.log(`active after update: ${count}`)

  // Errors are tagged: catch one condition by its name.
  const duplicate = yield* pool
    .execute("INSERT INTO quickstart_users (id, name, active) VALUES ($1, $2, $3)", [1, "Ada again", true])
    .pipe(
      Effect.as("inserted"),
      Effect.catchTag("UniqueViolationError", (e) => Effect.succeed(`refused: ${e.message}`))
    )
  yield* Console.log(`duplicate insert: ${duplicate}`)

  const version = yield* pool.fetchval("SELECT version()")
  yield* Console.log(`server: ${String(version).split(",")[0]}`)
  yield* pool.execute("DROP TABLE quickstart_users")
})

const main = Effect.gen(function* () {
  const target = yield* chooseTarget
  yield* Console.log(`effect-pg quick start, running on ${target.label}`)
  yield* demo.pipe(
    Effect.provide(
      PgPool.layer({
        ...(target.dsn !== undefined ? { dsn: target.dsn } : {}),
        minSize: 1,
        maxSize: 4,
        // the demo's DROP TABLE IF EXISTS would log a NOTICE; keep the output to the point
        serverSettings: { client_min_messages: "warning" }
      })
    ),
    Effect.ensuring(Effect.promise(() => target.stop()))
  )
  yield* Console.log("done.")
})

Effect.runPromise(main).then(
  () => process.exit(0),
  (e) => {
    console.error(String(e))
    process.exit(1)
  }
)
