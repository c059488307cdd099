/**
 * A loopback TCP proxy of the tests' own, in front of a server, whose
 * behaviour is switched at run time to inject network faults:
 *
 * - `pass()`: forward both ways (the default);
 * - `delay(ms)`: forward both ways, each chunk `ms` later (order kept, also
 *   across a switch back to `pass()`);
 * - `reset()`: destroy every current socket now (clients see ECONNRESET);
 *   the mode is unchanged, new connections are served by it;
 * - `blackhole()`: forward nothing either way and close nothing — like a
 *   network partition. Sockets open now and those accepted while it lasts are
 *   kept open and silent; they stay dead after `pass()` (as after a real
 *   partition, where the peers have given up), new ones are forwarded again.
 * - `blackholeNew()`: connections open now keep working; new ones are
 *   accepted and never answered nor closed (a frozen postmaster behind a
 *   live backend: a cancel request's socket hangs).
 *
 * Closed with its Effect Scope (every socket destroyed, the listener closed).
 */
import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

export type ProxyMode =
  | { readonly _tag: "pass" }
  | { readonly _tag: "delay"; readonly ms: number }
  | { readonly _tag: "blackhole" }
  | { readonly _tag: "blackholeNew" }

export interface ProxyStats {
  /** client connections accepted since start */
  readonly connections: number
  /** client connections open now (black-holed ones included) */
  readonly open: number
  /** client connections black-holed (at the switch or on accept) */
  readonly blackholed: number
  /** bytes forwarded client → server */
  readonly bytesToServer: number
  /** bytes forwarded server → client */
  readonly bytesToClient: number
  /** bytes swallowed by the black hole (client → server direction) */
  readonly bytesDropped: number
}

export interface Proxy {
  readonly host: string
  readonly port: number
  /** `host=127.0.0.1 port=<proxy>` with the given extra `key=value` DSN words */
  readonly dsn: (extra?: string) => string
  readonly mode: () => ProxyMode
  readonly pass: () => void
  readonly delay: (ms: number) => void
  readonly blackhole: () => void
  readonly blackholeNew: () => void
  readonly reset: () => void
  readonly stats: () => ProxyStats
}

/** one direction of a pair: chunks waiting for their due time, in order */
interface Lane {
  readonly queue: Array<{ readonly due: number; readonly chunk: Buffer }>
  timer: NodeJS.Timeout | undefined
}

interface Pair {
  readonly client: net.Socket
  upstream: net.Socket | undefined
  dead: boolean
  readonly up: Lane
  readonly down: Lane
}

