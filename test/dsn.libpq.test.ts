/**
 * Connection-option cases from asyncpg's tests/test_connect.py
 * (TestConnectParams), as libpq resolves them. Where asyncpg differs from
 * libpq, the test follows libpq and says so.
 */
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as nodeFs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { resolveOptions } from "../src/connection/connectOptions.js"
import {
  type ConnectInput,
  DsnError,
  type DsnFileSystem,
  resolveConnectOptions,
  type ResolvedConnectOptions
} from "../src/connection/options.js"

type FakeFile = string | { readonly text: string; readonly mode?: number; readonly isFile?: boolean }

/** A fake file system: files (mode 0600 unless given), a home and an OS user. */
const fakeFs = (files: Record<string, FakeFile> = {}): DsnFileSystem => {
  const entry = (p: string) => {
    const f = files[p]
    return f === undefined ? undefined : typeof f === "string" ? { text: f } : f
  }
  return {
    readFile: (p) => (entry(p)?.isFile === false ? undefined : entry(p)?.text),
    homedir: () => "/home/me",
    fileMode: (p) => (entry(p) === undefined ? undefined : entry(p)!.mode ?? 0o600),
    isFile: (p) => (entry(p) === undefined ? undefined : entry(p)!.isFile ?? true),
    exists: (p) => entry(p) !== undefined,
    username: () => "osuser"
  }
}

const resolve = (input: ConnectInput, env: Record<string, string> = {}, fs: DsnFileSystem = fakeFs()) =>
  resolveConnectOptions(input, env, fs)

const pw = (r: ResolvedConnectOptions) => (r.password === undefined ? undefined : Redacted.value(r.password))
const hostPorts = (r: ResolvedConnectOptions) => r.addresses.map((a) => (a.kind === "unix" ? a.path : [a.host, a.port]))

/** The DsnError thrown by `f`, checked to hold no secret. */
const dsnError = (f: () => unknown, secret = "s3cr3t"): string => {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(DsnError)
    expect((e as Error).message).not.toContain(secret)
    return (e as Error).message
  }
  throw new Error("expected a DsnError")
}

describe("explicit ssl beats the DSN and the environment", () => {
  it("ssl: true is verify-full over sslmode=disable in the DSN (params_settings_and_ssl_override_dsn)", () => {
    const r = resolve({
      dsn: "postgresql://user3:123123@localhost:5555/abcdef?param=sss&param=123&host=testhost&user=testuser" +
        "&port=2222&database=testdb&sslmode=disable",
      host: "127.0.0.1",
      port: 888,
      user: "me",
      password: "ask",
      database: "db",
      serverSettings: { aa: "bb" },
      ssl: true
    })
    expect(hostPorts(r)).toEqual([["127.0.0.1", 888]])
    expect([r.user, pw(r), r.database, r.sslmode]).toEqual(["me", "ask", "db", "verify-full"])
    expect(r.serverSettings).toEqual({ aa: "bb", param: "123" })
  })

  it("Node TLS options are not turned off by PGSSLMODE=disable", () => {
    expect(resolve({ host: "h", ssl: { ca: "CA" } }, { PGSSLMODE: "disable" }).sslmode).toBe("verify-full")
    expect(resolve({ host: "h", ssl: { rejectUnauthorized: false } }, { PGSSLMODE: "disable" }).sslmode).toBe("require")
    expect(resolve({ dsn: "postgres://h/db?ssl=true" }, { PGSSLMODE: "allow" }).sslmode).toBe("verify-full")
    expect(resolve({ ssl: true, sslmode: "prefer" }, { PGSSLMODE: "disable" }).sslmode).toBe("prefer")
  })
})

