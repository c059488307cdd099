import * as Redacted from "effect/Redacted"
import * as util from "node:util"
import { describe, expect, it } from "vitest"
import {
  type ConnectInput,
  describeTarget,
  DsnError,
  type DsnFileSystem,
  lookupPassword,
  parseDsn,
  parsePassfile,
  passwordFor,
  resolveConnectOptions,
  type ResolvedConnectOptions,
  tlsOptionsFor
} from "../src/connection/options.js"

/** A fake file system: files with modes, existing directories, a home and an OS user. */
const fakeFs = (
  files: Record<string, string | { readonly text: string; readonly mode: number }> = {},
  dirs: ReadonlyArray<string> = [],
  user = "osuser"
): DsnFileSystem => {
  const entry = (p: string) => {
    const f = files[p]
    return f === undefined ? undefined : typeof f === "string" ? { text: f, mode: 0o600 } : f
  }
  return {
    readFile: (p) => entry(p)?.text,
    homedir: () => "/home/me",
    fileMode: (p) => entry(p)?.mode,
    exists: (p) => dirs.includes(p) || entry(p) !== undefined,
    username: () => user
  }
}

const resolve = (input: ConnectInput, env: Record<string, string> = {}, fs: DsnFileSystem = fakeFs()) =>
  resolveConnectOptions(input, env, fs)

const pw = (r: ResolvedConnectOptions) => (r.password === undefined ? undefined : Redacted.value(r.password))

