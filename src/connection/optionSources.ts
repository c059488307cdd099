/**
 * The sources of connection settings, each read into one partial record
 * ({@link Source}): libpq keywords (from a DSN or `PG*` environment
 * variables) and the explicit `connect()` options; {@link pick} takes the
 * first source that gives a field.
 *
 * Internal: not exported by the package.
 */
import type * as tls from "node:tls"
import * as Redacted from "effect/Redacted"
import { type HostSpec, parseHostEntry } from "./dsn.js"
import {
  channelBindings,
  DsnError,
  loadBalanceHostsValues,
  sslModes,
  targetSessionAttrsValues,
  type ChannelBinding,
  type ConnectInput,
  type Env,
  type LoadBalanceHosts,
  type SslMode,
  type TargetSessionAttrs,
  type TlsVersion
} from "./optionTypes.js"

/** Settings contributed by one source; `undefined` = not given there. */
export interface Source {
  readonly origin: string
  hosts?: Array<HostSpec>
  ports?: Array<number | undefined>
  user?: string
  password?: Redacted.Redacted<string>
  database?: string
  passfile?: string
  /** the connection service to read from the service file (`service`, `PGSERVICE`) */
  service?: string
  /** the service file (`servicefile`, `PGSERVICEFILE`) */
  servicefile?: string
  sslmode?: SslMode
  /** `ssl: true` / `ssl: {...}`: verify against system CAs, no default cert files. */
  sslSystemTrust?: boolean
  tlsOptions?: tls.ConnectionOptions
  sslrootcert?: string
  sslcert?: string
  sslkey?: string
  sslpassword?: Redacted.Redacted<string>
  sslcrl?: string
  sslMin?: TlsVersion
  sslMax?: TlsVersion
  sni?: boolean
  connectTimeoutMs?: number | null
  keepalives?: boolean
  keepalivesIdleMs?: number
  targetSessionAttrs?: TargetSessionAttrs
  loadBalanceHosts?: LoadBalanceHosts
  channelBinding?: ChannelBinding
  fallbackApplicationName?: string
  serverSettings: Record<string, string>
}

/** `value` when it is one of `values`, else a DsnError naming it, its key and its source. */
const oneOf = <A extends string>(values: ReadonlyArray<A>, value: string, what: string, origin: string): A => {
  if ((values as ReadonlyArray<string>).includes(value)) return value as A
  throw new DsnError(`invalid ${what} "${value}" in ${origin}: expected one of ${values.join(", ")}`)
}

/** A port 1..65535, else a DsnError naming the value and its source. */
export const parsePort = (value: string, origin: string): number => {
  const trimmed = value.trim()
  const n = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new DsnError(`invalid port "${value}" in ${origin}: expected an integer between 1 and 65535`)
  }
  return n
}

const parsePortList = (value: string, origin: string): Array<number | undefined> =>
  value.split(",").map((p) => (p.trim() === "" ? undefined : parsePort(p, origin)))

const parseTimeoutSeconds = (value: string, origin: string): number | null => {
  const trimmed = value.trim()
  if (!/^-?\d+$/.test(trimmed)) {
    throw new DsnError(`invalid connect_timeout "${value}" in ${origin}: expected a whole number of seconds`)
  }
  const seconds = Number(trimmed)
  // libpq: zero or negative waits forever; the minimum is 2 seconds.
  if (seconds <= 0) return null
  return Math.max(seconds, 2) * 1000
}

/** libpq's integer keepalive settings: a whole number >= 0. */
const parseNonNegativeInt = (value: string, key: string, origin: string): number => {
  const trimmed = value.trim()
  const n = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN
  if (!Number.isSafeInteger(n)) throw new DsnError(`invalid ${key} "${value}" in ${origin}: expected a whole number >= 0`)
  return n
}

