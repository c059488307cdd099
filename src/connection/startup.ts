/**
 * Getting a session: try each address in turn (target_session_attrs,
 * prefer-standby's two passes, a connect timeout per address), the startup message,
 * authentication (cleartext, MD5, SCRAM-SHA-256 with channel binding), and
 * the kind of server reached.
 *
 * Internal: not exported by the package.
 */
import * as tls from "node:tls"
import * as Redacted from "effect/Redacted"
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import * as Scram from "../protocol/scram.js"
import type * as PgRecord from "../Record.js"
import * as Options from "./options.js"
import type { ResolvedConnectOptions } from "./options.js"
import { errorFromFields, type Callback, type Request, type SessionError } from "./request.js"
import { allFailed, attemptsFor, describeAttempt, hostOrder, triesNext, type Attempt, type AttemptFailure } from "./hostList.js"
import * as ConnectProgress from "./connectProgress.js"
import { Session, type SessionOptions } from "./Session.js"
import { describeAddress, openSocket } from "./socket.js"
import { checkStartupParams } from "./sqltext.js"

const B = Reader.Backend

/** What target_session_attrs looks at. */
export interface SessionKind {
  readonly standby: boolean
  readonly readOnly: boolean
}

const matchesTarget = (want: string, kind: SessionKind): boolean => {
  switch (want) {
    case "read-write":
      return !kind.readOnly
    case "read-only":
      return kind.readOnly
    case "primary":
      return !kind.standby
    case "standby":
    case "prefer-standby":
      return kind.standby
    default:
      return true
  }
}

/** Whether the server is a standby and whether new transactions are read-only (target_session_attrs). */
export const sessionKind = (session: Session, cb: Callback<SessionKind>): void => {
  session.internalQuery(
    "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('transaction_read_only') = 'on'",
    [],
    (err, result) => {
      if (err !== undefined || result === undefined) return cb(err, undefined)
      const row = result.rows[0] as PgRecord.Record | undefined
      const standby = row?.get(0) === true
      cb(undefined, { standby, readOnly: standby || row?.get(1) === true })
    }
  )
}

/**
 * Opens a session on the first address that takes one, as libpq walks a host
 * list: hosts in order (shuffled with `load_balance_hosts=random`), each IP
 * of a host name in turn; every address gets its own `connectTimeoutMs`
 * (connect, TLS, startup and the target_session_attrs check); refused,
 * reset and timed-out connects, "not now" servers (57P03, 53300) and
 * target_session_attrs mismatches move on to the next address; an
 * authentication failure or a missing database ends the attempt. When every
 * address fails, the error names each one and why.
 */
