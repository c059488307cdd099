/**
 * TLS against throwaway clusters: one with `ssl = on` and a certificate
 * from a throwaway CA (SAN IP:127.0.0.1, DNS:localhost), one without SSL.
 * sslmode semantics (prefer / require / verify-ca / verify-full), server
 * identity and chain checks, SCRAM over TLS and SCRAM-SHA-256-PLUS channel
 * binding, which must catch a man in the middle holding a valid certificate.
 */
import { expect, layer } from "@effect/vitest"
import * as net from "node:net"
import * as tls from "node:tls"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Connection from "../src/Connection.js"
import * as Errors from "../src/Errors.js"
import { type Cluster, throwawayCluster } from "./support/cluster.js"
import { type CertFiles, type TestCerts, makeCerts, sslServerFiles } from "./support/certs.js"
import { sessionOf } from "../src/connection/Core.js"

delete process.env["PGPASSWORD"]
delete process.env["PGSSLMODE"]
delete process.env["PGSSLROOTCERT"]
delete process.env["PGCHANNELBINDING"]

const SCRAM_PASSWORD = "tls-Scr@m-pw"

interface Env {
  readonly certs: TestCerts
  /** ssl = on; listens on 127.0.0.1 and 127.0.0.2 (not in the certificate) */
  readonly tlsCluster: Cluster
  /** no SSL at all */
  readonly plainCluster: Cluster
}

class TestEnv extends Context.Service<TestEnv, Env>()("test/tls/TestEnv") {}

const roles = `
  CREATE ROLE u_tls LOGIN;
  CREATE ROLE u_any LOGIN;
  CREATE ROLE u_scram LOGIN PASSWORD '${SCRAM_PASSWORD}';`

const EnvLive = Layer.effect(
  TestEnv,
  Effect.gen(function*() {
    const certs = yield* makeCerts()
    const server = sslServerFiles(certs)
    const tlsCluster = yield* throwawayCluster({
      files: server.files,
      conf: { ...server.conf, listen_addresses: "'127.0.0.1,127.0.0.2'" },
      hba: [
        // u_tls and u_scram have no line without TLS: a plain session is refused by the server
        "hostssl all u_tls 127.0.0.0/8 trust",
        "hostssl all u_scram 127.0.0.0/8 scram-sha-256",
        "host all u_any 127.0.0.0/8 trust"
      ],
      setup: [roles]
    })
    const plainCluster = yield* throwawayCluster({
      hba: ["host all u_any 127.0.0.1/32 trust", "host all u_scram 127.0.0.1/32 scram-sha-256"],
      setup: [roles]
    })
    return { certs, tlsCluster, plainCluster }
  })
)

const connect = (c: Cluster, user: string, extra: Connection.ConnectOptions = {}) =>
  Connection.connect({
    host: c.host,
    port: c.port,
    user,
    database: "postgres",
    passfile: "/nonexistent/effect-pg-pgpass",
    connectTimeout: 10_000,
    ...extra
  })

/** The error `self` fails with; a success fails the test. */
const failureOf = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  self.pipe(
    Effect.flatMap(() => Effect.die(new Error("expected the connection attempt to fail, it succeeded"))),
    Effect.flip,
    Effect.orDie
  ) as Effect.Effect<E, never, R>

