/**
 * Where to connect: the host and port lists (with libpq's defaults: the
 * existing Unix-socket directories, then `localhost`, port 5432), Unix
 * socket paths, and the password-file match per address.
 *
 * Internal: not exported by the package.
 */
import * as Redacted from "effect/Redacted"
import type { HostSpec } from "./dsn.js"
import { parsePort, pick, type Source } from "./optionSources.js"
import { DsnError, isUnixHost, type Address, type DsnFileSystem, type Env } from "./optionTypes.js"
import { defaultPassfile, lookupPassword, readPassfile } from "./pgpass.js"

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

/** `dir/.s.PGSQL.port` (a full socket path is kept; `@name` becomes an abstract socket). */
export const socketPath = (dir: string, port: number): string => {
  if (dir.includes("/.s.PGSQL.")) return dir
  const base = dir.startsWith("@") ? "\0" + dir.slice(1) : dir
  return `${base.replace(/\/+$/, "")}/.s.PGSQL.${port}`
}

/** A unix host given as a full socket path `dir/.s.PGSQL.N` carries its port. */
const portInSocketPath = (host: string): number | undefined => {
  const m = /\/\.s\.PGSQL\.(\d+)$/.exec(host)
  return m === null ? undefined : Number(m[1])
}

/** One host of the list with its port. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/**
 * The host list with a port each: hosts from the first source that names
 * any (else the default socket directories and `localhost`), one port for
 * all or one per host.
 */
export const resolveHostPorts = (sources: ReadonlyArray<Source>, explicit: Source, fs: DsnFileSystem): Array<HostPort> => {
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

/** Password-file matches per address (all `undefined` when the file is absent or unsafe, which `warn` reports). */
export const passfilePasswords = (
  sources: ReadonlyArray<Source>,
  hostPorts: ReadonlyArray<HostPort>,
  database: string,
  user: string,
  fs: DsnFileSystem,
  env: Env,
  warn: (message: string) => void
): Array<string | undefined> => {
  const passfile = pick(sources, "passfile") ?? defaultPassfile(fs, env)
  const entries = passfile === undefined ? undefined : readPassfile(fs, passfile, warn)
  return hostPorts.map(({ host, port }) =>
    entries === undefined ? undefined : lookupPassword(entries, host, port, database, user)
  )
}

/** Builds the addresses; per-address passwords are kept only when the file gave different ones. */
export const toAddresses = (
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