export const connect = (
  options: ResolvedConnectOptions,
  settings: SessionOptions,
  cb: Callback<Session>,
  onProgress?: (progress: ConnectProgress.Progress) => void
): { abort(): void } => {
  let finished = false
  // the attempt in progress: its id (callbacks of older attempts are ignored), socket, session, deadline
  let attemptId = 0
  let opening: { readonly destroy: () => void } | undefined
  let session: Session | undefined
  let timer: NodeJS.Timeout | undefined
  const failures: Array<AttemptFailure> = []
  const want = options.targetSessionAttrs ?? "any"
  const timeoutMs = options.connectTimeoutMs !== undefined && options.connectTimeoutMs > 0 ? options.connectTimeoutMs : undefined
  const hosts = hostOrder(options.addresses, options.loadBalanceHosts ?? "disable")

  /** Ends the attempt in progress: its deadline, socket and session. */
  const dropAttempt = (err: SessionError) => {
    attemptId++
    if (timer) clearTimeout(timer)
    timer = undefined
    opening?.destroy()
    opening = undefined
    session?.destroy(err)
    session = undefined
  }
  const finish = (err: SessionError | undefined, s?: Session) => {
    if (finished) return
    finished = true
    if (timer) clearTimeout(timer)
    timer = undefined
    if (err) dropAttempt(err)
    cb(err, s)
  }

  // prefer-standby: a first pass takes only standbys, a second pass anything (same order)
  let pass: 1 | 2 = 1
  const tryHost = (h: number) => {
    if (finished) return
    const address = hosts[h]
    if (address === undefined) {
      if (want === "prefer-standby" && pass === 1) {
        pass = 2
        tryHost(0)
        return
      }
      finish(allFailed(failures, want))
      return
    }
    const id = ++attemptId
    attemptsFor(address, options.loadBalanceHosts ?? "disable", (lookupErr, attempts) => {
      if (finished || id !== attemptId) return
      if (lookupErr) {
        failures.push({ attempt: { address }, error: lookupErr })
        tryHost(h + 1)
        return
      }
      const lastHost = h === hosts.length - 1 && !(want === "prefer-standby" && pass === 1)
      tryAttempt(attempts, 0, () => tryHost(h + 1), lastHost)
    })
  }

  const tryAttempt = (attempts: ReadonlyArray<Attempt>, k: number, nextHost: () => void, lastHost: boolean) => {
    if (finished) return
    const attempt = attempts[k]
    if (attempt === undefined) {
      nextHost()
      return
    }
    if (onProgress !== undefined && lastHost && k === attempts.length - 1) onProgress("last")
    const { address } = attempt
    const id = ++attemptId
    /** This address failed: record why, clean up, go on with the next address (or stop when final). */
    const failed = (err: SessionError) => {
      if (finished || id !== attemptId) return
      dropAttempt(err)
      if (!triesNext(err)) {
        finish(err)
        return
      }
      failures.push({ attempt, error: err })
      tryAttempt(attempts, k + 1, nextHost, lastHost)
    }
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        failed(
          new Errors.PostgresConnectionError({
            message: `${describeAttempt(attempt)} did not complete the connection within ${timeoutMs} ms (connect timeout); check that the server is up and reachable, or raise connect_timeout`,
            host: address.host,
            port: address.port,
            reason: "timeout"
          })
        )
      }, timeoutMs)
    }
    opening = openSocket(options, address, (sockErr, socket) => {
      if (finished || id !== attemptId) {
        socket?.destroy()
        return
      }
      opening = undefined
      if (sockErr || !socket) {
        failed(sockErr ?? new Errors.PostgresConnectionError({ message: `no socket to ${describeAttempt(attempt)}`, reason: "other" }))
        return
      }
      // the session's address is the IP connected to: its CancelRequest must reach the same server
      // (a name with several addresses could resolve to another one); TLS already checked the name
      const s = new Session(socket, options, settings, attempt.ip === undefined ? address : { ...address, host: attempt.ip })
      session = s
      // the server's first answer (TLS: it already agreed to TLS) tells a pool that it is alive
      if (onProgress !== undefined) {
        if (socket instanceof tls.TLSSocket) onProgress("heard")
        else socket.once("data", () => onProgress("heard"))
      }
      startup(s, (err) => {
        if (finished || id !== attemptId) return
        if (err) {
          failed(err)
          return
        }
        if (want === "any" || (want === "prefer-standby" && pass === 2)) {
          finish(undefined, s)
          return
        }
        sessionKind(s, (kindErr, kind) => {
          if (finished || id !== attemptId) return
          if (kindErr !== undefined || kind === undefined) {
            failed(kindErr ?? new Errors.ProtocolError({ message: "the server did not say whether it is a standby" }))
            return
          }
          if (matchesTarget(want, kind)) {
            finish(undefined, s)
            return
          }
          // not the kind of server asked for: close it and try the next address
          session = undefined
          s.close(() => {})
          failed(
            new Errors.PostgresConnectionError({
              message: `${describeAttempt(attempt)} is ${kind.standby ? "a standby" : "a primary"}${kind.readOnly ? " (read-only)" : ""}, not what target_session_attrs=${want} asks for`,
              host: address.host,
              port: address.port,
              reason: "other"
            })
          )
        })
      })
    }, attempt.ip)
  }

  tryHost(0)
  return {
    abort: () => {
      finish(
        new Errors.PostgresConnectionError({ message: "connection attempt interrupted", reason: "other" })
      )
    }
  }
}

const startup = (self: Session, cb: (err: SessionError | undefined) => void): void => {
  const params: { [k: string]: string } = {
    user: self.options.user,
    database: self.options.database,
    client_encoding: "UTF8",
    DateStyle: "ISO",
    ...self.options.serverSettings
  }
  const refused = checkStartupParams(params)
  if (refused !== undefined) {
    // nothing is sent: the server would cut a NUL-containing value or drop an oversized packet
    cb(refused)
    return
  }
  let scram: { state: unknown; expected?: string } | undefined
  const secret = Options.passwordFor(self.options, self.target)
  const password = (): string | undefined => (secret === undefined ? undefined : Redacted.value(secret))
  const noPassword = () =>
    new Errors.PostgresConnectionError({
      message: `the server at ${describeAddress(self.target)} asks for a password for user "${self.options.user}" and none was given (password option, DSN, PGPASSWORD or ~/.pgpass)`,
      host: self.target.host,
      port: self.target.port,
      reason: "auth"
    })
  let error: SessionError | undefined
  const request: Request = {
    abandoned: false,
    onSettled: undefined,
    handle(type, buf, start, end) {
      switch (type) {
        case B.Authentication: {
          const auth = Reader.parseAuthentication(buf, start, end)
          try {
            authenticate(self, auth, password, noPassword, (s) => (scram = s), () => scram)
          } catch (e) {
            error = e as SessionError
            self.destroy(error)
          }
          return
        }
        case B.BackendKeyData: {
          const k = Reader.parseBackendKeyData(buf, start)
          self.processId = k.processId
          self.secretKey = k.secretKey
          return
        }
        case B.ErrorResponse:
          // during startup every error is fatal: fail now rather than wait for the server (or a proxy) to close
          error = errorFromFields(Reader.parseErrorFields(buf, start, end))
          self.destroy(error)
          return
        case B.NegotiateProtocolVersion:
          return
        default:
          error = new Errors.ProtocolError({ message: `unexpected message 0x${type.toString(16)} during startup` })
      }
    },
    done() {
      cb(error)
    },
    fail(e) {
      cb(error ?? e)
    }
  }
  self.enqueue(request)
  self.writer.startup(params)
  self.flushNow()
}

