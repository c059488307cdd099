/**
 * connect_timeout is per address, as in libpq (issue 15).
 *
 * Black holes: TCP servers that accept and then never send a byte (a hung
 * host: the kernel completes the handshake, nothing answers). The good host
 * is the local server. Specification:
 * - a black hole listed before a good host costs one connect_timeout, then
 *   the good host answers: total ≈ connect_timeout, not a failure, whether
 *   the first message is an SSLRequest (sslmode=prefer) or the startup
 *   message (sslmode=disable);
 * - two black holes before a good host cost two timeouts: each address has
 *   its own deadline (one deadline for the whole list would fail here);
 * - the `connectTimeout` option (ms) and `PGCONNECT_TIMEOUT` behave the same;
 * - when every address is a black hole, the error comes after one timeout
 *   per address, is a PostgresConnectionError with reason "timeout", and
 *   names each address.
 */
import { afterAll, beforeAll, expect, it } from "@effect/vitest"
import * as net from "node:net"
import * as Effect from "effect/Effect"
import * as Connection from "../../src/Connection.js"

const sockets = new Set<net.Socket>()
const holes: Array<net.Server> = []
let holePorts: Array<number> = []

const blackHole = (): Promise<net.Server> =>
  new Promise((resolve) => {
    const srv = net.createServer((s) => {
      sockets.add(s)
      s.on("error", () => {})
      s.on("close", () => sockets.delete(s))
    })
    srv.listen(0, "127.0.0.1", () => resolve(srv))
  })

beforeAll(async () => {
  holes.push(await blackHole(), await blackHole())
  holePorts = holes.map((h) => (h.address() as net.AddressInfo).port)
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await Promise.all(holes.map((h) => new Promise((r) => h.close(r))))
})

const GOOD = 5432
const hostList = (ports: ReadonlyArray<number>) => ({ host: ports.map(() => "127.0.0.1"), port: ports, user: "root", database: "test" })

/** Connects, returns the port of the server reached and how long it took. */
const timed = (options: Connection.ConnectOptions) =>
  Effect.gen(function*() {
    const started = Date.now()
    const conn = yield* Connection.connect(options)
    const ms = Date.now() - started
    return { port: Number(yield* conn.fetchval("SELECT inet_server_port()")), ms }
  })

it.live("one black hole then the good host: about one connect_timeout (DSN, sslmode prefer and disable)", () =>
  Effect.gen(function*() {
    for (const sslmode of ["prefer", "disable"]) {
      const r = yield* timed({ dsn: `host=127.0.0.1,127.0.0.1 port=${holePorts[0]},${GOOD} user=root dbname=test sslmode=${sslmode} connect_timeout=2` })
      console.log(`sslmode=${sslmode}: black hole + good host: ${r.ms} ms`)
      expect(r.port).toBe(GOOD)
      expect(r.ms).toBeGreaterThanOrEqual(1950)
      expect(r.ms).toBeLessThan(2800)
    }
  }), 30_000)

it.live("two black holes then the good host: two timeouts, each address its own deadline (connectTimeout option)", () =>
  Effect.gen(function*() {
    const r = yield* timed({ ...hostList([holePorts[0]!, holePorts[1]!, GOOD]), connectTimeout: 700 })
    console.log(`two black holes + good host, 700 ms each: ${r.ms} ms`)
    expect(r.port).toBe(GOOD)
    expect(r.ms).toBeGreaterThanOrEqual(1380)
    expect(r.ms).toBeLessThan(2400)
  }), 30_000)

it.live("PGCONNECT_TIMEOUT is per address too", () =>
  Effect.gen(function*() {
    const saved = process.env["PGCONNECT_TIMEOUT"]
    process.env["PGCONNECT_TIMEOUT"] = "2"
    try {
      const r = yield* timed(hostList([holePorts[0]!, GOOD]))
      expect(r.port).toBe(GOOD)
      expect(r.ms).toBeGreaterThanOrEqual(1950)
      expect(r.ms).toBeLessThan(2800)
    } finally {
      if (saved === undefined) delete process.env["PGCONNECT_TIMEOUT"]
      else process.env["PGCONNECT_TIMEOUT"] = saved
    }
  }), 30_000)

it.live("only black holes: a timeout error after one deadline per address, naming each", () =>
  Effect.gen(function*() {
    const started = Date.now()
    const err = yield* Effect.flip(Connection.connect({ ...hostList(holePorts), connectTimeout: 500 }))
    const ms = Date.now() - started
    expect(ms).toBeGreaterThanOrEqual(980)
    expect(ms).toBeLessThan(1500)
    expect(err._tag).toBe("PostgresConnectionError")
    const e = err as Extract<typeof err, { _tag: "PostgresConnectionError" }>
    expect(e.reason).toBe("timeout")
    expect(e.message).toMatch(/could not connect to any of 2 server addresses/)
    for (const p of holePorts) expect(e.message).toContain(`127.0.0.1:${p}: did not complete the connection within 500 ms`)
    // one black hole alone: that attempt's own error, unchanged in kind
    const one = yield* Effect.flip(Connection.connect({ ...hostList([holePorts[0]!]), connectTimeout: 500 }))
    expect(one._tag).toBe("PostgresConnectionError")
    expect((one as typeof e).reason).toBe("timeout")
  }), 30_000)