/** Starts a proxy on 127.0.0.1:<free port> forwarding to `target`; closed with the scope. */
export const tcpProxy = (target: { readonly host?: string; readonly port: number }): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ proxy: Proxy; server: net.Server; pairs: Set<Pair> }>((resume) => {
      const host = target.host ?? "127.0.0.1"
      const pairs = new Set<Pair>()
      let mode: ProxyMode = { _tag: "pass" }
      let connections = 0
      let blackholed = 0
      let bytesToServer = 0
      let bytesToClient = 0
      let bytesDropped = 0

      const kill = (pair: Pair) => {
        clearTimeout(pair.up.timer)
        clearTimeout(pair.down.timer)
        pair.client.destroy()
        pair.upstream?.destroy()
        pairs.delete(pair)
      }
      const bury = (pair: Pair) => {
        if (pair.dead) return
        pair.dead = true
        blackholed++
      }
      /**
       * Sends `chunk` on `to()` now, or after the delay. Each direction of a pair is a FIFO:
       * a chunk never overtakes an earlier, still-delayed one (also after `pass()`).
       */
      const forward = (pair: Pair, dir: Lane, to: () => net.Socket | undefined, chunk: Buffer, toServer: boolean) => {
        if (pair.dead) {
          if (toServer) bytesDropped += chunk.length
          return
        }
        const delayMs = mode._tag === "delay" ? mode.ms : 0
        if (delayMs === 0 && dir.queue.length === 0) {
          write(pair, to, chunk, toServer)
          return
        }
        dir.queue.push({ due: Date.now() + delayMs, chunk })
        drain(pair, dir, to, toServer)
      }
      const write = (pair: Pair, to: () => net.Socket | undefined, chunk: Buffer, toServer: boolean) => {
        if (pair.dead) return
        const sock = to()
        if (sock === undefined || sock.destroyed) return
        if (toServer) bytesToServer += chunk.length
        else bytesToClient += chunk.length
        sock.write(chunk)
      }
      const drain = (pair: Pair, dir: Lane, to: () => net.Socket | undefined, toServer: boolean) => {
        if (dir.timer !== undefined) return
        const now = Date.now()
        while (dir.queue.length > 0 && dir.queue[0]!.due <= now) write(pair, to, dir.queue.shift()!.chunk, toServer)
        if (dir.queue.length === 0) return
        dir.timer = setTimeout(() => {
          dir.timer = undefined
          drain(pair, dir, to, toServer)
        }, dir.queue[0]!.due - now)
      }

      const server = net.createServer((client) => {
        connections++
        const pair: Pair = { client, upstream: undefined, dead: false, up: { queue: [], timer: undefined }, down: { queue: [], timer: undefined } }
        pairs.add(pair)
        client.on("error", () => kill(pair))
        client.on("close", () => kill(pair))
        if (mode._tag === "blackholeNew") {
          // accepted, never read: not even the client's FIN is taken in, so nothing closes
          bury(pair)
          client.pause()
          return
        }
        if (mode._tag === "blackhole") {
          // accepted, never answered
          bury(pair)
          client.on("data", (d) => {
            bytesDropped += d.length
          })
          return
        }
        const upstream = net.connect({ host, port: target.port })
        pair.upstream = upstream
        // a chunk that arrives before the upstream connects is queued by the socket
        client.on("data", (d) => forward(pair, pair.up, () => pair.upstream, d, true))
        upstream.on("data", (d) => forward(pair, pair.down, () => pair.client, d, false))
        const upstreamGone = () => {
          // a black-holed pair hides the server's close from the client
          if (pair.dead) return
          kill(pair)
        }
        upstream.on("error", upstreamGone)
        upstream.on("close", upstreamGone)
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        const proxy: Proxy = {
          host: "127.0.0.1",
          port,
          dsn: (extra = "") => `host=127.0.0.1 port=${port} ${extra}`.trim(),
          mode: () => mode,
          pass: () => {
            mode = { _tag: "pass" }
          },
          delay: (ms) => {
            mode = { _tag: "delay", ms }
          },
          blackhole: () => {
            mode = { _tag: "blackhole" }
            for (const p of pairs) bury(p)
          },
          blackholeNew: () => {
            mode = { _tag: "blackholeNew" }
          },
          reset: () => {
            for (const p of [...pairs]) {
              p.client.resetAndDestroy()
              p.upstream?.destroy()
              pairs.delete(p)
            }
          },
          stats: () => ({
            connections,
            open: pairs.size,
            blackholed,
            bytesToServer,
            bytesToClient,
            bytesDropped
          })
        }
        resume(Effect.succeed({ proxy, server, pairs }))
      })
    }),
    ({ pairs, server }) =>
      Effect.callback<void>((resume) => {
        for (const p of pairs) {
          p.client.destroy()
          p.upstream?.destroy()
        }
        pairs.clear()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy))

/** Connect options that reach the local test server through `proxy` (TCP, no TLS). */
export const throughProxy = (proxy: Proxy) =>
  ({ host: "127.0.0.1", port: proxy.port, user: "root", database: "test", sslmode: "disable" }) as const

/**
 * Heals the partition when the scope ends (pass, then every socket destroyed),
 * before the finalizers added earlier run: a pool that cannot close under a
 * black hole fails its test instead of hanging the file.
 */
export const healAtEnd = (proxy: Proxy): Effect.Effect<void, never, Scope.Scope> =>
  Effect.addFinalizer(() =>
    Effect.sync(() => {
      proxy.pass()
      proxy.reset()
    })
  )