describe("host lists (asyncpg's dsn_*_multi_host cases)", () => {
  it("decodes a percent-encoded IPv6 zone in brackets (dsn_ipv6_multi_host)", () => {
    expect(hostPorts(resolve({ dsn: "postgresql://user@[2001:db8::1234%25eth0],[::1]/db" }))).toEqual([
      ["2001:db8::1234%eth0", 5432],
      ["::1", 5432]
    ])
    expect(hostPorts(resolve({ dsn: "postgresql://user@[2001:db8::1234]:1111,[::1]:2222/db" }))).toEqual([
      ["2001:db8::1234", 1111],
      ["::1", 2222]
    ])
  })

  it("reads [v6], [v6]:port and name:port in host= and PGHOST; keeps bare IPv6 and socket paths", () => {
    expect(hostPorts(resolve({ dsn: "postgresql:///db?user=user&host=[2001:db8::1234],[::1]" }))).toEqual([
      ["2001:db8::1234", 5432],
      ["::1", 5432]
    ])
    expect(hostPorts(resolve({ dsn: "postgresql:///db" }, { PGHOST: "host1:1111,host2:2222", PGUSER: "foo" }))).toEqual([
      ["host1", 1111],
      ["host2", 2222]
    ])
    expect(hostPorts(resolve({ dsn: "postgresql:///db?host=host1:1111,host2:2222" }))).toEqual([
      ["host1", 1111],
      ["host2", 2222]
    ])
    const cloudsql = "postgres:///db?host=127.0.0.1:5432,/cloudsql/project:region:instance-name,localhost:5433&user=spam"
    const r = resolve({ dsn: cloudsql })
    expect(hostPorts(r)).toEqual([
      ["127.0.0.1", 5432],
      "/cloudsql/project:region:instance-name/.s.PGSQL.5432",
      ["localhost", 5433]
    ])
    expect(r.sslmode).toBe("prefer")
    expect(hostPorts(resolve({}, { PGHOST: "::1,fe80::2" }))).toEqual([["::1", 5432], ["fe80::2", 5432]])
    expect(hostPorts(resolve({ host: ["[::1]:6000", "h:6001"] }))).toEqual([["::1", 6000], ["h", 6001]])
    expect(hostPorts(resolve({ host: "h:6001", port: 7000 }))).toEqual([["h", 7000]])
    expect(dsnError(() => resolve({ dsn: "host=[::1" }))).toMatch(/invalid IPv6 address in the host list in the DSN/)
  })

  it("keeps the authority's ports when host= replaces its hosts", () => {
    expect(hostPorts(resolve({ dsn: "postgres://u@h:5433/db?host=/tmp" }))).toEqual(["/tmp/.s.PGSQL.5433"])
    expect(hostPorts(resolve({ dsn: "postgres://user@?port=56226&host=%2Ftmp" }))).toEqual(["/tmp/.s.PGSQL.56226"])
  })
})

describe("password file (test_connect_pgpass_*)", () => {
  const pgpass = "abc:*:*:user:password from pgpass for user@abc\n"
  const input = { host: "abc", user: "user", database: "db", passfile: "/p" }

  it("warns about a group- or world-accessible file and does not read it (badness_mode)", () => {
    const r = resolve(input, {}, fakeFs({ "/p": { text: pgpass, mode: 0o660 } }))
    expect(pw(r)).toBeUndefined()
    expect(r.warnings).toEqual([
      `password file "/p" has group or world access; permissions should be u=rw (0600) or less`
    ])
    // a missing file is no warning; a private one is read
    expect(resolve(input, {}, fakeFs()).warnings).toBeUndefined()
    const ok = resolve(input, {}, fakeFs({ "/p": pgpass }))
    expect([pw(ok), ok.warnings]).toEqual(["password from pgpass for user@abc", undefined])
  })

  it("warns about a path that is not a plain file (badness_non_file)", () => {
    const r = resolve(input, {}, fakeFs({ "/p": { text: "", mode: 0o700, isFile: false } }))
    expect(pw(r)).toBeUndefined()
    expect(r.warnings).toEqual([`password file "/p" is not a plain file`])
  })

  it("is logged at warning level by connect()'s option resolution", async () => {
    const dir = nodeFs.mkdtempSync(path.join(os.tmpdir(), "pgpass-"))
    const file = path.join(dir, "pgpass")
    nodeFs.writeFileSync(file, "*:*:*:*:s3cr3t\n", { mode: 0o644 })
    nodeFs.chmodSync(file, 0o644)
    const logged: Array<[string, string]> = []
    const capture = Logger.make((o) => {
      logged.push([o.logLevel, String(o.message)])
    })
    try {
      const r = await Effect.runPromise(
        resolveOptions({ host: "h", user: "u", passfile: file }).pipe(Effect.provide(Logger.layer([capture])))
      )
      expect(r.password).toBeUndefined()
      expect(logged).toEqual([["Warn", `password file "${file}" has group or world access; permissions should be u=rw (0600) or less`]])
    } finally {
      nodeFs.rmSync(dir, { recursive: true })
    }
  })
})

