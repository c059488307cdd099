/**
 * A small HTTP JSON API on `@effect/platform-node`, backed by the pool.
 *
 *   POST /users {"email": "...", "name": "..."}  → 201 with the new user,
 *                                                   409 when the email is taken,
 *                                                   400 when the body is not a user
 *   GET  /users/:id                              → 200, or 404
 *
 * Run it: `DATABASE_URL=postgres://... PORT=3000 npx tsx examples/http-api.ts`
 * (PORT=0 picks a free port; the address is printed). Ctrl+C (or SIGTERM)
 * stops the server, waits for requests in flight, then closes the pool.
 *
 * In your app, import from "effect-pg" instead of "../src/index.js".
 */
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { PgPool } from "../src/index.js"

/** What a client sends to create a user. */
const NewUser = Schema.Struct({ email: Schema.String, name: Schema.String })

/** Creates the table the API uses, once, when the app starts. */
const Migrate = Layer.effectDiscard(
  Effect.gen(function* () {
    const pool = yield* PgPool
    yield* pool.execute(`
      CREATE TABLE IF NOT EXISTS example_api_users (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        email text NOT NULL UNIQUE,
        name text NOT NULL
      )`)
  })
)

/** A row of example_api_users, checked when it is read (int8 arrives as bigint). */
const UserRow = Schema.Struct({ id: Schema.BigInt, email: Schema.String, name: Schema.String })

const createUser = Effect.gen(function* () {
  const pool = yield* PgPool
  const body = yield* HttpServerRequest.schemaBodyJson(NewUser)
  const row = yield* pool.fetchrow(
    "INSERT INTO example_api_users (email, name) VALUES ($1, $2) RETURNING id, email, name",
    [body.email, body.name],
    { schema: UserRow }
  )
  // bigint is not JSON: send the id as a string
  return HttpServerResponse.jsonUnsafe({ id: String(row!.id), email: row!.email, name: row!.name }, { status: 201 })
}).pipe(
  // Errors are tagged: map the ones a client caused to HTTP statuses.
  Effect.catchTag("UniqueViolationError", (e) =>
    Effect.succeed(HttpServerResponse.jsonUnsafe({ error: "email already registered", constraint: e.constraint }, { status: 409 }))),
  Effect.catchTag(["SchemaError", "HttpServerError"], () =>
    Effect.succeed(HttpServerResponse.jsonUnsafe({ error: "expected {\"email\": string, \"name\": string}" }, { status: 400 })))
  // Anything else (server down, pool closed, timeouts) stays a failure: the
  // router answers 500 and logs it.
)

const getUser = Effect.gen(function* () {
  const pool = yield* PgPool
  const { id } = yield* HttpRouter.params
  if (id === undefined || !/^\d{1,18}$/.test(id)) return HttpServerResponse.jsonUnsafe({ error: "bad id" }, { status: 400 })
  const row = yield* pool.fetchrow("SELECT id::text AS id, email, name FROM example_api_users WHERE id = $1", [BigInt(id)])
  return row === null
    ? HttpServerResponse.jsonUnsafe({ error: "not found" }, { status: 404 })
    : HttpServerResponse.jsonUnsafe({ id: row.get("id"), email: row.get("email"), name: row.get("name") })
})

const Routes = Layer.mergeAll(
  HttpRouter.add("POST", "/users", createUser),
  HttpRouter.add("GET", "/users/:id", getUser)
)

const port = Number(process.env.PORT ?? 3000)

const App = HttpRouter.serve(Routes, { disableListenLog: true }).pipe(
  Layer.provide(Migrate),
  // print the address (PORT=0 picks a free one)
  Layer.merge(Layer.effectDiscard(HttpServer.addressFormattedWith((address) => Console.log(`listening on ${address}`)))),
  Layer.provide(NodeHttpServer.layer(() => createServer(), { port, host: "127.0.0.1" })),
  // one pool for the whole app; DATABASE_URL / PG* variables, password kept Redacted
  Layer.provide(PgPool.layerConfig({
    minSize: 2,
    maxSize: 10,
    commandTimeout: "10 seconds",
    acquireTimeout: "5 seconds",
    logNotices: false // no log line for "table already exists, skipping"
  }))
)

// runMain interrupts the app on SIGINT/SIGTERM: the server stops, then the pool closes.
// A stop by signal is a clean exit (0); a failure to start (server down, port taken) is 1.
NodeRuntime.runMain(Layer.launch(App), {
  teardown: (exit, onExit) => onExit(Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? 1 : 0)
})