const authenticate = (
  self: Session,
  auth: Reader.AuthRequest,
  password: () => string | undefined,
  noPassword: () => SessionError,
  setScram: (s: { state: unknown; expected?: string }) => void,
  getScram: () => { state: unknown; expected?: string } | undefined
): void => {
  switch (auth.kind) {
    case "ok":
      self.authMethod ??= "none"
      if (self.options.channelBinding === "require" && self.authMethod !== "SCRAM-SHA-256-PLUS") {
        throw channelBindingRequired(self, `the server authenticated the session without it (method: ${self.authMethod})`)
      }
      return
    case "cleartext": {
      if (self.options.channelBinding === "require") throw channelBindingRequired(self, "the server asks for a cleartext password")
      const p = password()
      if (p === undefined) throw noPassword()
      self.authMethod = "password"
      self.writer.password(p)
      self.flushNow()
      return
    }
    case "md5": {
      if (self.options.channelBinding === "require") throw channelBindingRequired(self, "the server asks for an MD5 password")
      const p = password()
      if (p === undefined) throw noPassword()
      self.authMethod = "md5"
      self.writer.password(Scram.md5Password(self.options.user, p, auth.salt))
      self.flushNow()
      return
    }
    case "sasl": {
      const p = password()
      if (p === undefined) throw noPassword()
      if (!auth.mechanisms.includes("SCRAM-SHA-256")) {
        throw new Errors.PostgresConnectionError({
          message: `the server offers SASL mechanisms ${auth.mechanisms.join(", ")}; effect-pg supports SCRAM-SHA-256`,
          host: self.target.host,
          port: self.target.port,
          reason: "auth"
        })
      }
      // channel binding as libpq: PLUS when TLS is on and the server offers it (unless
      // channelBinding=disable); "y,," when we could bind but the server did not offer it
      const binding = self.options.channelBinding
      const secure = self.socket instanceof tls.TLSSocket && self.socket.encrypted
      let mechanism: Scram.ScramMechanism = "SCRAM-SHA-256"
      let cbData: Scram.ChannelBindingData | undefined
      if (secure && binding !== "disable" && auth.mechanisms.includes("SCRAM-SHA-256-PLUS")) {
        try {
          const raw = (self.socket as tls.TLSSocket).getPeerCertificate().raw
          if (!raw) throw new Scram.ScramError("the server sent no certificate")
          cbData = { type: "tls-server-end-point", data: Scram.tlsServerEndPointHash(raw) }
        } catch (e) {
          throw scramFailure(self, e)
        }
        mechanism = "SCRAM-SHA-256-PLUS"
      } else if (binding === "require") {
        throw channelBindingRequired(self, 
          secure ? "the server does not offer SCRAM-SHA-256-PLUS" : "the connection does not use TLS"
        )
      } else if (secure && binding !== "disable") {
        // tells the server we support binding but it did not offer it (downgrade detection)
        cbData = { type: "tls-server-end-point", data: Buffer.alloc(0) }
      }
      const start = Scram.scramStart(mechanism, undefined, cbData)
      setScram({ state: start.state })
      self.authMethod = mechanism
      self.writer.saslInitialResponse(mechanism, start.clientFirstMessage)
      self.flushNow()
      return
    }
    case "sasl-continue": {
      const s = getScram()
      const p = password()
      if (!s || p === undefined) throw new Errors.ProtocolError({ message: "SASL continue without a SASL exchange" })
      try {
        const next = Scram.scramContinue(s.state as Parameters<typeof Scram.scramContinue>[0], auth.data, p)
        s.expected = next.expectedServerSignature
        self.writer.saslResponse(next.clientFinalMessage)
        self.flushNow()
      } catch (e) {
        throw scramFailure(self, e)
      }
      return
    }
    case "sasl-final": {
      const s = getScram()
      if (!s?.expected) throw new Errors.ProtocolError({ message: "SASL final without a SASL exchange" })
      try {
        Scram.scramFinish(s.expected, auth.data)
      } catch (e) {
        throw scramFailure(self, e)
      }
      return
    }
    case "unsupported":
      throw new Errors.PostgresConnectionError({
        message: `the server asks for authentication method ${auth.code}, which effect-pg does not support (supported: trust, password, md5, SCRAM-SHA-256)`,
        host: self.target.host,
        port: self.target.port,
        reason: "auth"
      })
  }
}

const channelBindingRequired = (self: Session, why: string): SessionError => {
  return new Errors.PostgresConnectionError({
    message: `channelBinding is "require" but ${why}; channel binding needs SCRAM-SHA-256-PLUS over TLS (use sslmode=require or stronger, a SCRAM password, or channelBinding=prefer)`,
    host: self.target.host,
    port: self.target.port,
    reason: "auth"
  })
}

const scramFailure = (self: Session, e: unknown): SessionError => {
  return new Errors.PostgresConnectionError({
    message: `SCRAM authentication with ${describeAddress(self.target)} failed: ${e instanceof Error ? e.message : String(e)}`,
    host: self.target.host,
    port: self.target.port,
    reason: "auth"
  })
}