describe("connection service file (test_connect_connection_service_file)", () => {
  const serviceFile = [
    "# services",
    "[test_service_dbname]",
    "port=5433",
    "host=somehost",
    "dbname=test_dbname",
    "user=admin",
    "password=test_password",
    "target_session_attrs=primary",
    "krbsrvname=fakekrbsrvname",
    "gsslib=sspi",
    "",
    "[test_service_database]",
    "port=5433",
    "host=somehost",
    "database=test_dbname",
    "user=admin",
    "target_session_attrs=primary",
    "",
    "[broken]",
    "host somewhere s3cr3t"
  ].join("\n")
  const fs = fakeFs({ "/svc.conf": serviceFile, "/home/me/.pg_service.conf": "[mine]\nhost=myhost\n" })
  const env = { PGSERVICEFILE: "/svc.conf" }
  const summary = (r: ResolvedConnectOptions) => [hostPorts(r), r.user, pw(r), r.database, r.targetSessionAttrs]
  const expected = [[["somehost", 5433]], "admin", "test_password", "test_dbname", "primary"]

  it("reads the service named in the DSN, with dbname or database", () => {
    expect(summary(resolve({ dsn: "postgresql://?service=test_service_dbname" }, env, fs))).toEqual(expected)
    const d = resolve({ dsn: "postgresql://?service=test_service_database" }, env, fs)
    expect([hostPorts(d), d.user, d.database]).toEqual([[["somehost", 5433]], "admin", "test_dbname"])
  })

  it("ranks below the DSN and explicit options, above PG* variables", () => {
    expect(summary(resolve({ dsn: "postgresql://?service=test_service_dbname" }, { ...env, PGUSER: "user" }, fs)))
      .toEqual(expected)
    const r = resolve({ dsn: "postgresql://?service=test_service_dbname&dbname=test_dbname_dsn", user: "me" }, env, fs)
    expect([r.user, r.database]).toEqual(["me", "test_dbname_dsn"])
  })

  it("takes the service and the file from PGSERVICE, servicefile= or the options; ~/.pg_service.conf by default", () => {
    expect(summary(resolve({}, { ...env, PGSERVICE: "test_service_dbname" }, fs))).toEqual(expected)
    expect(summary(resolve({ dsn: "service=test_service_dbname servicefile=/svc.conf" }, {}, fs))).toEqual(expected)
    expect(summary(resolve({ service: "test_service_dbname", servicefile: "/svc.conf" }, {}, fs))).toEqual(expected)
    expect(hostPorts(resolve({ service: "mine" }, {}, fs))).toEqual([["myhost", 5432]])
    const sys = fakeFs({ "/etc/pg/pg_service.conf": "[sys]\nhost=syshost\n" })
    expect(hostPorts(resolve({ service: "sys" }, { PGSYSCONFDIR: "/etc/pg" }, sys))).toEqual([["syshost", 5432]])
  })

  it("fails for an unknown service or a malformed section, without echoing the line", () => {
    expect(dsnError(() => resolve({ service: "nope" }, env, fs))).toBe(`definition of service "nope" not found`)
    expect(dsnError(() => resolve({ service: "broken" }, env, fs))).toBe(`syntax error in service file "/svc.conf", line 20`)
  })
})

describe("verify-full without a root certificate (test_connection_no_home_dir)", () => {
  it("names the missing file in libpq's words, with or without a home directory", () => {
    expect(dsnError(() => resolve({ host: "localhost", ssl: "verify-full" }))).toMatch(
      /^root certificate file "\/home\/me\/\.postgresql\/root\.crt" does not exist/
    )
    const noHome: DsnFileSystem = { ...fakeFs(), homedir: () => { throw new Error("no home") } }
    expect(dsnError(() => resolve({ host: "localhost", ssl: "verify-full" }, {}, noHome))).toMatch(
      /^root certificate file "~\/\.postgresql\/root\.crt" does not exist/
    )
  })
})

describe("secrets stay out of key=value syntax errors", () => {
  it("does not echo the word after an unquoted password with a space", () => {
    expect(dsnError(() => resolve({ dsn: "host=h password=abc s3cr3t" }))).toBe(
      `invalid DSN: missing "=" after the word at character 21 (quote values that contain spaces)`
    )
  })
})