/** What the server says about this session's encryption. */
const sslInfo = (conn: Connection.Connection) =>
  Effect.map(
    conn.fetchrow("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
    (row) => ({ ssl: row?.get("ssl"), version: row?.get("version") })
  )

const expectEncrypted = (conn: Connection.Connection) =>
  Effect.gen(function*() {
    const info = yield* sslInfo(conn)
    expect(info.ssl).toBe(true)
    expect(String(info.version)).toMatch(/^TLSv1\.[23]$/)
  })

const expectPlain = (conn: Connection.Connection) =>
  Effect.gen(function*() {
    expect((yield* sslInfo(conn)).ssl).toBe(false)
  })

const expectTlsError = (err: unknown, pattern: RegExp) => {
  expect(err).toBeInstanceOf(Errors.PostgresConnectionError)
  const e = err as Errors.PostgresConnectionError
  expect(e.reason).toBe("tls")
  expect(e.message).toMatch(pattern)
}

const expectAuthError = (err: unknown, pattern: RegExp) => {
  expect(err).toBeInstanceOf(Errors.PostgresConnectionError)
  const e = err as Errors.PostgresConnectionError
  expect(e.reason).toBe("auth")
  expect(e.message).toMatch(pattern)
}

/** AuthenticationSASL offering only SCRAM-SHA-256. */
const saslWithoutPlus = (): Buffer => {
  const mechanisms = Buffer.from("SCRAM-SHA-256\0\0", "latin1")
  const head = Buffer.alloc(9)
  head[0] = 0x52 // 'R'
  head.writeInt32BE(4 + 4 + mechanisms.length, 1)
  head.writeInt32BE(10, 5)
  return Buffer.concat([head, mechanisms])
}

/**
 * A man in the middle: accepts the client's SSLRequest, terminates TLS with
 * `cert`, and relays the bytes to the real server over a TLS session of its
 * own. With a certificate the client trusts, only channel binding notices.
 * Like a sloppy proxy it does not pass the server's hang-up on to the client:
 * a startup error must fail the attempt at once all the same.
 * `stripPlus` also rewrites the server's AuthenticationSASL so that it no
 * longer offers SCRAM-SHA-256-PLUS (a downgrade attempt).
 */
const mitmProxy = (upstreamPort: number, cert: CertFiles, stripPlus = false) =>
  Effect.acquireRelease(
    Effect.callback<{ server: net.Server; port: number; sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      const track = (s: net.Socket) => {
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
        s.on("error", () => {
          for (const other of sockets) other.destroy()
        })
      }
      const server = net.createServer((client) => {
        track(client)
        client.once("data", (request) => {
          // SSLRequest: length 8, code 80877103
          if (request.length !== 8 || request.readInt32BE(4) !== 80877103) {
            client.destroy()
            return
          }
          client.write("S")
          const tlsClient = new tls.TLSSocket(client, { isServer: true, cert: cert.cert, key: cert.key })
          track(tlsClient)
          const up = net.connect(upstreamPort, "127.0.0.1", () => {
            up.write(request)
            up.once("data", (answer) => {
              if (answer[0] !== 0x53) {
                client.destroy()
                up.destroy()
                return
              }
              const tlsUp = tls.connect({ socket: up, rejectUnauthorized: false })
              track(tlsUp)
              tlsUp.once("secureConnect", () => {
                tlsClient.pipe(tlsUp)
                let first = stripPlus
                tlsUp.on("data", (chunk: Buffer) => {
                  if (first && chunk[0] === 0x52 && chunk.readInt32BE(5) === 10) {
                    // the first server message is AuthenticationSASL: replace it
                    first = false
                    const len = chunk.readInt32BE(1)
                    tlsClient.write(Buffer.concat([saslWithoutPlus(), chunk.subarray(1 + len)]))
                    return
                  }
                  tlsClient.write(chunk)
                })
              })
            })
          })
          track(up)
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, port: (server.address() as net.AddressInfo).port, sockets })))
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const s of sockets) s.destroy()
        server.close(() => resume(Effect.void))
      })
  )