/** Expects a DsnError whose message matches and does not contain `secret`. */
const expectDsnError = (f: () => unknown, message: RegExp, secret = "s3cr3t") => {
  let error: unknown
  try {
    f()
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(DsnError)
  expect((error as Error).message).toMatch(message)
  expect((error as Error).message).not.toContain(secret)
}

describe("URL DSN", () => {
  it("parses user, password, host, port, database and sslmode", () => {
    const r = resolve({ dsn: "postgres://alice:p%40ss%2Fw@db.example.com:5433/my%20db?sslmode=disable" })
    expect(r.addresses).toEqual([{ host: "db.example.com", port: 5433, kind: "tcp" }])
    expect(r.user).toBe("alice")
    expect(pw(r)).toBe("p@ss/w")
    expect(r.database).toBe("my db")
    expect(r.sslmode).toBe("disable")
  })

  it("accepts postgresql:// and any scheme case", () => {
    expect(resolve({ dsn: "postgresql://h/db" }).addresses[0]!.host).toBe("h")
    expect(resolve({ dsn: "PostgreSQL://h/db" }).database).toBe("db")
  })

  it("keeps an unencoded @ in the password", () => {
    const r = resolve({ dsn: "postgres://bob:a@b@host/db" })
    expect(r.user).toBe("bob")
    expect(pw(r)).toBe("a@b")
    expect(r.addresses[0]!.host).toBe("host")
  })

  it("parses several hosts, each with or without a port", () => {
    const r = resolve({ dsn: "postgres://h1:5432,h2:5433,h3/db" })
    expect(r.addresses.map((a) => [a.host, a.port])).toEqual([["h1", 5432], ["h2", 5433], ["h3", 5432]])
    expect(describeTarget(r)).toBe("h1:5432, h2:5433, h3:5432")
  })

  it("gives hosts without a port 5432 once another host has one; port= replaces them all (libpq)", () => {
    expect(resolve({ dsn: "postgres://h1,h2:5433/db?port=6000" }).addresses.map((a) => a.port)).toEqual([6000, 6000])
    expect(resolve({ dsn: "postgres://h1,h2:5433/db" }, { PGPORT: "7000" }).addresses.map((a) => a.port)).toEqual([
      5432,
      5433
    ])
    expect(resolve({ dsn: "postgres://h1,h2/db" }, { PGPORT: "7000" }).addresses.map((a) => a.port)).toEqual([7000, 7000])
  })

  it("parses bracketed IPv6 addresses", () => {
    const r = resolve({ dsn: "postgres://[::1]:5433,[fe80::1]/db" })
    expect(r.addresses.map((a) => [a.host, a.port])).toEqual([["::1", 5433], ["fe80::1", 5432]])
    expect(describeTarget(r.addresses[0]!)).toBe("[::1]:5433")
  })

  it("takes a percent-encoded socket directory as host", () => {
    const r = resolve({ dsn: "postgres://me@%2Fvar%2Frun%2Fpostgresql/db" })
    expect(r.addresses).toEqual([
      { host: "/var/run/postgresql", port: 5432, kind: "unix", path: "/var/run/postgresql/.s.PGSQL.5432" }
    ])
    expect(describeTarget(r)).toBe("/var/run/postgresql/.s.PGSQL.5432")
    expect(r.sslmode).toBe("disable")
  })

  it("takes host= and port= from the query when the authority has no host", () => {
    const r = resolve({ dsn: "postgres:///db?host=/tmp&port=5999" })
    expect(r.addresses).toEqual([{ host: "/tmp", port: 5999, kind: "unix", path: "/tmp/.s.PGSQL.5999" }])
    expect(r.database).toBe("db")
  })

  it("lets query parameters override the authority and the path (libpq; asyncpg lets the authority win)", () => {
    const r = resolve({ dsn: "postgres://u1@h1/db1?host=h2&user=u2&dbname=db2" })
    expect([r.addresses[0]!.host, r.user, r.database]).toEqual(["h2", "u2", "db2"])
    const q = resolve({ dsn: "postgres://h1?user=u2&database=db2&password=x" })
    expect([q.user, q.database, pw(q)]).toEqual(["u2", "db2", "x"])
    // Prisma's idiom: a socket directory in host= beats the authority's localhost
    const s = resolve({ dsn: "postgresql://me:pw@localhost:5433/db?host=/var/run/postgresql" })
    expect(s.addresses).toEqual([
      { host: "/var/run/postgresql", port: 5433, kind: "unix", path: "/var/run/postgresql/.s.PGSQL.5433" }
    ])
  })

  it("maps application_name, connect_timeout, options and unknown parameters", () => {
    const r = resolve({
      dsn: "postgres://h/db?application_name=my%20app&connect_timeout=10&options=-c%20geqo%3Doff&search_path=a,b"
    })
    expect(r.connectTimeoutMs).toBe(10_000)
    expect(r.serverSettings).toEqual({ application_name: "my app", options: "-c geqo=off", search_path: "a,b" })
  })

  it("reads target_session_attrs, channel_binding and TLS versions", () => {
    const r = resolve({
      dsn: "postgres://h/db?target_session_attrs=read-write&channel_binding=require&ssl_min_protocol_version=TLSv1.3"
    })
    expect(r.targetSessionAttrs).toBe("read-write")
    expect(r.channelBinding).toBe("require")
    expect(r.tls.minVersion).toBe("TLSv1.3")
    expect(resolve({ dsn: "postgres://h/db" }).tls.minVersion).toBe("TLSv1.2")
  })

  it("uses fallback_application_name only without application_name", () => {
    expect(resolve({ dsn: "postgres://h/db?fallback_application_name=fb" }).serverSettings).toEqual({
      application_name: "fb"
    })
    expect(
      resolve({ dsn: "postgres://h/db?fallback_application_name=fb" }, { PGAPPNAME: "env" }).serverSettings
    ).toEqual({ application_name: "env" })
  })

  it("ignores harmless libpq options and refuses unsafe ones", () => {
    expect(resolve({ dsn: "postgres://h/db?keepalives=1&gssencmode=disable" }).serverSettings).toEqual({})
    expectDsnError(() => resolve({ dsn: "postgres://h/db?hostaddr=1.2.3.4" }), /"hostaddr" .* not supported/)
    expectDsnError(() => resolve({ dsn: "postgres://h/db?requirepeer=x" }), /"requirepeer" .* not supported/)
  })

  it("does not percent-decode + as space (as libpq)", () => {
    expect(resolve({ dsn: "postgres://h/db?application_name=a+b" }).serverSettings["application_name"]).toBe("a+b")
  })
})

describe("key=value DSN", () => {
  it("parses plain, quoted and escaped values", () => {
    const r = resolve({
      dsn: "host=localhost port = 5433 dbname=mydb user='quoted \\' value' password=s\\ 3 application_name='my app'"
    })
    expect(r.addresses).toEqual([{ host: "localhost", port: 5433, kind: "tcp" }])
    expect(r.database).toBe("mydb")
    expect(r.user).toBe("quoted ' value")
    expect(pw(r)).toBe("s 3")
    expect(r.serverSettings).toEqual({ application_name: "my app" })
  })

  it("splits comma-separated hosts and ports", () => {
    const r = resolve({ dsn: "host=h1,h2 port=5432,5433" })
    expect(r.addresses.map((a) => [a.host, a.port])).toEqual([["h1", 5432], ["h2", 5433]])
  })

  it("accepts an empty quoted value and an empty string", () => {
    expect(parseDsn("password='' user=x").params.get("password")).toBe("")
    expect(parseDsn("").params.size).toBe(0)
  })

  it("reports syntax errors without values", () => {
    expectDsnError(() => resolve({ dsn: "host=h password='s3cr3t" }), /unterminated quoted value for "password"/)
    expectDsnError(() => resolve({ dsn: "host=h s3cr3t" }), /missing "="/, "nothing")
    expectDsnError(() => resolve({ dsn: "just-a-name" }), /expected a postgres:\/\/ URL or key=value/)
  })
})

describe("environment", () => {
  const env = {
    PGHOST: "envhost",
    PGPORT: "6543",
    PGUSER: "envuser",
    PGPASSWORD: "envpass",
    PGDATABASE: "envdb",
    PGSSLMODE: "require",
    PGAPPNAME: "envapp",
    PGCONNECT_TIMEOUT: "7",
    PGOPTIONS: "-c statement_timeout=5s",
    PGTARGETSESSIONATTRS: "standby"
  }

  it("reads PG* variables", () => {
    const r = resolve({}, env)
    expect(r.addresses).toEqual([{ host: "envhost", port: 6543, kind: "tcp" }])
    expect([r.user, pw(r), r.database, r.sslmode]).toEqual(["envuser", "envpass", "envdb", "require"])
    expect(r.serverSettings).toEqual({ application_name: "envapp", options: "-c statement_timeout=5s" })
    expect(r.connectTimeoutMs).toBe(7000)
    expect(r.targetSessionAttrs).toBe("standby")
  })

  it("applies libpq's connect_timeout rules", () => {
    expect(resolve({}, { PGCONNECT_TIMEOUT: "1" }).connectTimeoutMs).toBe(2000)
    expect(resolve({}, { PGCONNECT_TIMEOUT: "0" }).connectTimeoutMs).toBeUndefined()
    expectDsnError(() => resolve({}, { PGCONNECT_TIMEOUT: "soon" }), /connect_timeout "soon" in the environment/)
  })

  it("ignores unsupported variables meant for other tools", () => {
    expect(() => resolve({}, { PGHOSTADDR: "1.2.3.4", PGREQUIREPEER: "x" })).not.toThrow()
  })
})

describe("precedence: explicit > DSN > environment > defaults", () => {
  const env = { PGHOST: "envhost", PGUSER: "envuser", PGPASSWORD: "envpass", PGDATABASE: "envdb", PGSSLMODE: "require" }

  it("lets the DSN override the environment field by field", () => {
    const r = resolve({ dsn: "postgres://dsnuser@dsnhost/dsndb" }, env)
    expect([r.addresses[0]!.host, r.user, pw(r), r.database, r.sslmode]).toEqual([
      "dsnhost",
      "dsnuser",
      "envpass",
      "dsndb",
      "require"
    ])
  })

  it("lets explicit options override the DSN", () => {
    const r = resolve(
      {
        dsn: "postgres://dsnuser:dsnpass@dsnhost:5433/dsndb?sslmode=verify-ca&application_name=dsnapp&search_path=x",
        host: ["a", "b"],
        port: 6000,
        user: "me",
        password: Redacted.make("mine"),
        database: "mydb",
        sslmode: "disable",
        applicationName: "myapp",
        serverSettings: { search_path: "y" },
        connectTimeout: 1500
      },
      env
    )
    expect(r.addresses.map((a) => [a.host, a.port])).toEqual([["a", 6000], ["b", 6000]])
    expect([r.user, pw(r), r.database, r.sslmode]).toEqual(["me", "mine", "mydb", "disable"])
    expect(r.serverSettings).toEqual({ application_name: "myapp", search_path: "y" })
    expect(r.connectTimeoutMs).toBe(1500)
  })

  it("lets an explicit port override ports written next to DSN hosts", () => {
    expect(resolve({ dsn: "postgres://h1:5433,h2:5434/db", port: 7000 }).addresses.map((a) => a.port)).toEqual([
      7000,
      7000
    ])
    expect(resolve({ dsn: "postgres://h1:5433,h2:5434/db", port: [1, 2] }).addresses.map((a) => a.port)).toEqual([1, 2])
  })

  it("drops DSN host ports when explicit hosts are given", () => {
    expect(resolve({ dsn: "postgres://h1:5433/db", host: "x" }).addresses).toEqual([
      { host: "x", port: 5432, kind: "tcp" }
    ])
  })

  it("uses defaults last: socket dirs then localhost, 5432, OS user, database = user", () => {
    const fs = fakeFs({}, ["/var/run/postgresql", "/tmp", "/private/tmp"], "osuser")
    const r = resolve({}, {}, fs)
    expect(r.addresses).toEqual([
      { host: "/var/run/postgresql", port: 5432, kind: "unix", path: "/var/run/postgresql/.s.PGSQL.5432" },
      { host: "/tmp", port: 5432, kind: "unix", path: "/tmp/.s.PGSQL.5432" },
      { host: "localhost", port: 5432, kind: "tcp" }
    ])
    expect([r.user, r.database, r.password, r.sslmode]).toEqual(["osuser", "osuser", undefined, "prefer"])
    expect(r.targetSessionAttrs).toBe("any")
    expect(r.channelBinding).toBe("prefer")
    expect(r.connectTimeoutMs).toBeUndefined()
  })

  it("defaults to localhost when no socket directory exists", () => {
    expect(resolve({}, {}, fakeFs()).addresses).toEqual([{ host: "localhost", port: 5432, kind: "tcp" }])
  })

  it("defaults sslmode to disable when all addresses are Unix sockets", () => {
    expect(resolve({ host: "/tmp" }).sslmode).toBe("disable")
    expect(resolve({ host: ["/tmp", "h"] }).sslmode).toBe("prefer")
  })

  it("maps an empty host to the default socket directory", () => {
    const r = resolve({ dsn: "host=,h2" }, {}, fakeFs({}, ["/run/postgresql"]))
    expect(r.addresses.map((a) => a.host)).toEqual(["/run/postgresql", "h2"])
  })

  it("accepts a full socket path and an abstract socket", () => {
    expect(resolve({ host: "/tmp/.s.PGSQL.6000" }).addresses).toEqual([
      { host: "/tmp/.s.PGSQL.6000", port: 6000, kind: "unix", path: "/tmp/.s.PGSQL.6000" }
    ])
    const a = resolve({ host: "@pg" }).addresses[0]!
    expect(a.path).toBe("\0pg/.s.PGSQL.5432")
    expect(describeTarget(a)).toBe("@pg/.s.PGSQL.5432")
  })

  it("accepts ssl: boolean, mode and Node TLS options", () => {
    expect(resolve({ ssl: false }).sslmode).toBe("disable")
    expect(resolve({ ssl: "require" }).sslmode).toBe("require")
    const t = resolve({ host: "h", ssl: true })
    expect([t.sslmode, t.tls.rejectUnauthorized, t.tls.checkServerIdentity, t.tls.ca]).toEqual([
      "verify-full",
      true,
      true,
      undefined
    ])
    const o = resolve({ host: "h", ssl: { rejectUnauthorized: false, ca: "CA-PEM" } })
    expect(o.sslmode).toBe("require")
    expect(tlsOptionsFor(o, o.addresses[0]!)).toMatchObject({ ca: "CA-PEM", rejectUnauthorized: false })
    expect(resolve({ ssl: true, sslmode: "prefer" }).sslmode).toBe("prefer")
    expect(resolve({ dsn: "postgres://h/db?ssl=true" }).sslmode).toBe("verify-full")
  })
})

describe("password file", () => {
  const pgpass = [
    "# comment",
    "other:5432:*:alice:wrong",
    "db.example.com:5433:app:alice:right",
    "db.example.com:*:*:bob:bobs\\:pass\\\\word",
    "localhost:5432:*:carol:socket",
    "*:*:*:*:fallback",
    "too:few:fields"
  ].join("\n")
  const fs = fakeFs({ "/home/me/.pgpass": pgpass })

  it("parses escapes and wildcards", () => {
    const entries = parsePassfile(pgpass)
    expect(entries).toHaveLength(5)
    expect(entries[2]!.password).toBe("bobs:pass\\word")
    expect(lookupPassword(entries, "x", 1, "d", "zed")).toBe("fallback")
    expect(parsePassfile("\\*:*:*:*:p")[0]!.host).toEqual({ value: "*", wildcard: false })
  })

  it("finds the first matching line for host, port, database and user", () => {
    const r = resolve({ dsn: "postgres://alice@db.example.com:5433/app" }, {}, fs)
    expect(pw(r)).toBe("right")
    expect(pw(resolve({ dsn: "postgres://bob@db.example.com/any" }, {}, fs))).toBe("bobs:pass\\word")
    expect(pw(resolve({ dsn: "postgres://alice@db.example.com:9999/app" }, {}, fs))).toBe("fallback")
  })

  it("matches Unix sockets as localhost", () => {
    expect(pw(resolve({ host: "/var/run/postgresql", user: "carol" }, {}, fs))).toBe("socket")
  })

  it("is not read when a password is given", () => {
    expect(pw(resolve({ host: "h", user: "carol", password: "given" }, {}, fs))).toBe("given")
    expect(pw(resolve({ host: "h", user: "carol" }, { PGPASSWORD: "env" }, fs))).toBe("env")
  })

  it("is ignored when group or world readable", () => {
    const open = fakeFs({ "/home/me/.pgpass": { text: pgpass, mode: 0o644 } })
    expect(resolve({ dsn: "postgres://alice@db.example.com:5433/app" }, {}, open).password).toBeUndefined()
    const group = fakeFs({ "/home/me/.pgpass": { text: pgpass, mode: 0o640 } })
    expect(resolve({ dsn: "postgres://alice@db.example.com:5433/app" }, {}, group).password).toBeUndefined()
  })

  it("honours PGPASSFILE, passfile= and the passfile option, in precedence order", () => {
    const files = fakeFs({ "/a": "*:*:*:*:from-a", "/b": "*:*:*:*:from-b", "/c": "*:*:*:*:from-c" })
    expect(pw(resolve({ host: "h" }, { PGPASSFILE: "/a" }, files))).toBe("from-a")
    expect(pw(resolve({ dsn: "postgres://h/db?passfile=/b" }, { PGPASSFILE: "/a" }, files))).toBe("from-b")
    expect(pw(resolve({ dsn: "postgres://h/db?passfile=/b", passfile: "/c" }, {}, files))).toBe("from-c")
    expect(resolve({ host: "h", passfile: "/missing" }, {}, files).password).toBeUndefined()
  })

  it("keeps a password per address when they differ", () => {
    const files = fakeFs({ "/home/me/.pgpass": "h1:*:*:*:one\nh2:*:*:*:two" })
    const r = resolve({ host: ["h1", "h2", "h3"] }, {}, files)
    expect(pw(r)).toBe("one")
    expect(r.addresses.map((a) => (a.password === undefined ? undefined : Redacted.value(a.password)))).toEqual([
      "one",
      "two",
      undefined
    ])
    expect(Redacted.value(passwordFor(r, r.addresses[1]!)!)).toBe("two")
    expect(Redacted.value(passwordFor(r, r.addresses[2]!)!)).toBe("one")
  })
})

describe("TLS files", () => {
  const home = "/home/me/.postgresql"

  it("requires a root certificate for verify-ca / verify-full", () => {
    expectDsnError(() => resolve({ host: "h", sslmode: "verify-full" }), /root\.crt.*sslrootcert=system/)
    const fs = fakeFs({ [`${home}/root.crt`]: "ROOT" })
    const r = resolve({ host: "h", sslmode: "verify-ca" }, {}, fs)
    expect([r.tls.ca, r.tls.rejectUnauthorized, r.tls.checkServerIdentity]).toEqual(["ROOT", true, false])
  })

  it("verifies the chain with sslmode=require only when a root certificate exists (libpq)", () => {
    expect(resolve({ host: "h", sslmode: "require" }).tls.rejectUnauthorized).toBe(false)
    const fs = fakeFs({ [`${home}/root.crt`]: "ROOT", [`${home}/root.crl`]: "CRL" })
    const r = resolve({ host: "h", sslmode: "require" }, {}, fs)
    expect([r.tls.ca, r.tls.crl, r.tls.rejectUnauthorized, r.tls.checkServerIdentity]).toEqual([
      "ROOT",
      "CRL",
      true,
      false
    ])
    expect(resolve({ host: "h", sslmode: "prefer" }, {}, fs).tls.rejectUnauthorized).toBe(false)
  })

  it("reads named files and fails clearly when they are missing", () => {
    const fs = fakeFs({ "/ca.pem": "CA", "/c.crt": "CERT", "/c.key": "KEY" })
    const r = resolve(
      { host: "h", sslmode: "verify-full", sslrootcert: "/ca.pem", sslcert: "/c.crt", sslkey: "/c.key", sslpassword: "s3cr3t" },
      {},
      fs
    )
    expect([r.tls.ca, r.tls.cert, r.tls.key, r.tls.passphrase]).toEqual(["CA", "CERT", "KEY", "s3cr3t"])
    expectDsnError(() => resolve({ host: "h", sslmode: "verify-full", sslrootcert: "/nope" }, {}, fs), /"\/nope" does not exist/)
    expectDsnError(() => resolve({ host: "h", sslcert: "/c.crt", sslkey: "/nokey" }, {}, fs), /no private key/)
  })

  it("loads the default client certificate and key", () => {
    const fs = fakeFs({ [`${home}/postgresql.crt`]: "CERT", [`${home}/postgresql.key`]: "KEY" })
    const r = resolve({ host: "h" }, {}, fs)
    expect([r.tls.cert, r.tls.key]).toEqual(["CERT", "KEY"])
    expect(resolve({ host: "h", sslmode: "disable" }, {}, fs).tls.cert).toBeUndefined()
  })

  it("supports sslrootcert=system", () => {
    const r = resolve({ dsn: "postgres://h/db?sslrootcert=system" })
    expect([r.sslmode, r.tls.ca, r.tls.rejectUnauthorized]).toEqual(["verify-full", undefined, true])
    expectDsnError(() => resolve({ dsn: "postgres://h/db?sslrootcert=system&sslmode=require" }), /use verify-full/)
  })

  it("builds Node TLS options per address", () => {
    const fs = fakeFs({ [`${home}/root.crt`]: "ROOT" })
    const r = resolve({ host: ["db.example.com", "10.0.0.1", "/tmp"], sslmode: "verify-full" }, {}, fs)
    const [named, ip, unix] = r.addresses
    const a = tlsOptionsFor(r, named!)!
    expect(a).toMatchObject({ host: "db.example.com", servername: "db.example.com", ca: "ROOT", rejectUnauthorized: true })
    expect(a.checkServerIdentity).toBeUndefined()
    const b = tlsOptionsFor(r, ip!)!
    expect(b.servername).toBeUndefined()
    expect(b.host).toBe("10.0.0.1")
    expect(tlsOptionsFor(r, unix!)).toBeUndefined()
    const req = resolve({ host: "h", sslmode: "require" })
    expect(tlsOptionsFor(req, req.addresses[0]!)!.checkServerIdentity!("h", {} as never)).toBeUndefined()
    const off = resolve({ host: "h", sslmode: "disable" })
    expect(tlsOptionsFor(off, off.addresses[0]!)).toBeUndefined()
  })
})

describe("bad input", () => {
  it("rejects bad ports with the source named", () => {
    expectDsnError(() => resolve({ dsn: "postgres://s:s3cr3t@h:abc/db" }), /invalid port "abc" in the DSN/)
    expectDsnError(() => resolve({ dsn: "host=h port=abc password=s3cr3t" }), /invalid port "abc" in the DSN/)
    expectDsnError(() => resolve({}, { PGPORT: "abc", PGPASSWORD: "s3cr3t" }), /invalid port "abc" in the environment/)
    expectDsnError(() => resolve({ port: 0 }), /invalid port "0" in the connect options/)
    expectDsnError(() => resolve({ port: 70000 }), /between 1 and 65535/)
    expectDsnError(() => resolve({ port: 1.5 }), /invalid port/)
  })

  it("rejects an unknown sslmode", () => {
    expectDsnError(() => resolve({ dsn: "postgres://u:s3cr3t@h/db?sslmode=maybe" }), /invalid sslmode "maybe" in the DSN: expected one of disable, allow/)
    expectDsnError(() => resolve({}, { PGSSLMODE: "on" }), /invalid sslmode "on" in the environment/)
    expectDsnError(() => resolve({ sslmode: "nope" as never }), /invalid sslmode "nope"/)
  })

  it("rejects malformed URLs without echoing them", () => {
    expectDsnError(() => resolve({ dsn: "mysql://u:s3cr3t@h/db" }), /scheme must be "postgres" or "postgresql"/)
    expectDsnError(() => resolve({ dsn: "postgres://u:s3cr3t@[::1/db" }), /missing "\]"/)
    expectDsnError(() => resolve({ dsn: "postgres://u:s3cr3t@[::1]x/db" }), /after an IPv6 address/)
    expectDsnError(() => resolve({ dsn: "postgres://u:s3cr3t@::1/db" }), /must be written in brackets/)
    expectDsnError(() => resolve({ dsn: "postgres://u:%zzs3cr3t@h/db" }), /bad percent-encoding in the password/)
    expectDsnError(() => resolve({ dsn: "postgres://u:s3cr3t@h/db?noequals" }), /key=value/)
  })

  it("rejects mismatched host and port lists", () => {
    expectDsnError(() => resolve({ host: ["a", "b", "c"], port: [1, 2] }), /could not match 2 ports .* to 3 hosts/)
    expectDsnError(() => resolve({ dsn: "host=a,b port=1,2,3" }), /could not match 3 ports/)
  })

  it("rejects other bad values", () => {
    expectDsnError(() => resolve({ dsn: "postgres://h/db?target_session_attrs=master" }), /target_session_attrs "master"/)
    expectDsnError(() => resolve({ connectTimeout: -1 }), /connectTimeout/)
    expectDsnError(() => resolve({ host: [] }), /host .* empty/)
  })

  it("fails when no user name can be found", () => {
    const noUser: DsnFileSystem = { ...fakeFs(), username: () => { throw new Error("no passwd entry") } }
    expectDsnError(() => resolveConnectOptions({}, {}, noUser), /could not determine the user name/)
    expect(resolveConnectOptions({}, { USER: "envuser" }, noUser).user).toBe("envuser")
  })
})

describe("load_balance_hosts", () => {
  it("is disable by default; random from the DSN, the environment or the options, by precedence", () => {
    expect(resolve({ dsn: "host=a,b" }).loadBalanceHosts).toBe("disable")
    expect(resolve({ dsn: "postgres://a,b/db?load_balance_hosts=random" }).loadBalanceHosts).toBe("random")
    expect(resolve({ dsn: "host=a,b load_balance_hosts=random" }).loadBalanceHosts).toBe("random")
    expect(resolve({}, { PGLOADBALANCEHOSTS: "random" }).loadBalanceHosts).toBe("random")
    expect(resolve({ loadBalanceHosts: "random" }).loadBalanceHosts).toBe("random")
    expect(resolve({ dsn: "host=a load_balance_hosts=disable" }, { PGLOADBALANCEHOSTS: "random" }).loadBalanceHosts).toBe("disable")
    expect(resolve({ loadBalanceHosts: "disable", dsn: "host=a load_balance_hosts=random" }).loadBalanceHosts).toBe("disable")
  })

  it("rejects other values, naming the value and its source", () => {
    expectDsnError(() => resolve({ dsn: "postgres://u:s3cr3t@a,b/db?load_balance_hosts=round-robin" }), /invalid load_balance_hosts "round-robin" in the DSN: expected one of disable, random/)
    expectDsnError(() => resolve({}, { PGLOADBALANCEHOSTS: "yes" }), /invalid load_balance_hosts "yes" in the environment/)
    expectDsnError(() => resolve({ loadBalanceHosts: "on" as never }), /invalid loadBalanceHosts "on" in the connect options/)
  })
})

describe("connect_timeout", () => {
  it("is per address: seconds in the DSN and PGCONNECT_TIMEOUT (minimum 2), milliseconds in the options", () => {
    expect(resolve({ dsn: "host=a,b connect_timeout=3" }).connectTimeoutMs).toBe(3000)
    expect(resolve({ dsn: "postgres://a,b/db?connect_timeout=1" }).connectTimeoutMs).toBe(2000)
    expect(resolve({ connectTimeout: 1500 }, { PGCONNECT_TIMEOUT: "9" }).connectTimeoutMs).toBe(1500)
    expect(resolve({ connectTimeout: 0, dsn: "connect_timeout=5" }).connectTimeoutMs).toBeUndefined()
    expectDsnError(() => resolve({ dsn: "host=a connect_timeout=2.5" }), /connect_timeout "2.5" in the DSN/)
  })
})

describe("secrets stay out of output", () => {
  it("redacts passwords, keys and passphrases in JSON, String and inspect", () => {
    const fs = fakeFs({ "/c.crt": "CERT", "/c.key": "PRIVATE-KEY-s3cr3t", "/home/me/.pgpass": "h2:*:*:*:pgpass-s3cr3t" })
    const r = resolve(
      {
        dsn: "postgres://u:dsn-s3cr3t@h1,h2/db",
        password: undefined,
        sslcert: "/c.crt",
        sslkey: "/c.key",
        sslpassword: "pass-s3cr3t",
        ssl: { rejectUnauthorized: false, passphrase: "opt-s3cr3t" }
      },
      {},
      fs
    )
    for (const text of [JSON.stringify(r), String(r.password), util.inspect(r, { depth: 10 }), describeTarget(r)]) {
      expect(text).not.toContain("s3cr3t")
    }
    expect(r.tls.key).toBe("PRIVATE-KEY-s3cr3t")
    expect(tlsOptionsFor(r, r.addresses[0]!)).toMatchObject({ key: "PRIVATE-KEY-s3cr3t", passphrase: "opt-s3cr3t" })
  })
})
