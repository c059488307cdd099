/**
 * The types of connection options: what `connect()` takes
 * (`ConnectInput`), what resolution produces (`ResolvedConnectOptions`,
 * addresses, TLS material), `DsnError`, and the file system the resolution
 * reads through (injectable for tests).
 *
 * @since 0.1.0
 */
import * as nodeFs from "node:fs"
import * as os from "node:os"
import * as tls from "node:tls"
import * as Redacted from "effect/Redacted"

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/** Thrown for invalid connection input. The message never contains a secret. */
export class DsnError extends Error {
  constructor(message: string) {
    super(message)
    this.name = "DsnError"
  }
}

/** Environment variables, as `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>

/** libpq's `sslmode`, weakest first. */
export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full"

/** All `SslMode` values, weakest first. */
export const sslModes: ReadonlyArray<SslMode> = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

/** libpq's `target_session_attrs`. */
export type TargetSessionAttrs = "any" | "primary" | "standby" | "prefer-standby" | "read-write" | "read-only"

/** All `TargetSessionAttrs` values. */
export const targetSessionAttrsValues: ReadonlyArray<TargetSessionAttrs> = [
  "any",
  "primary",
  "standby",
  "prefer-standby",
  "read-write",
  "read-only"
]

/** libpq 16's `load_balance_hosts`: `random` shuffles the hosts (and each host's addresses) per connection attempt. */
export type LoadBalanceHosts = "disable" | "random"

/** All `LoadBalanceHosts` values. */
export const loadBalanceHostsValues: ReadonlyArray<LoadBalanceHosts> = ["disable", "random"]

/** libpq's `channel_binding` (SCRAM-SHA-256-PLUS over TLS). */
export type ChannelBinding = "disable" | "prefer" | "require"

/** All `ChannelBinding` values. */
export const channelBindings: ReadonlyArray<ChannelBinding> = ["disable", "prefer", "require"]

/** TLS protocol versions accepted by `ssl_min_protocol_version` / `ssl_max_protocol_version`. */
export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3"

/** What a caller may pass to connect; every field is optional. */
export interface ConnectInput {
  /** `postgres://user:pass@host:port/db?param=value` or `host=... dbname=...`. */
  readonly dsn?: string
  /** Host name, IP address or Unix-socket directory (absolute path); several are tried in order. */
  readonly host?: string | ReadonlyArray<string>
  /** One port for all hosts, or one per host. */
  readonly port?: number | ReadonlyArray<number>
  readonly user?: string
  readonly password?: string | Redacted.Redacted<string>
  readonly database?: string
  /**
   * `true`: TLS verified against the system CAs (`verify-full`); `false`: `disable`;
   * an `SslMode`; or Node TLS options (TLS required, `verify-full` unless
   * `rejectUnauthorized: false`; the options are passed through to `tls.connect`).
   */
  readonly ssl?: SslMode | boolean | tls.ConnectionOptions
  /** Overrides the mode implied by `ssl`. */
  readonly sslmode?: SslMode
  /** File path of the CA bundle, or `"system"` for the system trust store. */
  readonly sslrootcert?: string
  /** File path of the client certificate. */
  readonly sslcert?: string
  /** File path of the client private key. */
  readonly sslkey?: string
  /** Passphrase of the client private key. */
  readonly sslpassword?: string | Redacted.Redacted<string>
  /** File path of a certificate revocation list. */
  readonly sslcrl?: string
  readonly sslMinProtocolVersion?: TlsVersion
  readonly sslMaxProtocolVersion?: TlsVersion
  /** Sent as the `application_name` server setting. */
  readonly applicationName?: string
  /** Extra startup parameters (`search_path`, `timezone`, `options`, ...). */
  readonly serverSettings?: Readonly<Record<string, string>>
  /**
   * Connect timeout in milliseconds, per host address as in libpq (each
   * address tried gets its own deadline); 0 means none.
   */
  readonly connectTimeout?: number
  /** `"random"`: try the hosts (and each host's addresses) in random order, per connection. Default `"disable"`. */
  readonly loadBalanceHosts?: LoadBalanceHosts
  /** TCP keepalive probes on the connection's socket (libpq `keepalives`; default true). */
  readonly keepalives?: boolean
  /**
   * Idle time before the first keepalive probe, in milliseconds (libpq
   * `keepalives_idle`, which is in seconds); 0 or absent = the OS default.
   */
  readonly keepalivesIdle?: number
  /** Path of the password file. */
  readonly passfile?: string
  /**
   * A connection service of the service file (libpq `service`): its
   * settings rank below the DSN and above the `PG*` variables.
   */
  readonly service?: string
  /** Path of the service file (default `PGSERVICEFILE`, then `~/.pg_service.conf`). */
  readonly servicefile?: string
  readonly targetSessionAttrs?: TargetSessionAttrs
  readonly channelBinding?: ChannelBinding
}

