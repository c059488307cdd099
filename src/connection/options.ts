/**
 * Connection option resolution, after libpq and asyncpg's `connect()`.
 *
 * Sources, highest precedence first:
 *
 * 1. explicit options (`ConnectInput` fields other than `dsn`),
 * 2. the DSN: a `postgres://` / `postgresql://` URL or a libpq
 *    `key=value` string,
 * 3. `PG*` environment variables,
 * 4. defaults: the existing Unix-socket directories then `localhost`, port
 *    5432, the OS user, database = user, `sslmode=prefer` for TCP.
 *
 * When no password is given by any source, the password file (`passfile`,
 * `PGPASSFILE` or `~/.pgpass`) is consulted, as libpq does.
 *
 * Everything here is synchronous and side-effect free apart from reading
 * files through the injectable {@link DsnFileSystem}; errors are thrown as
 * {@link DsnError} and mapped to a typed error by the caller. Secrets
 * (password, TLS key and passphrase) are kept `Redacted` and are never put
 * into an error message.
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as os from "node:os"
import * as tls from "node:tls"
import * as Redacted from "effect/Redacted"
import { parseDsn, type HostSpec } from "./dsn.js"
import { defaultPassfile, lookupPassword, readPassfile, safeHome } from "./pgpass.js"
import {
  channelBindings,
  DsnError,
  isUnixHost,
  nodeFileSystem,
  sslModes,
  targetSessionAttrsValues,
  type Address,
  type ChannelBinding,
  type ConnectInput,
  type DsnFileSystem,
  type Env,
  type ResolvedConnectOptions,
  type ResolvedTls,
  type SslMode,
  type TargetSessionAttrs,
  type TlsVersion
} from "./optionTypes.js"

export * from "./optionTypes.js"
export { parseDsn, type ParsedDsn } from "./dsn.js"
export { lookupPassword, parsePassfile, type PassEntry } from "./pgpass.js"

// ---------------------------------------------------------------------------
// Sources → one partial settings record each
// ---------------------------------------------------------------------------

/** Settings contributed by one source; `undefined` = not given there. */
interface Source {
  readonly origin: string
  hosts?: Array<HostSpec>
  ports?: Array<number | undefined>
  user?: string
  password?: Redacted.Redacted<string>
  database?: string
  passfile?: string
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
  channelBinding?: ChannelBinding
  fallbackApplicationName?: string
  serverSettings: Record<string, string>
}

const oneOf = <A extends string>(values: ReadonlyArray<A>, value: string, what: string, origin: string): A => {
  if ((values as ReadonlyArray<string>).includes(value)) return value as A
  throw new DsnError(`invalid ${what} "${value}" in ${origin}: expected one of ${values.join(", ")}`)
}

