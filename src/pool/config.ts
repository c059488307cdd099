/**
 * Pool and connection options read through `effect/Config`: what
 * `PgPool.layerConfig` builds its pool from.
 *
 * Every option may be a plain value or a `Config` (as `Config.Wrap` allows),
 * or the whole options record may be one `Config`. What the caller leaves
 * unset comes from the current `ConfigProvider` (the environment by
 * default): `DATABASE_URL` as the DSN, read as a secret, then libpq's `PG*`
 * variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
 * `PGSSLMODE`, `PGAPPNAME`, `PGCONNECT_TIMEOUT`, `PGSERVICE`, ...). As in
 * libpq, a `PG*` variable fills only what the DSN and the connection service
 * leave open; options the caller gives win over all of them. A value that cannot be used fails with a `ConfigError` that
 * names the key; secrets (`PGPASSWORD`, `DATABASE_URL`) stay `Redacted` and
 * never appear in a message.
 *
 * ```ts
 * import { Config } from "effect"
 * import { PgPool } from "effect-pg"
 *
 * const PgPoolLive = PgPool.layerConfig({
 *   password: Config.Redacted("APP_DB_PASSWORD"),
 *   maxSize: Config.Int("APP_DB_POOL_SIZE").pipe(Config.withDefault(10))
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Connection from "../Connection.js"
import { parseDsn, type ParsedDsn } from "../connection/dsn.js"
import { findService } from "../connection/optionService.js"
import { channelBindings, nodeFileSystem, sslModes, targetSessionAttrsValues } from "../connection/optionTypes.js"

/**
 * What `layerConfig` takes: one `Config` of all the options, or the options
 * record with each field a plain value or a `Config` (`Config.Wrap`).
 */
export type OptionsInput<O> =
  | Config.Config<O>
  | { readonly [K in keyof O]?: O[K] | Config.Wrap<O[K]> }

/** A config failure naming the key and what was expected (never the value). */
const invalid = (key: string, expected: string): Config.ConfigError =>
  new Config.ConfigError(new ConfigProvider.SourceError({ message: `invalid ${key}: expected ${expected}` }))

/** An optional string variable, validated and converted by `parse` (undefined = unusable). */
const optional = <A>(key: string, expected: string, parse: (s: string) => A | undefined): Config.Config<A | undefined> =>
  Config.option(Config.String(key)).pipe(
    Config.mapEffect((o) => {
      if (Option.isNone(o)) return Effect.succeed(undefined)
      const value = parse(o.value.trim())
      return value === undefined ? Effect.fail(invalid(key, expected)) : Effect.succeed(value)
    })
  )

const text = (key: string) => optional(key, "a string", (s) => (s === "" ? undefined : s))

const oneOf = <L extends string>(key: string, values: ReadonlyArray<L>) =>
  optional(key, `one of ${values.join(", ")}`, (s) => (values as ReadonlyArray<string>).includes(s) ? (s as L) : undefined)

const secret = (key: string): Config.Config<Redacted.Redacted<string> | undefined> =>
  Config.option(Config.Redacted(key)).pipe(Config.map(Option.getOrUndefined))

const isPort = (s: string): boolean => /^\d{1,5}$/.test(s) && Number(s) >= 1 && Number(s) <= 65535

/** `PGPORT`: one port, or one per host (`5432,5433`). */
const ports = optional("PGPORT", "a port number 1-65535, or a comma-separated list of them", (s) => {
  const parts = s.split(",").map((p) => p.trim())
  if (!parts.every(isPort)) return undefined
  return parts.length === 1 ? Number(parts[0]) : parts.map(Number)
})

/** `PGHOST`: one host, or a comma-separated list tried in order. */
const hosts = optional("PGHOST", "a host name, IP address or socket directory, or a comma-separated list", (s) => {
  const parts = s.split(",").map((p) => p.trim())
  if (parts.some((p) => p === "")) return undefined
  return parts.length === 1 ? parts[0]! : parts
})

/** `PGCONNECT_TIMEOUT`, libpq's seconds: 0 or less waits forever, the minimum is 2. */
const connectTimeout = optional("PGCONNECT_TIMEOUT", "a whole number of seconds", (s) => {
  if (!/^-?\d+$/.test(s)) return undefined
  const seconds = Number(s)
  return seconds <= 0 ? 0 : Math.max(seconds, 2) * 1000
})

const tlsVersions = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const

/** libpq variables: the option each one sets and the DSN keyword that, when present, wins over it. */
const libpqVariables = {
  host: { keyword: "host", config: hosts },
  port: { keyword: "port", config: ports },
  user: { keyword: "user", config: text("PGUSER") },
  password: { keyword: "password", config: secret("PGPASSWORD") },
  database: { keyword: "dbname", config: text("PGDATABASE") },
  passfile: { keyword: "passfile", config: text("PGPASSFILE") },
  service: { keyword: "service", config: text("PGSERVICE") },
  servicefile: { keyword: "servicefile", config: text("PGSERVICEFILE") },
  sslmode: { keyword: "sslmode", config: oneOf("PGSSLMODE", sslModes) },
  sslrootcert: { keyword: "sslrootcert", config: text("PGSSLROOTCERT") },
  sslcert: { keyword: "sslcert", config: text("PGSSLCERT") },
  sslkey: { keyword: "sslkey", config: text("PGSSLKEY") },
  sslcrl: { keyword: "sslcrl", config: text("PGSSLCRL") },
  sslMinProtocolVersion: { keyword: "ssl_min_protocol_version", config: oneOf("PGSSLMINPROTOCOLVERSION", tlsVersions) },
  sslMaxProtocolVersion: { keyword: "ssl_max_protocol_version", config: oneOf("PGSSLMAXPROTOCOLVERSION", tlsVersions) },
  applicationName: { keyword: "application_name", config: text("PGAPPNAME") },
  connectTimeout: { keyword: "connect_timeout", config: connectTimeout },
  targetSessionAttrs: { keyword: "target_session_attrs", config: oneOf("PGTARGETSESSIONATTRS", targetSessionAttrsValues) },
  channelBinding: { keyword: "channel_binding", config: oneOf("PGCHANNELBINDING", channelBindings) }
} as const

