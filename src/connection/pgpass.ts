/**
 * The password file (`passfile`, `PGPASSFILE`, `~/.pgpass`): where it is,
 * reading it only when it is private (as libpq), parsing its lines and
 * finding the password of a host, port, database and user.
 *
 * Internal: not exported by the package.
 */
import { isUnixHost, type DsnFileSystem, type Env } from "./optionTypes.js"

// --- password file ---------------------------------------------------------

/** One field of a password-file line: its unescaped text, and whether it was a bare `*`. */
interface PassField {
  readonly value: string
  readonly wildcard: boolean
}

/** One line of a password file. */
export interface PassEntry {
  readonly host: PassField
  readonly port: PassField
  readonly database: PassField
  readonly user: PassField
  readonly password: string
}

/** Splits one line into fields at unescaped `:`; `\\x` stands for `x`. */
const splitPassLine = (line: string): Array<PassField> => {
  const fields: Array<PassField> = []
  let value = ""
  let raw = ""
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === "\\" && i + 1 < line.length) {
      value += line[i + 1]
      raw += c + line[i + 1]
      i++
    } else if (c === ":") {
      fields.push({ value, wildcard: raw === "*" })
      value = ""
      raw = ""
    } else {
      value += c
      raw += c
    }
  }
  fields.push({ value, wildcard: raw === "*" })
  return fields
}

/**
 * Parses password-file text (`host:port:database:user:password` lines, `*`
 * wildcards, `\\:` and `\\\\` escapes, `#` comments). Lines with fewer than
 * five fields are skipped; the password ends at the next unescaped `:`, as in libpq.
 */
export const parsePassfile = (text: string): Array<PassEntry> => {
  const entries: Array<PassEntry> = []
  for (const rawLine of text.split("\n")) {
    const line = rawLine.replace(/\r$/, "")
    if (line === "" || line.startsWith("#")) continue
    const f = splitPassLine(line)
    if (f.length < 5) continue
    entries.push({ host: f[0]!, port: f[1]!, database: f[2]!, user: f[3]!, password: f[4]!.value })
  }
  return entries
}

const fieldMatches = (f: PassField, candidates: ReadonlyArray<string>): boolean =>
  f.wildcard || candidates.includes(f.value)

/** The password of the first matching entry; a Unix socket also matches `localhost`. */
export const lookupPassword = (
  entries: ReadonlyArray<PassEntry>,
  host: string,
  port: number,
  database: string,
  user: string
): string | undefined => {
  const hostNames = isUnixHost(host) ? ["localhost", host] : [host]
  const e = entries.find((e) =>
    fieldMatches(e.host, hostNames) &&
    fieldMatches(e.port, [String(port)]) &&
    fieldMatches(e.database, [database]) &&
    fieldMatches(e.user, [user])
  )
  return e?.password
}

export const defaultPassfile = (fs: DsnFileSystem, env: Env): string | undefined => {
  if (process.platform === "win32") {
    const appData = env["APPDATA"]
    return appData ? `${appData}\\postgresql\\pgpass.conf` : undefined
  }
  const home = safeHome(fs)
  return home === undefined ? undefined : `${home.replace(/\/+$/, "")}/.pgpass`
}

export const safeHome = (fs: DsnFileSystem): string | undefined => {
  try {
    const home = fs.homedir()
    return home === "" ? undefined : home
  } catch {
    return undefined
  }
}

/**
 * Reads the password file; `undefined` when missing, not a plain file or
 * group/world accessible. As libpq, the last two are reported through
 * `warn` (the path only, never the contents).
 */
export const readPassfile = (
  fs: DsnFileSystem,
  path: string,
  warn: (message: string) => void = () => {}
): Array<PassEntry> | undefined => {
  if (fs.isFile !== undefined) {
    const isFile = fs.isFile(path)
    if (isFile === undefined) return undefined
    if (!isFile) {
      warn(`password file "${path}" is not a plain file`)
      return undefined
    }
  }
  if (process.platform !== "win32" && fs.fileMode !== undefined) {
    const mode = fs.fileMode(path)
    if (mode === undefined) return undefined
    if ((mode & 0o077) !== 0) {
      warn(`password file "${path}" has group or world access; permissions should be u=rw (0600) or less`)
      return undefined
    }
  }
  const text = fs.readFile(path)
  return text === undefined ? undefined : parsePassfile(text)
}
