/**
 * TLS settings: sslmode (libpq's rules and defaults), the client certificate
 * and key, server trust (sslrootcert, `system`, `~/.postgresql/root.crt`, the
 * CRL), and the Node `tls.connect` options for one address. Secrets are
 * kept out of enumeration (JSON, inspection, spreads).
 *
 * Internal: not exported by the package.
 */
import * as net from "node:net"
import type * as tls from "node:tls"
import * as Redacted from "effect/Redacted"
import { originOf, pick, type Source } from "./optionSources.js"
import {
  DsnError,
  sslModes,
  type Address,
  type DsnFileSystem,
  type Env,
  type ResolvedConnectOptions,
  type ResolvedTls,
  type SslMode
} from "./optionTypes.js"
import { safeHome } from "./pgpass.js"

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
      // libpq's wording (asyncpg's too), then what to do
      throw new DsnError(
        `root certificate file "${path ?? "~/.postgresql/root.crt"}" does not exist (sslmode=${sslmode} needs one): ` +
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

/** The TLS material and policy for the TCP addresses. */
export const resolveTls = ({ env, fs, hasTcp, sources, sslmode, systemTrust }: TlsInputs): ResolvedTls => {
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

/** sslmode: explicit > DSN > env > `ssl: true` / sslrootcert=system > prefer (TCP) or disable (Unix only). */
export const resolveSslMode = (sources: ReadonlyArray<Source>, systemTrust: boolean, hasTcp: boolean): SslMode => {
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