type LibpqField = keyof typeof libpqVariables

/** Options as the environment gives them: `DATABASE_URL` and the `PG*` variables (see the module docs). */
export interface EnvOptions {
  /** `DATABASE_URL`, kept secret */
  readonly dsn: Redacted.Redacted<string> | undefined
  /** `PGOPTIONS`: the startup `options` setting (`-c search_path=app`) */
  readonly options: string | undefined
  /** one field per `PG*` variable; unset ones are `undefined` */
  readonly variables: { readonly [K in LibpqField]: Config.Success<(typeof libpqVariables)[K]["config"]> }
}

const variableConfigs = Object.fromEntries(
  Object.entries(libpqVariables).map(([field, v]) => [field, v.config])
) as { readonly [K in LibpqField]: (typeof libpqVariables)[K]["config"] }

/** `DATABASE_URL` and libpq's `PG*` variables from the current ConfigProvider. */
export const envOptions: Config.Config<EnvOptions> = Config.all({
  dsn: secret("DATABASE_URL"),
  options: text("PGOPTIONS"),
  variables: Config.all(variableConfigs)
}) as Config.Config<EnvOptions>

/** The parsed DSN (nothing when it does not parse: connecting then reports that, typed). */
const parsed = (dsn: string | Redacted.Redacted<string> | undefined): ParsedDsn | undefined => {
  if (dsn === undefined) return undefined
  try {
    return parseDsn(Redacted.isRedacted(dsn) ? Redacted.value(dsn) : dsn)
  } catch {
    return undefined
  }
}

/** The libpq keywords a DSN sets. */
const dsnKeywords = (dsn: ParsedDsn | undefined): Set<string> => {
  if (dsn === undefined) return new Set()
  const keys = new Set(dsn.params.keys())
  if (keys.has("hostaddr")) keys.add("host")
  if (dsn.hosts !== undefined) {
    keys.add("host")
    if (dsn.hosts.some((h) => h.port !== undefined)) keys.add("port")
  }
  return keys
}

/**
 * The libpq keywords the named connection service sets (they rank above the
 * `PG*` variables); nothing when it cannot be read: connecting then reports that, typed.
 */
const serviceKeywords = (service: string | undefined, servicefile: string | undefined): ReadonlySet<string> => {
  if (service === undefined) return new Set()
  try {
    return new Set(findService(service, servicefile, nodeFileSystem, process.env).params.keys())
  } catch {
    return new Set()
  }
}

/** Options the caller gave, environment values under them where the caller and the DSN are silent. */
const merge = <O extends Connection.ConnectOptions>(given: O, env: EnvOptions): O => {
  const out: Record<string, unknown> = {}
  const dsn = given.dsn ?? env.dsn
  if (dsn !== undefined) out["dsn"] = dsn
  const parsedDsn = parsed(dsn)
  const fromDsn = dsnKeywords(parsedDsn)
  const named = (field: "service" | "servicefile"): string | undefined =>
    given[field] ?? parsedDsn?.params.get(field) ?? env.variables[field]
  const fromService = serviceKeywords(named("service"), named("servicefile"))
  for (const field of Object.keys(libpqVariables) as Array<LibpqField>) {
    const value = env.variables[field]
    const keyword = libpqVariables[field].keyword
    if (value === undefined || fromDsn.has(keyword) || fromService.has(keyword)) continue
    out[field] = value
  }
  if (
    env.options !== undefined && !fromDsn.has("options") && !fromService.has("options") &&
    given.serverSettings?.["options"] === undefined
  ) {
    out["serverSettings"] = { options: env.options, ...given.serverSettings }
  }
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined && key !== "serverSettings") out[key] = value
  }
  if (given.serverSettings !== undefined && out["serverSettings"] === undefined) out["serverSettings"] = given.serverSettings
  return out as O
}

const isPlainRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && (Object.getPrototypeOf(u) === Object.prototype || Object.getPrototypeOf(u) === null)

const hasConfig = (u: unknown): boolean =>
  Config.isConfig(u) || (isPlainRecord(u) && Object.values(u).some(hasConfig))

/** `Config.unwrap` that also takes plain values (functions, Durations, TLS options) as they are. */
const unwrap = (input: unknown): Config.Config<unknown> => {
  if (Config.isConfig(input)) return input
  if (isPlainRecord(input) && hasConfig(input)) {
    return Config.all(Object.fromEntries(Object.entries(input).map(([k, v]) => [k, unwrap(v)])))
  }
  return Config.succeed(input)
}

/**
 * The options `input` describes, read from the current ConfigProvider, with
 * `DATABASE_URL` and the `PG*` variables under them (see the module docs).
 */
export const options = <O extends Connection.ConnectOptions>(input: OptionsInput<O> = {}): Config.Config<O> =>
  Config.all({ given: unwrap(input) as Config.Config<O>, env: envOptions }).pipe(
    Config.map(({ env, given }) => merge(given, env))
  )
