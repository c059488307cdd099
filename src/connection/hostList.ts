/**
 * The host list of one connection attempt, as libpq walks it: the order
 * (`load_balance_hosts=random` shuffles hosts, and the addresses of one host
 * name, per attempt), the IP addresses of a host name, which failures move
 * on to the next address, and the error when every address failed (it names
 * each one and why).
 *
 * Internal: not exported by the package.
 */
import * as dns from "node:dns"
import * as net from "node:net"
import * as Errors from "../Errors.js"
import type { Address, LoadBalanceHosts } from "./optionTypes.js"
import type { SessionError } from "./request.js"
import { describeAddress } from "./socket.js"

/** One address tried: a host of the list and, for a TCP host name, one of its IP addresses. */
export interface Attempt {
  readonly address: Address
  /** The IP connected to when `address.host` is a name; absent for IP literals and Unix sockets. */
  readonly ip?: string
}

/** A failed attempt and why. */
export interface AttemptFailure {
  readonly attempt: Attempt
  readonly error: SessionError
}

/** A Fisher-Yates shuffled copy (Math.random: spreading load needs no secrecy). */
export const shuffled = <A>(items: ReadonlyArray<A>): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const t = out[i]!
    out[i] = out[j]!
    out[j] = t
  }
  return out
}

/** The hosts in the order this connection attempt tries them. */
export const hostOrder = (addresses: ReadonlyArray<Address>, mode: LoadBalanceHosts): Array<Address> =>
  mode === "random" ? shuffled(addresses) : [...addresses]

/**
 * The attempts for one host: a Unix socket or an IP literal is one attempt;
 * a host name is looked up and each of its addresses is one attempt (in
 * resolver order, or shuffled with `load_balance_hosts=random`). A failed
 * lookup is reported as a `dns` connection error.
 */
export const attemptsFor = (
  address: Address,
  mode: LoadBalanceHosts,
  cb: (err: Errors.PostgresConnectionError | undefined, attempts: ReadonlyArray<Attempt>) => void
): void => {
  if (address.kind === "unix" || net.isIP(address.host) !== 0) {
    cb(undefined, [{ address }])
    return
  }
  dns.lookup(address.host, { all: true, order: "verbatim" }, (err, found) => {
    if (err || found.length === 0) {
      cb(
        new Errors.PostgresConnectionError({
          message: `could not resolve the host name "${address.host}": ${err?.message ?? "no addresses"}; check the host name`,
          host: address.host,
          port: address.port,
          reason: "dns",
          ...(err ? { cause: { code: (err as { code?: string }).code, message: err.message } } : {})
        }),
        []
      )
      return
    }
    const ips = found.map((a) => a.address)
    cb(undefined, (mode === "random" ? shuffled(ips) : ips).map((ip) => ({ address, ip })))
  })
}

/** `host:port`, with the IP when the host is a name: `db.example:5432 (10.0.0.7)`. */
export const describeAttempt = (a: Attempt): string =>
  a.ip === undefined ? describeAddress(a.address) : `${describeAddress(a.address)} (${a.ip})`

/** SQLSTATEs of a server that is there but cannot take this session now: try the next host. */
const notNowCodes: ReadonlySet<string> = new Set([
  "57P03", // cannot_connect_now: starting up, shutting down, in recovery without hot standby
  "53300" // too_many_connections
])

/**
 * Whether a failure during connect, startup or the target check moves on to
 * the next address (as libpq): socket-level failures, timeouts and "not
 * now" server states do; an authentication failure or an unknown database
 * is final (the same configuration would fail on the other hosts).
 */
export const triesNext = (err: SessionError): boolean => {
  if (err._tag === "PostgresConnectionError") return err.reason !== "auth"
  const code = (err as { readonly sqlstate?: unknown }).sqlstate
  return typeof code === "string" && notNowCodes.has(code)
}

/** The `why` of one failure in the combined message (its address is said once, before it). */
const why = ({ attempt, error }: AttemptFailure): string => {
  const code = (error as { readonly sqlstate?: unknown }).sqlstate
  if (typeof code === "string") return `${error.message} (SQLSTATE ${code})`
  const where = describeAttempt(attempt)
  const plain = describeAddress(attempt.address)
  let m = error.message
  for (const w of [where, plain]) {
    if (m.startsWith(`${w} `)) m = m.slice(w.length + 1)
    m = m.replace(`${w}: `, "")
  }
  return m
}

/**
 * The error when no address gave a session. With one failure it is that
 * failure, unchanged (a typed server error stays one). With several, a
 * `PostgresConnectionError` that lists each address and why it failed; its
 * reason is the common reason when all agree (`timeout`, `refused`, ...),
 * else `other`; `cause.attempts` holds each address, reason and SQLSTATE.
 */
export const allFailed = (
  failures: ReadonlyArray<AttemptFailure>,
  targetSessionAttrs: string
): SessionError => {
  if (failures.length === 0) return new Errors.PostgresConnectionError({ message: "no host to connect to", reason: "other" })
  if (failures.length === 1) return failures[0]!.error
  const reasons = failures.map(({ error }) => (error._tag === "PostgresConnectionError" ? error.reason : "other"))
  const reason = reasons.every((r) => r === reasons[0]) ? reasons[0]! : "other"
  const first = failures[0]!.attempt.address
  const target = targetSessionAttrs === "any" ? "" : ` with target_session_attrs=${targetSessionAttrs}`
  return new Errors.PostgresConnectionError({
    message: `could not connect to any of ${failures.length} server addresses${target}: ` +
      failures.map((f) => `${describeAttempt(f.attempt)}: ${why(f)}`).join("; "),
    host: first.host,
    port: first.port,
    reason,
    cause: {
      attempts: failures.map(({ attempt, error }) => ({
        host: attempt.address.host,
        port: attempt.address.port,
        ...(attempt.ip === undefined ? {} : { ip: attempt.ip }),
        tag: error._tag,
        ...(error._tag === "PostgresConnectionError" ? { reason: error.reason } : {}),
        ...(typeof (error as { sqlstate?: unknown }).sqlstate === "string" ? { sqlstate: (error as { sqlstate: string }).sqlstate } : {})
      }))
    }
  })
}
