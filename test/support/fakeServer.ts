/**
 * A loopback fake PostgreSQL server for protocol-fault tests. It answers the
 * startup like a trusting server (AuthenticationOk, ParameterStatus,
 * BackendKeyData, ReadyForQuery) and then, when the client sends its first
 * request, plays a script: bytes to send, pauses, a close. It never parses
 * the request: the point is what the client does with what comes back.
 *
 * Closed with its Effect Scope.
 */
import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** One step of a script. */
export type Step =
  | { readonly _tag: "send"; readonly bytes: Uint8Array }
  | { readonly _tag: "wait"; readonly ms: number }
  | { readonly _tag: "close" }
  /** keep the socket open and silent until the client goes away */
  | { readonly _tag: "hold" }
  /** wait for the client's next bytes (its next request), then go on */
  | { readonly _tag: "awaitRequest" }

export const send = (bytes: Uint8Array): Step => ({ _tag: "send", bytes })
export const wait = (ms: number): Step => ({ _tag: "wait", ms })
export const close: Step = { _tag: "close" }
export const hold: Step = { _tag: "hold" }
export const awaitRequest: Step = { _tag: "awaitRequest" }

// ---------------------------------------------------------------------------
// Backend message builders
// ---------------------------------------------------------------------------

/** A backend message: type byte, Int32 length (itself included), body. */
export const message = (type: string, body: Uint8Array = Buffer.alloc(0)): Buffer => {
  const head = Buffer.alloc(5)
  head[0] = type.charCodeAt(0)
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}

/** A message header only, declaring `declaredLength` (the Int32 length field), with no body. */
export const header = (type: string, declaredLength: number): Buffer => {
  const head = Buffer.alloc(5)
  head[0] = type.charCodeAt(0)
  head.writeUInt32BE(declaredLength >>> 0, 1)
  return head
}

const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, "utf8"), Buffer.from([0])])
const int16 = (n: number): Buffer => {
  const b = Buffer.alloc(2)
  b.writeInt16BE(n)
  return b
}
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

export const authenticationOk = (): Buffer => message("R", int32(0))
export const parameterStatus = (name: string, value: string): Buffer => message("S", Buffer.concat([cstr(name), cstr(value)]))
export const backendKeyData = (pid: number, key: number): Buffer => message("K", Buffer.concat([int32(pid), int32(key)]))
export const readyForQuery = (status: "I" | "T" | "E" = "I"): Buffer => message("Z", Buffer.from(status))
export const parseComplete = (): Buffer => message("1")
/** A ParameterDescription of `oids` (none by default). */
export const parameterDescription = (oids: ReadonlyArray<number> = []): Buffer =>
  message("t", Buffer.concat([int16(oids.length), ...oids.map(int32)]))
export const bindComplete = (): Buffer => message("2")
export const noData = (): Buffer => message("n")
export const commandComplete = (tag: string): Buffer => message("C", cstr(tag))
/** A RowDescription of text columns of type int4 (OID 23). */
export const rowDescription = (names: ReadonlyArray<string>): Buffer =>
  message(
    "T",
    Buffer.concat([
      int16(names.length),
      ...names.map((n) => Buffer.concat([cstr(n), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)]))
    ])
  )
/** A DataRow of text values (`null` is SQL NULL). */
export const dataRow = (values: ReadonlyArray<string | null>): Buffer =>
  message(
    "D",
    Buffer.concat([
      int16(values.length),
      ...values.map((v) => (v === null ? int32(-1) : Buffer.concat([int32(Buffer.byteLength(v)), Buffer.from(v)])))
    ])
  )
/** A DataRow of binary int4 values (what the client asks for an int4 column: binary results). */
export const dataRowInt4 = (values: ReadonlyArray<number>): Buffer =>
  message("D", Buffer.concat([int16(values.length), ...values.map((v) => Buffer.concat([int32(4), int32(v)]))]))
export const errorResponse = (code: string, text: string): Buffer =>
  message("E", Buffer.concat([Buffer.from("SERROR\0"), Buffer.from(`C${code}\0`), Buffer.from(`M${text}\0`), Buffer.from([0])]))

