/**
 * DSN parsing: a `postgres://` / `postgresql://` URL or a libpq
 * `key=value` string into libpq keywords, without interpreting the values.
 *
 * Internal: not exported by the package.
 */
import { DsnError } from "./optionTypes.js"

// ---------------------------------------------------------------------------
// DSN parsing into libpq keywords
// ---------------------------------------------------------------------------

/** A host from a DSN, with the port written next to it in a URL (`h:5433`). */
export interface HostSpec {
  readonly host: string
  readonly port?: string
}

/** A parsed DSN: libpq keywords plus URL hosts that carry their own ports. */
export interface ParsedDsn {
  /** Hosts from the URL authority (URL form only). */
  readonly hosts?: ReadonlyArray<HostSpec>
  /** libpq keyword → value (`host`, `port`, `dbname`, `user`, `sslmode`, ...). */
  readonly params: ReadonlyMap<string, string>
}

/** Parses a DSN (URL or `key=value` form) without interpreting the values. */
export const parseDsn = (dsn: string): ParsedDsn => {
  const trimmed = dsn.trim()
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) return parseUrl(trimmed)
  if (trimmed === "") return { params: new Map() }
  if (!trimmed.includes("=")) {
    throw new DsnError("invalid DSN: expected a postgres:// URL or key=value pairs")
  }
  return { params: parseKeyValue(trimmed) }
}

const decode = (s: string, what: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    throw new DsnError(`invalid connection URL: bad percent-encoding in the ${what}`)
  }
}

const parseUrl = (dsn: string): ParsedDsn => {
  const schemeEnd = dsn.indexOf("://")
  const scheme = dsn.slice(0, schemeEnd).toLowerCase()
  if (scheme !== "postgres" && scheme !== "postgresql") {
    throw new DsnError(
      `invalid connection URL: the scheme must be "postgres" or "postgresql", got "${scheme}"`
    )
  }
  const rest = dsn.slice(schemeEnd + 3)
  const q = rest.indexOf("?")
  const beforeQuery = q === -1 ? rest : rest.slice(0, q)
  const query = q === -1 ? "" : rest.slice(q + 1)
  // The user info ends at the last "@": unencoded "@" in a password still works.
  const at = beforeQuery.lastIndexOf("@")
  const userInfo = at === -1 ? "" : beforeQuery.slice(0, at)
  const afterAt = beforeQuery.slice(at + 1)
  const slash = afterAt.indexOf("/")
  const hostPart = slash === -1 ? afterAt : afterAt.slice(0, slash)
  const path = slash === -1 ? "" : afterAt.slice(slash + 1)

  const params = new Map<string, string>()
  if (userInfo !== "") {
    const colon = userInfo.indexOf(":")
    const user = decode(colon === -1 ? userInfo : userInfo.slice(0, colon), "user name")
    if (user !== "") params.set("user", user)
    if (colon !== -1) {
      const password = decode(userInfo.slice(colon + 1), "password")
      if (password !== "") params.set("password", password)
    }
  }
  if (path !== "") params.set("dbname", decode(path, "database name"))

  // As libpq: query parameters override the authority and the path (asyncpg lets the authority win).
  for (const [key, value] of parseQuery(query)) params.set(key === "database" ? "dbname" : key, value)

  const hosts = hostPart === "" ? undefined : parseHostList(hostPart)
  if (hosts === undefined) return { params }
  if (params.has("host")) {
    // host= replaces the authority's hosts; ports written there still form the port list (libpq)
    if (!params.has("port") && hosts.some((h) => h.port !== undefined)) {
      params.set("port", hosts.map((h) => h.port ?? "").join(","))
    }
    return { params }
  }
  // port= replaces the ports written next to the hosts (libpq); once some host has a port, a host
  // without one gets 5432, not PGPORT (libpq's port list from "h1,h2:5433" is ",5433")
  if (params.has("port")) return { hosts: hosts.map(({ host }) => ({ host })), params }
  const anyPort = hosts.some((h) => h.port !== undefined)
  return { hosts: anyPort ? hosts.map((h) => ({ host: h.host, port: h.port ?? "5432" })) : hosts, params }
}