const parseBool = (value: string, key: string, origin: string): boolean => {
  const v = value.trim().toLowerCase()
  if (v === "1" || v === "true" || v === "on" || v === "yes") return true
  if (v === "0" || v === "false" || v === "off" || v === "no") return false
  throw new DsnError(`invalid ${key} "${value}" in ${origin}: expected 0 or 1`)
}

const tlsVersions: ReadonlyArray<TlsVersion> = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

/** libpq keywords accepted and ignored (they tune things Node does not expose or we do not do). */
const ignoredKeywords = new Set([
  "tcp_user_timeout",
  "gsslib",
  "krbsrvname",
  "gssdelegation",
  "sslcompression",
  "sslkeylogfile",
  "sslcertmode"
])

/** libpq keywords whose meaning we cannot honour; silently ignoring them could be unsafe. */
const unsupportedKeywords = new Set(["hostaddr", "requirepeer", "require_auth", "sslcrldir"])

/** Interprets libpq keywords (from a DSN or the environment). */
export const fromParams = (
  params: ReadonlyMap<string, string>,
  origin: string,
  hosts: ReadonlyArray<HostSpec> | undefined,
  strict: boolean
): Source => {
  const p: Source = { origin, serverSettings: {} }
  if (hosts !== undefined) p.hosts = [...hosts]
  let requiressl = false
  let sslTrue = false
  for (const [key, value] of params) {
    if (value === "") continue
    switch (key) {
      case "host":
        p.hosts = value.split(",").map((host) => parseHostEntry(host.trim(), origin))
        break
      case "port":
        p.ports = parsePortList(value, origin)
        break
      case "user":
        p.user = value
        break
      case "password":
        p.password = Redacted.make(value)
        break
      case "dbname":
        p.database = value
        break
      case "passfile":
        p.passfile = value
        break
      case "service":
        p.service = value
        break
      case "servicefile":
        p.servicefile = value
        break
      case "sslmode":
        p.sslmode = oneOf(sslModes, value, "sslmode", origin)
        break
      case "ssl": // node-postgres style `?ssl=true`
        if (parseBool(value, key, origin)) {
          p.sslSystemTrust = true
          sslTrue = true
        } else {
          p.sslmode = "disable"
        }
        break
      case "requiressl":
        requiressl = parseBool(value, key, origin)
        break
      case "sslrootcert":
        p.sslrootcert = value
        break
      case "sslcert":
        p.sslcert = value
        break
      case "sslkey":
        p.sslkey = value
        break
      case "sslpassword":
        p.sslpassword = Redacted.make(value)
        break
      case "sslcrl":
        p.sslcrl = value
        break
      case "sslsni":
        p.sni = parseBool(value, key, origin)
        break
      case "ssl_min_protocol_version":
        p.sslMin = oneOf(tlsVersions, value, key, origin)
        break
      case "ssl_max_protocol_version":
        p.sslMax = oneOf(tlsVersions, value, key, origin)
        break
      case "connect_timeout":
        p.connectTimeoutMs = parseTimeoutSeconds(value, origin)
        break
      case "keepalives":
        // libpq: an integer, 0 turns keepalives off
        p.keepalives = parseNonNegativeInt(value, key, origin) !== 0
        break
      case "keepalives_idle":
        p.keepalivesIdleMs = parseNonNegativeInt(value, key, origin) * 1000
        break
      case "keepalives_interval":
      case "keepalives_count":
        // validated like libpq; Node cannot set them (the OS defaults apply)
        parseNonNegativeInt(value, key, origin)
        break
      case "target_session_attrs":
        p.targetSessionAttrs = oneOf(targetSessionAttrsValues, value, key, origin)
        break
      case "channel_binding":
        p.channelBinding = oneOf(channelBindings, value, key, origin)
        break
      case "fallback_application_name":
        p.fallbackApplicationName = value
        break
      case "gssencmode":
        if (value === "require" && strict) throw new DsnError(`gssencmode=require in ${origin} is not supported`)
        break
      case "sslnegotiation":
        if (value !== "postgres" && strict) {
          throw new DsnError(`sslnegotiation=${value} in ${origin} is not supported (only "postgres")`)
        }
        break
      case "load_balance_hosts":
        p.loadBalanceHosts = oneOf(loadBalanceHostsValues, value, key, origin)
        break
      default:
        if (ignoredKeywords.has(key)) break
        if (unsupportedKeywords.has(key)) {
          if (strict) throw new DsnError(`connection option "${key}" in ${origin} is not supported`)
          break
        }
        // application_name, options, client_encoding, replication, any GUC: a startup parameter.
        p.serverSettings[key] = value
    }
  }
  // `ssl=true` means verify-full within its own source (a lower source's sslmode must not weaken it)
  if (sslTrue && p.sslmode === undefined) p.sslmode = "verify-full"
  if (requiressl && p.sslmode === undefined) p.sslmode = "require"
  return p
}