/** What a trusting PostgreSQL 16 sends after the startup message. */
export const startupReply = (pid = 4242, key = 0x5eed): Buffer =>
  Buffer.concat([
    authenticationOk(),
    parameterStatus("server_version", "16.4"),
    parameterStatus("server_encoding", "UTF8"),
    parameterStatus("client_encoding", "UTF8"),
    parameterStatus("DateStyle", "ISO, MDY"),
    parameterStatus("integer_datetimes", "on"),
    parameterStatus("standard_conforming_strings", "on"),
    parameterStatus("TimeZone", "UTC"),
    backendKeyData(pid, key),
    readyForQuery("I")
  ])

/** Deterministic pseudo-random bytes (xorshift32), so a failing seed can be replayed. */
export const randomBytes = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    b[i] = x & 0xff
  }
  return b
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

export interface FakeServerStats {
  /** connections accepted */
  readonly connections: number
  /** connections that completed the startup */
  readonly started: number
  /** scripts started (first request after startup received) */
  readonly scripted: number
  /** connections open now */
  readonly open: number
  /** connections the client closed or reset (not the server) */
  readonly closedByClient: number
  /** CancelRequest packets received */
  readonly cancels: number
}

export interface FakeServer {
  readonly host: string
  readonly port: number
  readonly stats: () => FakeServerStats
  /** resolves when every connection is closed (either side) */
  readonly allClosed: () => Promise<void>
}

const SSL_REQUEST = 80877103
const CANCEL_REQUEST = 80877102
const GSSENC_REQUEST = 80877104

/**
 * Starts a fake server on 127.0.0.1:<free port>; every connection plays
 * `script` after its first post-startup request. Closed with the scope.
 */
export const fakeServer = (script: ReadonlyArray<Step>): Effect.Effect<FakeServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ fake: FakeServer; server: net.Server; sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      let connections = 0
      let started = 0
      let scripted = 0
      let closedByClient = 0
      let cancels = 0
      let waitersForClose: Array<() => void> = []
      const checkClosed = () => {
        if (sockets.size > 0) return
        const w = waitersForClose
        waitersForClose = []
        for (const f of w) f()
      }

      const server = net.createServer((sock) => {
        connections++
        sockets.add(sock)
        let serverClosed = false
        let phase: "startup" | "ready" | "scripted" = "startup"
        let buf = Buffer.alloc(0)
        const timers: Array<NodeJS.Timeout> = []
        let onRequest: (() => void) | undefined
        sock.on("error", () => sock.destroy())
        sock.on("close", () => {
          for (const t of timers) clearTimeout(t)
          if (!serverClosed) closedByClient++
          sockets.delete(sock)
          checkClosed()
        })
        const play = (steps: ReadonlyArray<Step>) => {
          let at = 0
          const next = (): void => {
            while (at < steps.length) {
              const step = steps[at++]!
              if (sock.destroyed) return
              switch (step._tag) {
                case "send":
                  sock.write(step.bytes)
                  break
                case "wait":
                  timers.push(setTimeout(next, step.ms))
                  return
                case "close":
                  serverClosed = true
                  sock.end()
                  return
                case "hold":
                  return
                case "awaitRequest":
                  onRequest = next
                  return
              }
            }
          }
          next()
        }
        sock.on("data", (d) => {
          if (phase === "scripted") {
            const resume = onRequest
            onRequest = undefined
            resume?.()
            return
          }
          buf = Buffer.concat([buf, d])
          while (phase === "startup" && buf.length >= 8) {
            const len = buf.readInt32BE(0)
            if (buf.length < len) return
            const code = buf.readInt32BE(4)
            buf = buf.subarray(len)
            if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
              sock.write("N")
              continue
            }
            if (code === CANCEL_REQUEST) {
              cancels++
              serverClosed = true
              sock.end()
              return
            }
            started++
            phase = "ready"
            sock.write(startupReply())
          }
          if (phase === "ready" && buf.length > 0) {
            phase = "scripted"
            scripted++
            play(script)
          }
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const fake: FakeServer = {
          host: "127.0.0.1",
          port: (server.address() as net.AddressInfo).port,
          stats: () => ({ connections, started, scripted, open: sockets.size, closedByClient, cancels }),
          allClosed: () =>
            new Promise<void>((resolve) => {
              waitersForClose.push(resolve)
              checkClosed()
            })
        }
        resume(Effect.succeed({ fake, server, sockets }))
      })
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const s of sockets) s.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ fake }) => fake))