const parsePort = (value: string, origin: string): number => {
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
const unsupportedKeywords = new Set(["hostaddr", "service", "servicefile", "requirepeer", "require_auth", "sslcrldir"])

/** Interprets libpq keywords (from a DSN or the environment). */
const fromParams = (
  params: ReadonlyMap<string, string>,
  origin: string,
  hosts: ReadonlyArray<HostSpec> | undefined,
  strict: boolean
): Source => {
  const p: Source = { origin, serverSettings: {} }
  if (hosts !== undefined) p.hosts = [...hosts]
  let requiressl = false
  for (const [key, value] of params) {
    if (value === "") continue
    switch (key) {
      case "host":
        p.hosts = value.split(",").map((host) => ({ host: host.trim() }))
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
      case "sslmode":
        p.sslmode = oneOf(sslModes, value, "sslmode", origin)
        break
      case "ssl": // node-postgres style `?ssl=true`
        if (parseBool(value, key, origin)) {
          p.sslSystemTrust = true
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
        if (value !== "disable" && strict) {
          throw new DsnError(`load_balance_hosts=${value} in ${origin} is not supported`)
        }
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
  ["PGCHANNELBINDING", "channel_binding"]
]

const fromEnv = (env: Env): Source => {
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

const fromInput = (input: ConnectInput): Source => {
  const origin = "the connect options"
  const p: Source = { origin, serverSettings: { ...input.serverSettings } }
  if (input.host !== undefined) {
    const hosts = typeof input.host === "string" ? [input.host] : [...input.host]
    if (hosts.length === 0) throw new DsnError("invalid host in the connect options: the list is empty")
    p.hosts = hosts.map((host) => ({ host }))
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
  const ssl = input.ssl
  if (ssl === true) {
    p.sslSystemTrust = true
  } else if (ssl === false) {
    p.sslmode = "disable"
  } else if (typeof ssl === "string") {
    p.sslmode = oneOf(sslModes, ssl, "ssl", origin)
  } else if (isConnectionOptions(ssl)) {
    p.tlsOptions = ssl
    p.sslSystemTrust = true
    if (ssl.rejectUnauthorized === false) p.sslmode = "require"
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
  if (input.channelBinding !== undefined) {
    p.channelBinding = oneOf(channelBindings, input.channelBinding, "channelBinding", origin)
  }
  return p
}

// ---------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------

/** The first defined value of a field across sources (highest precedence first). */
const pick = <K extends keyof Source>(sources: ReadonlyArray<Source>, key: K): Source[K] | undefined => {
  for (const s of sources) if (s[key] !== undefined) return s[key]
  return undefined
}

/** The source that provided a field, for error messages. */
const originOf = (sources: ReadonlyArray<Source>, key: keyof Source): string =>
  sources.find((s) => s[key] !== undefined)?.origin ?? "the defaults"

/** Default socket directories; within a group the first existing one is used (they are aliases). */
const defaultSocketDirGroups: ReadonlyArray<ReadonlyArray<string>> = [
  ["/run/postgresql", "/var/run/postgresql"],
  ["/tmp", "/private/tmp"]
]

const defaultSocketDirs = (fs: DsnFileSystem): Array<string> => {
  if (process.platform === "win32" || fs.exists === undefined) return []
  const dirs: Array<string> = []
  for (const group of defaultSocketDirGroups) {
    const found = group.find((dir) => fs.exists!(dir))
    if (found !== undefined) dirs.push(found)
  }
  return dirs
}

const socketPath = (dir: string, port: number): string => {
  if (dir.includes("/.s.PGSQL.")) return dir
  const base = dir.startsWith("@") ? "\0" + dir.slice(1) : dir
  return `${base.replace(/\/+$/, "")}/.s.PGSQL.${port}`
}

/** A unix host given as a full socket path `dir/.s.PGSQL.N` carries its port. */
const portInSocketPath = (host: string): number | undefined => {
  const m = /\/\.s\.PGSQL\.(\d+)$/.exec(host)
  return m === null ? undefined : Number(m[1])
}

interface HostPort {
  readonly host: string
  readonly port: number
}

const resolveHostPorts = (sources: ReadonlyArray<Source>, explicit: Source, fs: DsnFileSystem): Array<HostPort> => {
  const hostSource = sources.find((s) => s.hosts !== undefined)
  const portSource = sources.find((s) => s.ports !== undefined)
  const ports = portSource?.ports ?? [undefined]
  const defaults = defaultSocketDirs(fs)
  const specs: Array<HostSpec> = hostSource?.hosts ?? [...defaults.map((host) => ({ host })), { host: "localhost" }]
  const defaultHost = defaults[0] ?? "localhost"

  const portFor = (i: number): number => {
    if (ports.length !== 1 && ports.length !== specs.length) {
      throw new DsnError(
        `could not match ${ports.length} ports (from ${portSource!.origin}) to ${specs.length} hosts` +
          (hostSource === undefined ? "" : ` (from ${hostSource.origin})`)
      )
    }
    return (ports.length === 1 ? ports[0] : ports[i]) ?? 5432
  }

  return specs.map((spec, i) => {
    const host = spec.host === "" ? defaultHost : spec.host
    // Explicit ports override ports written next to DSN hosts; other sources do not.
    let port: number
    if (spec.port !== undefined && explicit.ports === undefined) {
      port = parsePort(spec.port, hostSource!.origin)
    } else {
      port = portInSocketPath(host) ?? portFor(i)
    }
    return { host, port }
  })
}

// --- user ------------------------------------------------------------------

const osUser = (fs: DsnFileSystem, env: Env): string => {
  try {
    const name = fs.username !== undefined ? fs.username() : os.userInfo().username
    if (name) return name
  } catch {
    // no passwd entry for this uid: fall through to the environment
  }
  const fromEnv = env["USER"] || env["LOGNAME"] || env["USERNAME"]
  if (fromEnv) return fromEnv
  throw new DsnError("could not determine the user name to connect as: set user, PGUSER or the DSN user")
}

// --- TLS -----------------------------------------------------------------------

const sslRank = (mode: SslMode): number => sslModes.indexOf(mode)

const pgConfigDir = (fs: DsnFileSystem, env: Env): string | undefined => {
  if (process.platform === "win32") {
    const appData = env["APPDATA"]
    return appData ? `${appData}\\postgresql` : undefined
  }
  const home = safeHome(fs)
  return home === undefined ? undefined : `${home.replace(/\/+$/, "")}/.postgresql`
}

const readRequired = (fs: DsnFileSystem, path: string, what: string): string => {
  const text = fs.readFile(path)
  if (text === undefined) throw new DsnError(`${what} file "${path}" does not exist or cannot be read`)
  return text
}

interface TlsInputs {
  readonly sources: ReadonlyArray<Source>
  readonly sslmode: SslMode
  readonly systemTrust: boolean
  readonly fs: DsnFileSystem
  readonly env: Env
  readonly hasTcp: boolean
}

/** Reads a default file under `~/.postgresql` (none with `ssl: true` / Node options). */
type DefaultFile = (name: string) => string | undefined

/** Client certificate and key: named files must exist; the default pair is used when present. */
const clientMaterial = (
  sources: ReadonlyArray<Source>,
  fs: DsnFileSystem,
  defaultFile: DefaultFile
): { readonly cert?: string; readonly key?: string } => {
  const certPath = pick(sources, "sslcert")
  const keyPath = pick(sources, "sslkey")
  const cert = certPath !== undefined
    ? readRequired(fs, certPath, "client certificate")
    : mapDefined(defaultFile("postgresql.crt"), (p) => fs.readFile(p))
  if (cert === undefined) {
    if (keyPath !== undefined) throw new DsnError("sslkey is set but no client certificate was found: set sslcert")
    return {}
  }
  const path = keyPath ?? defaultFile("postgresql.key")
  const key = path === undefined ? undefined : fs.readFile(path)
  if (key === undefined) {
    throw new DsnError(
      `a client certificate was found but no private key${path === undefined ? "" : ` at "${path}"`}: set sslkey`
    )
  }
  return { cert, key }
}

/**
 * Server trust for sslmode >= require: the CA bundle (sslrootcert, `system`,
 * or `~/.postgresql/root.crt`), the CRL, and whether a root is available.
 */
const serverTrust = (
  sources: ReadonlyArray<Source>,
  sslmode: SslMode,
  systemTrust: boolean,
  fs: DsnFileSystem,
  defaultFile: DefaultFile
): { readonly ca?: string; readonly crl?: string; readonly haveRoot: boolean } => {
  const rootPath = pick(sources, "sslrootcert")
  let ca: string | undefined
  let haveRoot = false
  if (rootPath === "system") {
    haveRoot = true
  } else if (rootPath !== undefined) {
    ca = readRequired(fs, rootPath, "root certificate")
    haveRoot = true
  } else if (!systemTrust) {
    const path = defaultFile("root.crt")
    ca = path === undefined ? undefined : fs.readFile(path)
    haveRoot = ca !== undefined
    if (!haveRoot && sslRank(sslmode) >= sslRank("verify-ca")) {
      throw new DsnError(
        `sslmode=${sslmode} needs a root certificate, but "${path ?? "~/.postgresql/root.crt"}" does not exist: ` +
          `set sslrootcert to a CA file, use sslrootcert=system for the system's trusted roots, ` +
          `or use sslmode=require to skip server certificate verification`
      )
    }
  }
  const crlPath = pick(sources, "sslcrl")
  const crl = crlPath !== undefined
    ? readRequired(fs, crlPath, "certificate revocation list")
    : haveRoot
    ? mapDefined(defaultFile("root.crl"), (p) => fs.readFile(p))
    : undefined
  return { ...(ca === undefined ? {} : { ca }), ...(crl === undefined ? {} : { crl }), haveRoot }
}

const resolveTls = ({ env, fs, hasTcp, sources, sslmode, systemTrust }: TlsInputs): ResolvedTls => {
  const options = pick(sources, "tlsOptions")
  const sslMax = pick(sources, "sslMax")
  const base = {
    sni: pick(sources, "sni") ?? true,
    minVersion: pick(sources, "sslMin") ?? "TLSv1.2",
    ...(sslMax === undefined ? {} : { maxVersion: sslMax }),
    ...(options?.servername === undefined ? {} : { servername: options.servername })
  }
  if (sslmode === "disable" || !hasTcp) {
    return hideSecrets({ ...base, rejectUnauthorized: false, checkServerIdentity: false }, { options })
  }
  const configDir = pgConfigDir(fs, env)
  const defaultFile: DefaultFile = (name) =>
    systemTrust || configDir === undefined ? undefined : `${configDir}/${name}`
  const { cert, key } = clientMaterial(sources, fs, defaultFile)
  const secrets = { key, passphrase: mapDefined(pick(sources, "sslpassword"), Redacted.value), options }
  const withCert = { ...base, ...(cert === undefined ? {} : { cert }) }
  if (sslRank(sslmode) < sslRank("require")) {
    return hideSecrets({ ...withCert, rejectUnauthorized: false, checkServerIdentity: false }, secrets)
  }
  const { haveRoot, ...trust } = serverTrust(sources, sslmode, systemTrust, fs, defaultFile)
  return hideSecrets(
    {
      ...withCert,
      ...trust,
      // libpq: with sslmode=require, the chain is verified anyway when a root certificate is available.
      rejectUnauthorized: sslRank(sslmode) >= sslRank("verify-ca") || haveRoot,
      checkServerIdentity: sslmode === "verify-full"
    },
    secrets
  )
}

/** Attaches secrets as non-enumerable properties, so JSON, `util.inspect` and spreads leave them out. */
const hideSecrets = (
  t: ResolvedTls,
  secrets: { readonly key?: string | undefined; readonly passphrase?: string | undefined; readonly options?: tls.ConnectionOptions | undefined }
): ResolvedTls => {
  for (const [name, value] of Object.entries(secrets)) {
    if (value !== undefined) Object.defineProperty(t, name, { value, enumerable: false })
  }
  return t
}

const mapDefined = <A, B>(a: A | undefined, f: (a: A) => B | undefined): B | undefined =>
  a === undefined ? undefined : f(a)

/** Password-file matches per address (all `undefined` when the file is absent or unsafe). */
const passfilePasswords = (
  sources: ReadonlyArray<Source>,
  hostPorts: ReadonlyArray<HostPort>,
  database: string,
  user: string,
  fs: DsnFileSystem,
  env: Env
): Array<string | undefined> => {
  const passfile = pick(sources, "passfile") ?? defaultPassfile(fs, env)
  const entries = passfile === undefined ? undefined : readPassfile(fs, passfile)
  return hostPorts.map(({ host, port }) =>
    entries === undefined ? undefined : lookupPassword(entries, host, port, database, user)
  )
}

/** Builds the addresses; per-address passwords are kept only when the file gave different ones. */
const toAddresses = (
  hostPorts: ReadonlyArray<HostPort>,
  passwords: ReadonlyArray<string | undefined>
): Array<Address> => {
  const distinct = new Set(passwords.filter((p) => p !== undefined)).size > 1
  return hostPorts.map(({ host, port }, i) => {
    const p = passwords[i]
    const own = distinct && p !== undefined ? { password: Redacted.make(p) } : {}
    return isUnixHost(host)
      ? { host, port, kind: "unix" as const, path: socketPath(host, port), ...own }
      : { host, port, kind: "tcp" as const, ...own }
  })
}

/** sslmode: explicit > DSN > env > `ssl: true` / sslrootcert=system > prefer (TCP) or disable (Unix only). */
const resolveSslMode = (sources: ReadonlyArray<Source>, systemTrust: boolean, hasTcp: boolean): SslMode => {
  const given = pick(sources, "sslmode")
  if (pick(sources, "sslrootcert") === "system") {
    if (given === undefined) return "verify-full"
    if (given !== "verify-full") {
      throw new DsnError(
        `sslmode=${given} (from ${originOf(sources, "sslmode")}) may not be used with sslrootcert=system: use verify-full`
      )
    }
  }
  return given ?? (systemTrust ? "verify-full" : hasTcp ? "prefer" : "disable")
}

/** Startup parameters: env < DSN < explicit, key by key; then fallback_application_name. */
const resolveServerSettings = (sources: ReadonlyArray<Source>): Record<string, string> => {
  const settings: Record<string, string> = {}
  for (const s of [...sources].reverse()) Object.assign(settings, s.serverSettings)
  const fallbackName = pick(sources, "fallbackApplicationName")
  if (settings["application_name"] === undefined && fallbackName !== undefined) {
    settings["application_name"] = fallbackName
  }
  return settings
}

/**
 * Resolves connection options from explicit options, the DSN, `PG*`
 * environment variables, the password file and defaults, in that order.
 * `fs` defaults to the real file system and OS ({@link nodeFileSystem}).
 *
 * @throws DsnError on invalid input (the message contains no secret)
 */
export const resolveConnectOptions = (
  input: ConnectInput,
  env: Env = process.env,
  fs: DsnFileSystem = nodeFileSystem
): ResolvedConnectOptions => {
  const explicit = fromInput(input)
  const parsedDsn = input.dsn === undefined ? undefined : parseDsn(input.dsn)
  const dsn = parsedDsn === undefined ? undefined : fromParams(parsedDsn.params, "the DSN", parsedDsn.hosts, true)
  const sources: ReadonlyArray<Source> = dsn === undefined ? [explicit, fromEnv(env)] : [explicit, dsn, fromEnv(env)]

  const hostPorts = resolveHostPorts(sources, explicit, fs)
  const user = pick(sources, "user") ?? osUser(fs, env)
  const database = pick(sources, "database") ?? user
  const given = pick(sources, "password")
  const filePasswords = given === undefined
    ? passfilePasswords(sources, hostPorts, database, user, fs, env)
    : hostPorts.map(() => undefined)
  const fromFile = filePasswords.find((p) => p !== undefined)
  const password = given ?? (fromFile === undefined ? undefined : Redacted.make(fromFile))

  const keepalives = pick(sources, "keepalives")
  const keepalivesIdleMs = pick(sources, "keepalivesIdleMs")
  const addresses = toAddresses(hostPorts, filePasswords).map((a) =>
    a.kind === "tcp" && (keepalives !== undefined || keepalivesIdleMs !== undefined)
      ? {
        ...a,
        ...(keepalives === undefined ? {} : { keepalives }),
        ...(keepalivesIdleMs === undefined ? {} : { keepalivesIdleMs })
      }
      : a
  )
  const hasTcp = addresses.some((a) => a.kind === "tcp")
  const systemTrust = pick(sources, "sslSystemTrust") ?? false
  const sslmode = resolveSslMode(sources, systemTrust, hasTcp)
  const timeout = pick(sources, "connectTimeoutMs")
  return {
    addresses,
    user,
    password,
    database,
    sslmode,
    tls: resolveTls({ sources, sslmode, systemTrust, fs, env, hasTcp }),
    serverSettings: resolveServerSettings(sources),
    ...(timeout === undefined || timeout === null ? {} : { connectTimeoutMs: timeout }),
    targetSessionAttrs: pick(sources, "targetSessionAttrs") ?? "any",
    channelBinding: pick(sources, "channelBinding") ?? "prefer"
  }
}

// ---------------------------------------------------------------------------
// Helpers for the connection engine and error messages
// ---------------------------------------------------------------------------

const describeAddress = (a: Address): string => {
  if (a.kind === "unix") return (a.path ?? socketPath(a.host, a.port)).replace(/^\0/, "@")
  return net.isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

/**
 * A short, secret-free description of where we connect: `"127.0.0.1:5432"`,
 * `"[::1]:5432"` or `"/var/run/postgresql/.s.PGSQL.5432"`; several addresses
 * are joined with `", "`.
 */
export const describeTarget = (target: ResolvedConnectOptions | Address): string =>
  "addresses" in target ? target.addresses.map(describeAddress).join(", ") : describeAddress(target)

/** The password to use for one address (a per-address password-file match, else the common one). */
export const passwordFor = (
  resolved: ResolvedConnectOptions,
  address: Address
): Redacted.Redacted<string> | undefined => address.password ?? resolved.password

const skipIdentityCheck = (): undefined => undefined

/**
 * Node `tls.connect` options for one address, or `undefined` when this
 * address must not use TLS (Unix socket, or `sslmode=disable`). The caller
 * adds `socket` when upgrading an existing connection after SSLRequest.
 */
export const tlsOptionsFor = (
  resolved: ResolvedConnectOptions,
  address: Address
): tls.ConnectionOptions | undefined => {
  if (address.kind !== "tcp" || resolved.sslmode === "disable") return undefined
  const t = resolved.tls
  const servername = t.servername ?? (t.sni && net.isIP(address.host) === 0 ? address.host : undefined)
  const options: tls.ConnectionOptions = {
    host: address.host,
    port: address.port,
    rejectUnauthorized: t.rejectUnauthorized,
    minVersion: t.minVersion,
    ...(t.maxVersion === undefined ? {} : { maxVersion: t.maxVersion }),
    ...(servername === undefined ? {} : { servername }),
    ...(t.ca === undefined ? {} : { ca: t.ca }),
    ...(t.cert === undefined ? {} : { cert: t.cert }),
    ...(t.key === undefined ? {} : { key: t.key }),
    ...(t.passphrase === undefined ? {} : { passphrase: t.passphrase }),
    ...(t.crl === undefined ? {} : { crl: t.crl }),
    ...(t.checkServerIdentity ? {} : { checkServerIdentity: skipIdentityCheck })
  }
  return t.options === undefined ? options : { ...options, ...t.options }
}