const parseQuery = (query: string): Array<[string, string]> => {
  if (query === "") return []
  return query.split("&").filter((p) => p !== "").map((pair) => {
    const eq = pair.indexOf("=")
    if (eq <= 0) {
      throw new DsnError("invalid connection URL: query parameters must have the form key=value")
    }
    const key = decode(pair.slice(0, eq), "query parameter name")
    return [key, decode(pair.slice(eq + 1), `value of query parameter "${key}"`)]
  })
}

const parseHostList = (hostPart: string): Array<HostSpec> => hostPart.split(",").map(parseHostSpec)

const parseHostSpec = (spec: string): HostSpec => {
  let host: string
  let port: string | undefined
  if (spec.startsWith("[")) {
    const close = spec.indexOf("]")
    if (close === -1) throw new DsnError("invalid connection URL: missing \"]\" after an IPv6 address")
    host = decode(spec.slice(1, close), "host")
    const after = spec.slice(close + 1)
    if (after !== "" && !after.startsWith(":")) {
      throw new DsnError("invalid connection URL: unexpected text after an IPv6 address")
    }
    port = after === "" ? undefined : after.slice(1)
  } else {
    const parts = spec.split(":")
    if (parts.length > 2) {
      throw new DsnError("invalid connection URL: IPv6 addresses must be written in brackets, e.g. [::1]:5432")
    }
    host = decode(parts[0]!, "host")
    port = parts[1]
  }
  const out: HostSpec = port === undefined || port === "" ? { host } : { host, port: decode(port, "port") }
  return out
}

/**
 * One entry of a `host` list outside a URL (`host=`, `PGHOST`, the `host`
 * option): a Unix-socket path or a bare IPv6 address is kept as written;
 * `[v6]`, `[v6]:port` and `name:port` are split (as asyncpg; libpq would
 * look the whole text up as a host name and fail).
 */
export const parseHostEntry = (entry: string, origin: string): HostSpec => {
  if (entry.startsWith("/") || entry.startsWith("@")) return { host: entry }
  if (entry.startsWith("[")) {
    const m = /^\[([^\]]+)\](?::(\d*))?$/.exec(entry)
    if (m === null) throw new DsnError(`invalid IPv6 address in the host list in ${origin}: expected [address] or [address]:port`)
    return m[2] === undefined || m[2] === "" ? { host: m[1]! } : { host: m[1]!, port: m[2] }
  }
  const m = /^([^:]*):(\d*)$/.exec(entry)
  if (m === null) return { host: entry }
  return m[2] === "" ? { host: m[1]! } : { host: m[1]!, port: m[2]! }
}

/** Parses libpq's `key = value key2='quoted \' value'` syntax. */
const parseKeyValue = (input: string): Map<string, string> => {
  const params = new Map<string, string>()
  let i = 0
  const n = input.length
  const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c)
  while (i < n) {
    while (isSpace(input[i])) i++
    if (i >= n) break
    const keyStart = i
    while (i < n && input[i] !== "=" && !isSpace(input[i])) i++
    const key = input.slice(keyStart, i)
    while (isSpace(input[i])) i++
    // the word is not echoed: it may be the rest of an unquoted password with a space in it
    if (input[i] !== "=") {
      throw new DsnError(`invalid DSN: missing "=" after the word at character ${keyStart + 1} (quote values that contain spaces)`)
    }
    i++
    while (isSpace(input[i])) i++
    let value = ""
    if (input[i] === "'") {
      i++
      let closed = false
      while (i < n) {
        const c = input[i]!
        if (c === "\\" && i + 1 < n) {
          value += input[i + 1]
          i += 2
        } else if (c === "'") {
          closed = true
          i++
          break
        } else {
          value += c
          i++
        }
      }
      if (!closed) throw new DsnError(`invalid DSN: unterminated quoted value for "${key}"`)
    } else {
      while (i < n && !isSpace(input[i])) {
        if (input[i] === "\\" && i + 1 < n) i++
        value += input[i]
        i++
      }
    }
    params.set(key === "database" ? "dbname" : key, value)
  }
  return params
}