/** Environment variable → libpq keyword. */
const envKeywords: ReadonlyArray<readonly [string, string]> = [
  ["PGHOST", "host"],
  ["PGPORT", "port"],
  ["PGUSER", "user"],
  ["PGPASSWORD", "password"],
  ["PGDATABASE", "dbname"],
  ["PGPASSFILE", "passfile"],
  ["PGSERVICE", "service"],
  ["PGSERVICEFILE", "servicefile"],
  ["PGSSLMODE", "sslmode"],
  ["PGREQUIRESSL", "requiressl"],
  ["PGSSLROOTCERT", "sslrootcert"],
  ["PGSSLCERT", "sslcert"],
  ["PGSSLKEY", "sslkey"],
  ["PGSSLCRL", "sslcrl"],
  ["PGSSLSNI", "sslsni"],
  ["PGSSLMINPROTOCOLVERSION", "ssl_min_protocol_version"],
  ["PGSSLMAXPROTOCOLVERSION", "ssl_max_protocol_version"],
  ["PGAPPNAME", "application_name"],
  ["PGCONNECT_TIMEOUT", "connect_timeout"],
  ["PGOPTIONS", "options"],
  ["PGTARGETSESSIONATTRS", "target_session_attrs"],
  ["PGCHANNELBINDING", "channel_binding"],
  ["PGLOADBALANCEHOSTS", "load_balance_hosts"]
]

/** The `PG*` variables libpq reads; unsupported keywords there are ignored, not errors. */
export const fromEnv = (env: Env): Source => {
  const params = new Map<string, string>()
  for (const [name, key] of envKeywords) {
    const value = env[name]
    if (value !== undefined && value !== "") params.set(key, value)
  }
  // Variables meant for other tools must not break us: unsupported ones are ignored.
  return fromParams(params, "the environment", undefined, false)
}

const isConnectionOptions = (ssl: ConnectInput["ssl"]): ssl is tls.ConnectionOptions =>
  typeof ssl === "object" && ssl !== null

