/**
 * Sockets: open one to an address (TCP with libpq's keepalives, or a Unix
 * socket), negotiate TLS per sslmode, describe an address for messages, and
 * turn a socket error into a `PostgresConnectionError` with its reason.
 *
 * Internal: not exported by the package.
 */
import * as net from "node:net"
import * as tls from "node:tls"
import * as Errors from "../Errors.js"
import { Writer } from "../protocol/Writer.js"
import * as Options from "./options.js"
import type { ResolvedConnectOptions } from "./options.js"

/** "host:port" or the socket path, for messages. */
export const describeAddress = (a: ResolvedConnectOptions["addresses"][number]): string =>
  a.kind === "unix" ? (a.path ?? `${a.host}/.s.PGSQL.${a.port}`) : a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`

export const connectionError = (
  a: ResolvedConnectOptions["addresses"][number],
  err: Error & { code?: string },
  what: string
): Errors.PostgresConnectionError => {
  const code = err.code ?? ""
  const reason =
    code === "ECONNREFUSED" || code === "ENOENT"
      ? "refused"
      : code === "ECONNRESET" || code === "EPIPE"
        ? "reset"
        : code === "ENOTFOUND" || code === "EAI_AGAIN"
          ? "dns"
          : code === "ETIMEDOUT"
            ? "timeout"
            : code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || /certificate|self.signed|SSL|TLS/i.test(err.message)
              ? "tls"
              : "other"
  const hint =
    reason === "refused"
      ? "is the server running and accepting connections there?"
      : reason === "dns"
        ? "check the host name"
        : reason === "tls"
          ? "check sslmode and the certificates (sslrootcert, sslcert, sslkey)"
          : "the server or the network dropped the connection"
  return new Errors.PostgresConnectionError({
    message: `${what}: ${describeAddress(a)}: ${err.message}; ${hint}`,
    host: a.host,
    port: a.port,
    reason,
    cause: { code, message: err.message }
  })
}

/**
 * Opens a TCP or Unix socket to the address; `ip`, when given, is the
 * address connected to instead of resolving `a.host` (a host name's IPs are
 * tried one by one, each with its own deadline, by the caller). Returns the
 * socket while it connects (destroying it ends the attempt without a callback).
 */
export const openPlainSocket = (
  a: ResolvedConnectOptions["addresses"][number],
  cb: (err: Errors.PostgresConnectionError | undefined, socket: net.Socket | undefined) => void,
  ip?: string
): net.Socket => {
  const socket =
    a.kind === "unix" ? net.connect({ path: a.path ?? `${a.host}/.s.PGSQL.${a.port}` }) : net.connect({ host: ip ?? a.host, port: a.port })
  const onError = (err: Error) => {
    socket.destroy()
    cb(connectionError(a, err, "could not connect to the server"), undefined)
  }
  socket.once("error", onError)
  socket.once("connect", () => {
    socket.off("error", onError)
    // libpq's keepalives (on by default) and keepalives_idle (0 = the OS default)
    if (a.kind === "tcp") socket.setKeepAlive(a.keepalives ?? true, a.keepalivesIdleMs ?? 0)
    cb(undefined, socket)
  })
  return socket
}

/**
 * Opens the socket (to `ip` when given, see {@link openPlainSocket}) and,
 * per sslmode, upgrades it to TLS; the certificate is checked against the
 * host name. Returns a handle that destroys whatever socket is open so far,
 * after which `cb` is not called (an attempt's deadline, an interruption).
 */
export const openSocket = (
  options: ResolvedConnectOptions,
  a: ResolvedConnectOptions["addresses"][number],
  done: (err: Errors.PostgresConnectionError | undefined, socket: net.Socket | undefined) => void,
  ip?: string
): { readonly destroy: () => void } => {
  let cancelled = false
  let current: net.Socket | undefined
  const cb = (err: Errors.PostgresConnectionError | undefined, socket: net.Socket | undefined) => {
    if (cancelled) socket?.destroy()
    else done(err, socket)
  }
  current = openPlainSocket(a, (err, socket) => {
    if (err || !socket) {
      cb(err, undefined)
      return
    }
    const mode = options.sslmode
    if (a.kind === "unix" || mode === "disable" || mode === "allow") {
      cb(undefined, socket)
      return
    }
    socket.write(new Writer().sslRequest().take())
    const onError = (e: Error) => {
      socket.destroy()
      cb(connectionError(a, e, "could not negotiate TLS"), undefined)
    }
    socket.once("error", onError)
    socket.once("data", (chunk: Buffer) => {
      socket.off("error", onError)
      const answer = chunk[0]
      if (answer === 0x4e /* N */) {
        if (mode === "prefer") {
          cb(undefined, socket)
        } else {
          socket.destroy()
          cb(
            new Errors.PostgresConnectionError({
              message: `the server at ${describeAddress(a)} does not support TLS, and sslmode is ${mode}; use sslmode=prefer or disable, or enable ssl on the server`,
              host: a.host,
              port: a.port,
              reason: "tls"
            }),
            undefined
          )
        }
        return
      }
      if (answer !== 0x53 /* S */ || chunk.length > 1) {
        socket.destroy()
        cb(
          new Errors.PostgresConnectionError({
            message: `the server at ${describeAddress(a)} answered the TLS request with something unexpected; is it a PostgreSQL server?`,
            host: a.host,
            port: a.port,
            reason: "protocol"
          }),
          undefined
        )
        return
      }
      const tlsOptions: tls.ConnectionOptions = { ...Options.tlsOptionsFor(options, a), socket }
      const secure = tls.connect(tlsOptions)
      current = secure
      const onTlsError = (e: Error) => {
        secure.destroy()
        cb(connectionError(a, e, "TLS handshake failed"), undefined)
      }
      secure.once("error", onTlsError)
      secure.once("secureConnect", () => {
        secure.off("error", onTlsError)
        cb(undefined, secure)
      })
    })
  }, ip)
  return {
    destroy: () => {
      cancelled = true
      current?.destroy()
    }
  }
}