layer(EnvLive, { excludeTestServices: true, timeout: "60 seconds" })("TLS", (it) => {
  it.effect("sslmode=require connects and the session is encrypted; the server refuses u_tls without TLS", () =>
    Effect.gen(function*() {
      const { tlsCluster } = yield* TestEnv
      const conn = yield* connect(tlsCluster, "u_tls", { sslmode: "require" })
      expect(yield* conn.fetchval("SELECT current_user")).toBe("u_tls")
      yield* expectEncrypted(conn)
      expect(sessionOf(conn).authMethod).toBe("none")
      // the same role without TLS has no pg_hba line: a server error, not a silent plain session
      const err = yield* failureOf(connect(tlsCluster, "u_tls", { sslmode: "disable" }))
      expect(err).toBeInstanceOf(Errors.InvalidAuthorizationSpecificationError)
      expect((err as Errors.InvalidAuthorizationSpecificationError).message).toMatch(/no pg_hba\.conf entry.*no encryption/)
    }))

  it.effect("sslmode=prefer uses TLS when the server has it; disable does not", () =>
    Effect.gen(function*() {
      const { tlsCluster } = yield* TestEnv
      yield* expectEncrypted(yield* connect(tlsCluster, "u_any", { sslmode: "prefer" }))
      // prefer is the default for TCP
      yield* expectEncrypted(yield* connect(tlsCluster, "u_any"))
      yield* expectPlain(yield* connect(tlsCluster, "u_any", { sslmode: "disable" }))
    }))

  it.effect("verify-full with sslrootcert = the CA connects to 127.0.0.1 and to localhost", () =>
    Effect.gen(function*() {
      const { certs, tlsCluster } = yield* TestEnv
      const byIp = yield* connect(tlsCluster, "u_tls", { sslmode: "verify-full", sslrootcert: certs.ca.certPath })
      yield* expectEncrypted(byIp)
      const byName = yield* connect(tlsCluster, "u_tls", {
        host: "localhost",
        sslmode: "verify-full",
        sslrootcert: certs.ca.certPath
      })
      yield* expectEncrypted(byName)
      // the same through a DSN
      const viaDsn = yield* Connection.connect(
        `postgres://u_tls@localhost:${tlsCluster.port}/postgres?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca.certPath)}&connect_timeout=10`
      )
      yield* expectEncrypted(viaDsn)
      // verify-ca too
      yield* expectEncrypted(yield* connect(tlsCluster, "u_tls", { sslmode: "verify-ca", sslrootcert: certs.ca.certPath }))
    }))

  it.effect("verify-full fails with reason tls for a name not in the certificate; verify-ca accepts it", () =>
    Effect.gen(function*() {
      const { certs, tlsCluster } = yield* TestEnv
      // the server also listens on 127.0.0.2, which its certificate does not name
      const err = yield* failureOf(
        connect(tlsCluster, "u_tls", { host: "127.0.0.2", sslmode: "verify-full", sslrootcert: certs.ca.certPath })
      )
      expectTlsError(err, /127\.0\.0\.2/)
      expectTlsError(err, /altname|does not match|certificate/i)
      // the chain is fine: verify-ca (no name check) connects
      const conn = yield* connect(tlsCluster, "u_tls", { host: "127.0.0.2", sslmode: "verify-ca", sslrootcert: certs.ca.certPath })
      yield* expectEncrypted(conn)
    }))

  it.effect("a certificate from another CA fails with reason tls (verify-full, verify-ca, require + sslrootcert, system roots)", () =>
    Effect.gen(function*() {
      const { certs, tlsCluster } = yield* TestEnv
      for (const sslmode of ["verify-full", "verify-ca", "require"] as const) {
        const err = yield* failureOf(connect(tlsCluster, "u_tls", { sslmode, sslrootcert: certs.otherCa.certPath }))
        expectTlsError(err, /certificate|self.signed/i)
        expectTlsError(err, /sslrootcert|sslmode/)
      }
      // our throwaway CA is not among the system's trusted roots
      const sys = yield* failureOf(connect(tlsCluster, "u_tls", { sslmode: "verify-full", sslrootcert: "system" }))
      expectTlsError(sys, /certificate|self.signed/i)
      // require without a root certificate does not verify: it connects
      yield* expectEncrypted(yield* connect(tlsCluster, "u_tls", { sslmode: "require" }))
    }))

  it.effect("against a server without SSL: prefer falls back to plain, require and verify-full fail with reason tls", () =>
    Effect.gen(function*() {
      const { certs, plainCluster } = yield* TestEnv
      const conn = yield* connect(plainCluster, "u_any", { sslmode: "prefer" })
      expect(yield* conn.fetchval("SELECT current_user")).toBe("u_any")
      yield* expectPlain(conn)
      yield* expectPlain(yield* connect(plainCluster, "u_any"))
      expectTlsError(yield* failureOf(connect(plainCluster, "u_any", { sslmode: "require" })), /does not support TLS/)
      expectTlsError(
        yield* failureOf(connect(plainCluster, "u_any", { sslmode: "verify-full", sslrootcert: certs.ca.certPath })),
        /does not support TLS/
      )
    }))

  it.effect("SCRAM over TLS: right password connects with SCRAM-SHA-256-PLUS by default, wrong one fails", () =>
    Effect.gen(function*() {
      const { certs, tlsCluster } = yield* TestEnv
      const conn = yield* connect(tlsCluster, "u_scram", {
        sslmode: "verify-full",
        sslrootcert: certs.ca.certPath,
        password: SCRAM_PASSWORD
      })
      expect(yield* conn.fetchval("SELECT current_user")).toBe("u_scram")
      yield* expectEncrypted(conn)
      // the server offered SCRAM-SHA-256-PLUS over TLS and channelBinding defaults to prefer
      expect(sessionOf(conn).authMethod).toBe("SCRAM-SHA-256-PLUS")
      const err = yield* failureOf(connect(tlsCluster, "u_scram", { sslmode: "require", password: "wrong-pw" }))
      expect(err).toBeInstanceOf(Errors.InvalidPasswordError)
      expect((err as Errors.InvalidPasswordError).sqlstate).toBe("28P01")
    }))

  it.effect("channelBinding: disable uses plain SCRAM-SHA-256, require uses PLUS", () =>
    Effect.gen(function*() {
      const { tlsCluster } = yield* TestEnv
      const plain = yield* connect(tlsCluster, "u_scram", { sslmode: "require", password: SCRAM_PASSWORD, channelBinding: "disable" })
      expect(sessionOf(plain).authMethod).toBe("SCRAM-SHA-256")
      yield* expectEncrypted(plain)
      const bound = yield* connect(tlsCluster, "u_scram", { sslmode: "require", password: SCRAM_PASSWORD, channelBinding: "require" })
      expect(sessionOf(bound).authMethod).toBe("SCRAM-SHA-256-PLUS")
      expect(yield* bound.fetchval("SELECT current_user")).toBe("u_scram")
      // in a DSN
      const viaDsn = yield* Connection.connect(
        `postgres://u_scram:${encodeURIComponent(SCRAM_PASSWORD)}@127.0.0.1:${tlsCluster.port}/postgres?sslmode=require&channel_binding=require`
      )
      expect(sessionOf(viaDsn).authMethod).toBe("SCRAM-SHA-256-PLUS")
    }))

  it.effect("channelBinding=require fails with reason auth without TLS or without SCRAM", () =>
    Effect.gen(function*() {
      const { plainCluster, tlsCluster } = yield* TestEnv
      // SCRAM, but no TLS: nothing to bind to
      expectAuthError(
        yield* failureOf(connect(plainCluster, "u_scram", { password: SCRAM_PASSWORD, channelBinding: "require" })),
        /channelBinding.*does not use TLS/
      )
      // without channel binding the same connects
      const conn = yield* connect(plainCluster, "u_scram", { password: SCRAM_PASSWORD })
      expect(sessionOf(conn).authMethod).toBe("SCRAM-SHA-256")
      // TLS, but trust: the server never proved it knows the password
      expectAuthError(
        yield* failureOf(connect(tlsCluster, "u_tls", { sslmode: "require", channelBinding: "require" })),
        /channelBinding.*without it/
      )
      expectAuthError(
        yield* failureOf(connect(plainCluster, "u_any", { channelBinding: "require" })),
        /channelBinding/
      )
    }))

  it.effect("channel binding catches a man in the middle holding a valid certificate", () =>
    Effect.gen(function*() {
      const { certs, tlsCluster } = yield* TestEnv
      const proxy = yield* mitmProxy(tlsCluster.port, certs.impostor)
      const viaProxy = (extra: Connection.ConnectOptions) =>
        connect(tlsCluster, "u_scram", {
          port: proxy.port,
          sslmode: "verify-full",
          sslrootcert: certs.ca.certPath,
          password: SCRAM_PASSWORD,
          ...extra
        })
      // without binding the relay goes unnoticed: the impostor certificate passes verify-full
      const fooled = yield* viaProxy({ channelBinding: "disable" })
      expect(yield* fooled.fetchval("SELECT current_user")).toBe("u_scram")
      // with SCRAM-SHA-256-PLUS the server sees that the client's TLS peer is not itself
      for (const channelBinding of ["prefer", "require"] as const) {
        const started = Date.now()
        const err = yield* failureOf(viaProxy({ channelBinding }))
        // the proxy keeps our socket open: the ErrorResponse alone ends the attempt (connectTimeout is 10 s)
        expect(Date.now() - started).toBeLessThan(3000)
        expect(err).toBeInstanceOf(Errors.InvalidAuthorizationSpecificationError)
        expect((err as Errors.InvalidAuthorizationSpecificationError).sqlstate).toBe("28000")
        expect((err as Errors.InvalidAuthorizationSpecificationError).message).toBe("SCRAM channel binding check failed")
      }
      // direct, the same options connect
      const direct = yield* connect(tlsCluster, "u_scram", {
        sslmode: "verify-full",
        sslrootcert: certs.ca.certPath,
        password: SCRAM_PASSWORD,
        channelBinding: "require"
      })
      expect(sessionOf(direct).authMethod).toBe("SCRAM-SHA-256-PLUS")
    }))

  it.effect("a downgrade (PLUS removed from the offer) is refused: the client says it could bind (y,,)", () =>
    Effect.gen(function*() {
      const { certs, tlsCluster } = yield* TestEnv
      const proxy = yield* mitmProxy(tlsCluster.port, certs.impostor, true)
      const viaProxy = (extra: Connection.ConnectOptions) =>
        connect(tlsCluster, "u_scram", {
          port: proxy.port,
          sslmode: "verify-full",
          sslrootcert: certs.ca.certPath,
          password: SCRAM_PASSWORD,
          ...extra
        })
      // prefer: plain SCRAM with gs2 header "y,,"; the server supports binding, so it suspects a downgrade
      const err = yield* failureOf(viaProxy({ channelBinding: "prefer" }))
      expect(err).toBeInstanceOf(Errors.InvalidAuthorizationSpecificationError)
      expect((err as Errors.InvalidAuthorizationSpecificationError).message).toMatch(/channel binding negotiation error/)
      // require: the client refuses before sending anything
      expectAuthError(yield* failureOf(viaProxy({ channelBinding: "require" })), /does not offer SCRAM-SHA-256-PLUS/)
      // disable: "n,," and the relay goes unnoticed
      const fooled = yield* viaProxy({ channelBinding: "disable" })
      expect(sessionOf(fooled).authMethod).toBe("SCRAM-SHA-256")
      expect(yield* fooled.fetchval("SELECT current_user")).toBe("u_scram")
    }))
})
