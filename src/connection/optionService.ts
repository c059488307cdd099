/**
 * The connection service file (`pg_service.conf`), as libpq reads it: the
 * service named by `service` (explicit option, DSN, `PGSERVICE`) is looked
 * up in `servicefile` / `PGSERVICEFILE` / `~/.pg_service.conf`, then in
 * `$PGSYSCONFDIR/pg_service.conf` (default `/etc/postgresql-common`); its
 * settings rank below the DSN and above the `PG*` variables.
 *
 * Internal: not exported by the package.
 */
import { fromParams, pick, type Source } from "./optionSources.js"
import { DsnError, type DsnFileSystem, type Env } from "./optionTypes.js"
import { safeHome } from "./pgpass.js"

/**
 * The settings of `service` in a service file's text (libpq keyword →
 * value, the first value of a key wins), or `undefined` when the file has
 * no `[service]` section. `database` is read as `dbname` (as asyncpg).
 *
 * @throws DsnError on a malformed line of that section (line number only, never its text)
 */
export const parseServiceSection = (
  text: string,
  service: string,
  file: string
): Map<string, string> | undefined => {
  let inGroup = false
  let found = false
  const params = new Map<string, string>()
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === "" || line.startsWith("#")) continue
    if (line.startsWith("[")) {
      if (found) break
      inGroup = line.startsWith(`[${service}]`)
      found = inGroup
      continue
    }
    if (!inGroup) continue
    const eq = line.indexOf("=")
    if (eq === -1) throw new DsnError(`syntax error in service file "${file}", line ${i + 1}`)
    const key = line.slice(0, eq).trim()
    if (key === "service" || key === "servicefile") {
      throw new DsnError(`nested "${key}" specifications are not supported in service file "${file}", line ${i + 1}`)
    }
    const k = key === "database" ? "dbname" : key
    if (!params.has(k)) params.set(k, line.slice(eq + 1))
  }
  return found ? params : undefined
}

/** `~/.pg_service.conf` (`%APPDATA%\postgresql\.pg_service.conf` on Windows). */
const userServiceFile = (fs: DsnFileSystem, env: Env): string | undefined => {
  if (process.platform === "win32") {
    const appData = env["APPDATA"]
    return appData ? `${appData}\\postgresql\\.pg_service.conf` : undefined
  }
  const home = safeHome(fs)
  return home === undefined ? undefined : `${home.replace(/\/+$/, "")}/.pg_service.conf`
}

/** libpq's system-wide file: `$PGSYSCONFDIR/pg_service.conf` (Debian's libpq default without it). */
const systemServiceFile = (env: Env): string =>
  `${(env["PGSYSCONFDIR"] || "/etc/postgresql-common").replace(/\/+$/, "")}/pg_service.conf`

/**
 * The settings of `service` and the file that defines it: `servicefile`
 * (else `~/.pg_service.conf`) first, then the system-wide file.
 *
 * @throws DsnError when the service is defined in no file, or its section is malformed
 */
export const findService = (
  service: string,
  servicefile: string | undefined,
  fs: DsnFileSystem,
  env: Env
): { readonly params: Map<string, string>; readonly file: string } => {
  for (const file of [servicefile ?? userServiceFile(fs, env), systemServiceFile(env)]) {
    const text = file === undefined ? undefined : fs.readFile(file)
    if (file === undefined || text === undefined) continue
    const params = parseServiceSection(text, service, file)
    if (params !== undefined) return { params, file }
  }
  throw new DsnError(`definition of service "${service}" not found`)
}

/**
 * The settings of the named service as a {@link Source}, or `undefined`
 * when no service is named by `sources`.
 *
 * @throws DsnError when the service is defined in no file, or its section is malformed
 */
export const serviceSource = (
  sources: ReadonlyArray<Source>,
  fs: DsnFileSystem,
  env: Env
): Source | undefined => {
  const service = pick(sources, "service")
  if (service === undefined) return undefined
  const { file, params } = findService(service, pick(sources, "servicefile"), fs, env)
  return fromParams(params, `service "${service}" in "${file}"`, undefined, true)
}