/** File-system and OS access used by {@link resolveConnectOptions}; inject a fake in tests. */
export interface DsnFileSystem {
  /** The file's text, or `undefined` when it does not exist or cannot be read. */
  readFile(path: string): string | undefined
  /** The user's home directory (may throw or return "" when unknown). */
  homedir(): string
  /** The file's `st_mode` permission bits, or `undefined` when unknown; omitted = not checked. */
  fileMode?(path: string): number | undefined
  /** Whether the path is a plain file (`undefined` when it does not exist); omitted = not checked. */
  isFile?(path: string): boolean | undefined
  /** Whether a path (the default socket directories) exists; omitted = nothing exists. */
  exists?(path: string): boolean
  /** The OS user name; omitted = `os.userInfo().username`. */
  username?(): string | undefined
}

/** One place to connect to. */
export interface Address {
  /** TCP: host name or IP; Unix: the socket directory (or `@name` for an abstract socket). */
  readonly host: string
  readonly port: number
  readonly kind: "tcp" | "unix"
  /** Unix only: `dir/.s.PGSQL.port` (abstract sockets start with NUL). */
  readonly path?: string
  /** Set only when the password came from the password file and differs per address. */
  readonly password?: Redacted.Redacted<string>
  /** TCP only, set only when given: keepalive probes on (default) or off (`keepalives`). */
  readonly keepalives?: boolean
  /** TCP only, set only when given: idle time before the first keepalive probe, ms (`keepalives_idle`). */
  readonly keepalivesIdleMs?: number
}

/** TLS material and policy for TCP addresses; Unix sockets never use TLS. */
export interface ResolvedTls {
  /** PEM CA bundle; `undefined` = Node's default (system) CAs. */
  readonly ca?: string
  /** PEM client certificate. */
  readonly cert?: string
  /** PEM client key (non-enumerable: left out of JSON, inspection and spreads). */
  readonly key?: string
  /** Passphrase of `key` (non-enumerable, like `key`). */
  readonly passphrase?: string
  /** PEM certificate revocation list. */
  readonly crl?: string
  /** Explicit SNI name; by default the TCP host name is used (not for IP literals). */
  readonly servername?: string
  /** Whether the certificate chain must verify. */
  readonly rejectUnauthorized: boolean
  /** Whether the host name must match the certificate (`verify-full`). */
  readonly checkServerIdentity: boolean
  /** Whether to send SNI (`sslsni`). */
  readonly sni: boolean
  readonly minVersion: TlsVersion
  readonly maxVersion?: TlsVersion
  /** Node TLS options given by the caller as `ssl: {...}`, applied last (non-enumerable). */
  readonly options?: tls.ConnectionOptions
}

/** The result of {@link resolveConnectOptions}: everything needed to open a session. */
export interface ResolvedConnectOptions {
  /** Tried in order until one accepts the session. */
  readonly addresses: ReadonlyArray<Address>
  readonly user: string
  readonly password: Redacted.Redacted<string> | undefined
  readonly database: string
  /** Applies to TCP addresses only. */
  readonly sslmode: SslMode
  readonly tls: ResolvedTls
  /** Startup parameters, including `application_name` and `options` when set. */
  readonly serverSettings: Readonly<Record<string, string>>
  /** Deadline of each address attempt (connect, TLS, startup, target check), ms; absent = none. */
  readonly connectTimeoutMs?: number
  /** Whether the addresses are tried in random order (per connection). */
  readonly loadBalanceHosts: LoadBalanceHosts
  readonly targetSessionAttrs: TargetSessionAttrs
  readonly channelBinding: ChannelBinding
  /**
   * What libpq would print as a warning while resolving (a password file
   * that is not a plain file or is group/world accessible, and so was not
   * read); logged at warning level by `connect()`. Never holds a secret.
   */
  readonly warnings?: ReadonlyArray<string>
}

/** The real file system and OS. */
export const nodeFileSystem: DsnFileSystem = {
  readFile: (path) => {
    try {
      return nodeFs.readFileSync(path, "utf8")
    } catch {
      return undefined
    }
  },
  homedir: () => os.homedir(),
  fileMode: (path) => {
    try {
      return nodeFs.statSync(path).mode & 0o7777
    } catch {
      return undefined
    }
  },
  isFile: (path) => {
    try {
      return nodeFs.statSync(path).isFile()
    } catch {
      return undefined
    }
  },
  exists: (path) => nodeFs.existsSync(path),
  username: () => os.userInfo().username
}

/** A host that names a Unix-socket directory (or an abstract socket). */
export const isUnixHost = (host: string): boolean => host.startsWith("/") || host.startsWith("@")
