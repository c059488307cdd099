/**
 * The engine against a real server whose byte stream is damaged on the way:
 * a loopback proxy in front of the local PostgreSQL injects bytes into the
 * server → client direction on demand. Each fault must end as a typed
 * ProtocolError (or connection error), never a crash or a hang.
 */
import { describe, expect, it } from "@effect/vitest"
import * as net from "node:net"
import * as Effect from "effect/Effect"
import * as Connection from "../src/Connection.js"

interface Proxy {
  readonly port: number
  /** bytes to put before the next server chunk sent to the client */
  inject(bytes: Buffer): void
}

const proxy = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<Proxy & { server: net.Server; sockets: Set<net.Socket> }>((resolve) => {
        let pending: Buffer | undefined
        const sockets = new Set<net.Socket>()
        const server = net.createServer((client) => {
          const upstream = net.connect({ host: "127.0.0.1", port: 5432 })
          sockets.add(client)
          sockets.add(upstream)
          client.on("data", (d) => upstream.write(d))
          upstream.on("data", (d) => {
            if (pending !== undefined) {
              client.write(Buffer.concat([pending, d]))
              pending = undefined
            } else client.write(d)
          })
          const end = () => {
            client.destroy()
            upstream.destroy()
          }
          client.on("error", end)
          upstream.on("error", end)
          client.on("close", end)
          upstream.on("close", end)
        })
        server.listen(0, "127.0.0.1", () => {
          resolve({
            port: (server.address() as net.AddressInfo).port,
            inject: (b) => {
              pending = b
            },
            server,
            sockets
          })
        })
      })
  ),
  (p) =>
    Effect.promise(
      () =>
        new Promise<void>((resolve) => {
          for (const s of p.sockets) s.destroy()
          p.server.close(() => resolve())
        })
    )
)

const connectVia = (port: number) =>
  Connection.connect({ host: "127.0.0.1", port, user: "root", database: "test", sslmode: "disable" })

describe("protocol faults", () => {
  it.live("an unknown message type is a ProtocolError and closes the connection", () =>
    Effect.gen(function* () {
      const p = yield* proxy
      const conn = yield* connectVia(p.port)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
      p.inject(Buffer.from([0x01, 0, 0, 0, 4]))
      const err = yield* Effect.flip(conn.fetch("SELECT 2")).pipe(Effect.timeout("5 seconds"))
      expect(err._tag).toBe("ProtocolError")
      expect(err.message).toContain("unknown backend message type 0x1")
      expect(conn.isClosed()).toBe(true)
    }))

  it.live("a malformed message length is a ProtocolError, not a hang", () =>
    Effect.gen(function* () {
      const p = yield* proxy
      const conn = yield* connectVia(p.port)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
      p.inject(Buffer.from([0x44, 0, 0, 0, 1]))
      const err = yield* Effect.flip(conn.fetch("SELECT 2")).pipe(Effect.timeout("5 seconds"))
      expect(err._tag).toBe("ProtocolError")
      expect(conn.isClosed()).toBe(true)
    }))

  it.live("a message the request does not expect (a stray ReadyForQuery) fails the pipeline cleanly", () =>
    Effect.gen(function* () {
      const p = yield* proxy
      const conn = yield* connectVia(p.port)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
      // an extra ReadyForQuery with nothing waiting for it
      p.inject(Buffer.from([0x5a, 0, 0, 0, 5, 0x49, 0x5a, 0, 0, 0, 5, 0x49]))
      const err = yield* Effect.flip(conn.fetch("SELECT 2")).pipe(Effect.timeout("5 seconds"))
      expect(["ProtocolError", "PostgresConnectionError"]).toContain(err._tag)
      expect(conn.isClosed()).toBe(true)
    }))
})
