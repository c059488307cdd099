/**
 * Connection option resolution, after libpq and asyncpg's `connect()`.
 *
 * Sources, highest precedence first:
 *
 * 1. explicit options (`ConnectInput` fields other than `dsn`),
 * 2. the DSN: a `postgres://` / `postgresql://` URL or a libpq
 *    `key=value` string,
 * 3. the connection service (`service` / `PGSERVICE`) in the service file,
 * 4. `PG*` environment variables,
 * 5. defaults: the existing Unix-socket directories then `localhost`, port
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
 * This file combines the sources and re-exports the public pieces; the jobs
 * live in `optionSources.ts` (reading each source), `optionHosts.ts` (host,
 * port and socket lists, passfile per address), `optionTls.ts` (sslmode and
 * TLS material) and `optionTypes.ts` (the types).
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as os from "node:os"
import * as Redacted from "effect/Redacted"
import { parseDsn } from "./dsn.js"
import { passfilePasswords, resolveHostPorts, socketPath, toAddresses } from "./optionHosts.js"
import { serviceSource } from "./optionService.js"
import { fromEnv, fromInput, fromParams, pick, type Source } from "./optionSources.js"
import { resolveSslMode, resolveTls } from "./optionTls.js"
import {
  DsnError,
  nodeFileSystem,
  type Address,
  type ConnectInput,
  type DsnFileSystem,
  type Env,
  type ResolvedConnectOptions
} from "./optionTypes.js"

export * from "./optionTypes.js"
export { parseDsn, type ParsedDsn } from "./dsn.js"
export { lookupPassword, parsePassfile, type PassEntry } from "./pgpass.js"
export { tlsOptionsFor } from "./optionTls.js"

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
  const environment = fromEnv(env)
  const named: ReadonlyArray<Source> = dsn === undefined ? [explicit, environment] : [explicit, dsn, environment]
  const service = serviceSource(named, fs, env)
  const sources: ReadonlyArray<Source> = service === undefined ? named : [...named.slice(0, -1), service, environment]

  const hostPorts = resolveHostPorts(sources, explicit, fs)
  const user = pick(sources, "user") ?? osUser(fs, env)
  const database = pick(sources, "database") ?? user
  const given = pick(sources, "password")
  const warnings: Array<string> = []
  const filePasswords = given === undefined
    ? passfilePasswords(sources, hostPorts, database, user, fs, env, (w) => warnings.push(w))
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
    loadBalanceHosts: pick(sources, "loadBalanceHosts") ?? "disable",
    channelBinding: pick(sources, "channelBinding") ?? "prefer",
    ...(warnings.length === 0 ? {} : { warnings })
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
