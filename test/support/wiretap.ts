/**
 * A TCP proxy in front of a PostgreSQL server that records what the client
 * sends: each frontend message's type, and the statement name of each Parse
 * and Bind. Connect with `sslmode=disable` so the stream stays readable.
 * Closed (with every connection through it) when the Scope closes.
 */
import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** One frontend message: its type letter and, for Parse/Bind/Describe/Close, the statement or portal name. */
export interface TappedMessage {
  readonly type: string
  readonly name?: string
}

export interface Wiretap {
  readonly port: number
  /** messages of every connection so far, in order (per connection) */
  readonly connections: ReadonlyArray<Array<TappedMessage>>
}

const cstring = (buf: Buffer, at: number): string => buf.toString("utf8", at, buf.indexOf(0, at))

/** Starts the proxy towards `target`. */
export const wiretap = (target: { readonly host: string; readonly port: number }): Effect.Effect<Wiretap, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: net.Server; tap: Wiretap; sockets: Set<net.Socket> }>((resume) => {
      const connections: Array<Array<TappedMessage>> = []
      const sockets = new Set<net.Socket>()
      const server = net.createServer((client) => {
        const log: Array<TappedMessage> = []
        connections.push(log)
        const upstream = net.connect(target.port, target.host)
        sockets.add(client)
        sockets.add(upstream)
        let pending = Buffer.alloc(0)
        let started = false
        client.on("data", (chunk: Buffer) => {
          upstream.write(chunk)
          pending = Buffer.concat([pending, chunk])
          for (;;) {
            if (!started) {
              // the startup packet has no type byte
              if (pending.length < 4) return
              const len = pending.readInt32BE(0)
              if (pending.length < len) return
              pending = pending.subarray(len)
              started = true
              continue
            }
            if (pending.length < 5) return
            const len = pending.readInt32BE(1)
            if (pending.length < len + 1) return
            const type = String.fromCharCode(pending[0]!)
            const body = pending.subarray(5, len + 1)
            if (type === "P") log.push({ type, name: cstring(body, 0) })
            else if (type === "B") {
              const portal = cstring(body, 0)
              log.push({ type, name: cstring(body, Buffer.byteLength(portal) + 1) })
            } else if (type === "D" || type === "C") log.push({ type, name: `${String.fromCharCode(body[0]!)}:${cstring(body, 1)}` })
            else log.push({ type })
            pending = pending.subarray(len + 1)
          }
        })
        upstream.on("data", (chunk) => client.write(chunk))
        const end = () => {
          client.destroy()
          upstream.destroy()
        }
        client.on("close", end)
        upstream.on("close", end)
        client.on("error", end)
        upstream.on("error", end)
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        resume(Effect.succeed({ server, sockets, tap: { port, connections } }))
      })
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const s of sockets) s.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ tap }) => tap))