/** The explicit `connect()` options (milliseconds, Node TLS options, arrays of hosts and ports). */
export const fromInput = (input: ConnectInput): Source => {
  const origin = "the connect options"
  const p: Source = { origin, serverSettings: { ...input.serverSettings } }
  if (input.host !== undefined) {
    const hosts = typeof input.host === "string" ? [input.host] : [...input.host]
    if (hosts.length === 0) throw new DsnError("invalid host in the connect options: the list is empty")
    p.hosts = hosts.map((host) => parseHostEntry(host, origin))
  }
  if (input.port !== undefined) {
    const ports = typeof input.port === "number" ? [input.port] : [...input.port]
    if (ports.length === 0) throw new DsnError("invalid port in the connect options: the list is empty")
    p.ports = ports.map((port) => parsePort(String(port), origin))
  }
  if (input.user !== undefined && input.user !== "") p.user = input.user
  if (input.password !== undefined) {
    p.password = Redacted.isRedacted(input.password) ? input.password : Redacted.make(input.password)
  }
  if (input.database !== undefined && input.database !== "") p.database = input.database
  if (input.passfile !== undefined) p.passfile = input.passfile
  if (input.service !== undefined && input.service !== "") p.service = input.service
  if (input.servicefile !== undefined && input.servicefile !== "") p.servicefile = input.servicefile
  const ssl = input.ssl
  // `ssl: true` / Node TLS options are explicit: their mode beats a DSN's or PGSSLMODE's (as asyncpg).
  if (ssl === true) {
    p.sslSystemTrust = true
    p.sslmode = "verify-full"
  } else if (ssl === false) {
    p.sslmode = "disable"
  } else if (typeof ssl === "string") {
    p.sslmode = oneOf(sslModes, ssl, "ssl", origin)
  } else if (isConnectionOptions(ssl)) {
    p.tlsOptions = ssl
    p.sslSystemTrust = true
    p.sslmode = ssl.rejectUnauthorized === false ? "require" : "verify-full"
  }
  if (input.sslmode !== undefined) p.sslmode = oneOf(sslModes, input.sslmode, "sslmode", origin)
  if (input.sslrootcert !== undefined) p.sslrootcert = input.sslrootcert
  if (input.sslcert !== undefined) p.sslcert = input.sslcert
  if (input.sslkey !== undefined) p.sslkey = input.sslkey
  if (input.sslpassword !== undefined) {
    p.sslpassword = Redacted.isRedacted(input.sslpassword) ? input.sslpassword : Redacted.make(input.sslpassword)
  }
  if (input.sslcrl !== undefined) p.sslcrl = input.sslcrl
  if (input.sslMinProtocolVersion !== undefined) {
    p.sslMin = oneOf(tlsVersions, input.sslMinProtocolVersion, "sslMinProtocolVersion", origin)
  }
  if (input.sslMaxProtocolVersion !== undefined) {
    p.sslMax = oneOf(tlsVersions, input.sslMaxProtocolVersion, "sslMaxProtocolVersion", origin)
  }
  if (input.applicationName !== undefined) p.serverSettings["application_name"] = input.applicationName
  if (input.connectTimeout !== undefined) {
    const ms = input.connectTimeout
    if (!Number.isFinite(ms) || ms < 0) {
      throw new DsnError(`invalid connectTimeout ${ms} in ${origin}: expected a number of milliseconds >= 0`)
    }
    p.connectTimeoutMs = ms === 0 ? null : ms
  }
  if (input.keepalives !== undefined) {
    if (typeof input.keepalives !== "boolean") throw new DsnError(`invalid keepalives ${String(input.keepalives)} in ${origin}: expected a boolean`)
    p.keepalives = input.keepalives
  }
  if (input.keepalivesIdle !== undefined) {
    const ms = input.keepalivesIdle
    if (!Number.isFinite(ms) || ms < 0) {
      throw new DsnError(`invalid keepalivesIdle ${ms} in ${origin}: expected a number of milliseconds >= 0`)
    }
    p.keepalivesIdleMs = Math.round(ms)
  }
  if (input.targetSessionAttrs !== undefined) {
    p.targetSessionAttrs = oneOf(targetSessionAttrsValues, input.targetSessionAttrs, "targetSessionAttrs", origin)
  }
  if (input.loadBalanceHosts !== undefined) {
    p.loadBalanceHosts = oneOf(loadBalanceHostsValues, input.loadBalanceHosts, "loadBalanceHosts", origin)
  }
  if (input.channelBinding !== undefined) {
    p.channelBinding = oneOf(channelBindings, input.channelBinding, "channelBinding", origin)
  }
  return p
}

/** The first defined value of a field across sources (highest precedence first). */
export const pick = <K extends keyof Source>(sources: ReadonlyArray<Source>, key: K): Source[K] | undefined => {
  for (const s of sources) if (s[key] !== undefined) return s[key]
  return undefined
}

/** The source that provided a field, for error messages. */
export const originOf = (sources: ReadonlyArray<Source>, key: keyof Source): string =>
  sources.find((s) => s[key] !== undefined)?.origin ?? "the defaults"
