/**
 * Authentication against a throwaway cluster with one pg_hba line per
 * method: trust, password (cleartext), md5, scram-sha-256. For each method
 * the right password connects, a wrong one fails with InvalidPasswordError
 * (28P01) that never shows the password, and a missing one fails on the
 * client with PostgresConnectionError reason "auth". Also: passfile, a
 * password inside a DSN, non-ASCII passwords under SCRAM (SASLprep).
 */
import { expect, layer } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Connection from "../src/Connection.js"
import * as Errors from "../src/Errors.js"
import { type Cluster, throwawayCluster } from "./support/cluster.js"

// Hermetic: nothing from the environment may supply a password.
delete process.env["PGPASSWORD"]
delete process.env["PGPASSFILE"]
delete process.env["PGSERVICE"]

const PASSWORDS = {
  cleartext: "cl3ar-Text_pw!x",
  md5: "md5-S3cret;pw",
  scram: "scr@m:Secret/pw?",
  // precomposed é, a Greek letter, CJK, an emoji: unchanged by SASLprep
  unicode: "pässwörd-Ωμέγα-日本語-🔑",
  // fullwidth letters and a circled digit: SASLprep (NFKC) turns them into "Pass1"
  nfkc: "Ｐａｓｓ①"
} as const

/** Every secret used in this file, wrong ones included: none may appear in an error. */
const WRONG = "Wr0ng-Pa55word-xyz"
const SECRETS = [...Object.values(PASSWORDS), WRONG]

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`

class TestCluster extends Context.Service<TestCluster, Cluster>()("test/auth/TestCluster") {}

const ClusterLive = Layer.effect(
  TestCluster,
  throwawayCluster({
    hba: [
      "host all u_trust 127.0.0.1/32 trust",
      "host all u_clear 127.0.0.1/32 password",
      "host all u_md5 127.0.0.1/32 md5",
      "host all u_scram,u_unicode,u_nfkc 127.0.0.1/32 scram-sha-256"
    ],
    setup: [
      `SET client_encoding = 'UTF8';
       CREATE ROLE u_trust LOGIN;
       CREATE ROLE u_clear LOGIN PASSWORD ${sqlString(PASSWORDS.cleartext)};
       SET password_encryption = 'md5';
       CREATE ROLE u_md5 LOGIN PASSWORD ${sqlString(PASSWORDS.md5)};
       SET password_encryption = 'scram-sha-256';
       CREATE ROLE u_scram LOGIN PASSWORD ${sqlString(PASSWORDS.scram)};
       CREATE ROLE u_unicode LOGIN PASSWORD ${sqlString(PASSWORDS.unicode)};
       CREATE ROLE u_nfkc LOGIN PASSWORD ${sqlString(PASSWORDS.nfkc)};`
    ]
  })
)

const connectAs = (c: Cluster, user: string, extra: Connection.ConnectOptions = {}) =>
  Connection.connect({
    host: c.host,
    port: c.port,
    user,
    database: "postgres",
    sslmode: "disable",
    // no ~/.pgpass of the machine may answer for us
    passfile: "/nonexistent/effect-pg-pgpass",
    connectTimeout: 10_000,
    ...extra
  })

/** The error `self` fails with; a success fails the test. */
const failureOf = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  self.pipe(
    Effect.flatMap(() => Effect.die(new Error("expected the connection attempt to fail, it succeeded"))),
    Effect.flip,
    Effect.orDie
  ) as Effect.Effect<E, never, R>

/** No secret in the error's message, toString(), JSON or util.inspect output. */
const expectNoSecret = (err: unknown, secrets: ReadonlyArray<string> = SECRETS) => {
  const e = err as { message: string; toString(): string }
  const renderings = [
    e.message,
    e.toString(),
    String(err),
    JSON.stringify(err),
    util.inspect(err, { depth: 10, showHidden: true }),
    util.inspect(err, { depth: 10 })
  ]
  for (const text of renderings) {
    for (const secret of secrets) {
      expect(text).not.toContain(secret)
      // also not percent-encoded (DSNs)
      if (encodeURIComponent(secret) !== secret) expect(text).not.toContain(encodeURIComponent(secret))
    }
  }
}

const expectInvalidPassword = (err: unknown, user: string) => {
  expect(err).toBeInstanceOf(Errors.InvalidPasswordError)
  const e = err as Errors.InvalidPasswordError
  expect(e._tag).toBe("InvalidPasswordError")
  expect(e.sqlstate).toBe("28P01")
  expect(e.message).toContain(`authentication failed for user "${user}"`)
  expectNoSecret(err)
}

const expectNoPasswordGiven = (err: unknown, user: string) => {
  expect(err).toBeInstanceOf(Errors.PostgresConnectionError)
  const e = err as Errors.PostgresConnectionError
  expect(e.reason).toBe("auth")
  // says what is missing, for whom, and where a password can come from
  expect(e.message).toContain("password")
  expect(e.message).toContain(`"${user}"`)
  expect(e.message).toMatch(/PGPASSWORD|pgpass/)
  expectNoSecret(err)
}

const currentUser = (conn: Connection.Connection) => conn.fetchval("SELECT current_user")

layer(ClusterLive, { excludeTestServices: true, timeout: "60 seconds" })("authentication", (it) => {
  it.effect("the cluster stores the passwords the way each method needs", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const out = c.psql(
        "SELECT rolname || '=' || left(coalesce(rolpassword, '-'), 14) FROM pg_authid WHERE rolname LIKE 'u\\_%' ORDER BY rolname"
      ).trim().split("\n")
      expect(out).toEqual([
        "u_clear=SCRAM-SHA-256$",
        expect.stringMatching(/^u_md5=md5[0-9a-f]{11}$/),
        "u_nfkc=SCRAM-SHA-256$",
        "u_scram=SCRAM-SHA-256$",
        "u_trust=-",
        "u_unicode=SCRAM-SHA-256$"
      ])
    }))

  it.effect("trust: connects without a password, and ignores one that is given", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const conn = yield* connectAs(c, "u_trust")
      expect(yield* currentUser(conn)).toBe("u_trust")
      const conn2 = yield* connectAs(c, "u_trust", { password: WRONG })
      expect(yield* currentUser(conn2)).toBe("u_trust")
    }))

  it.effect("password (cleartext): right password connects", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const conn = yield* connectAs(c, "u_clear", { password: PASSWORDS.cleartext })
      expect(yield* currentUser(conn)).toBe("u_clear")
    }))

  it.effect("password (cleartext): wrong password → InvalidPasswordError without the password", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const err = yield* failureOf(connectAs(c, "u_clear", { password: WRONG }))
      expectInvalidPassword(err, "u_clear")
      // another role's password is wrong too
      const err2 = yield* failureOf(connectAs(c, "u_clear", { password: PASSWORDS.md5 }))
      expectInvalidPassword(err2, "u_clear")
    }))

  it.effect("password (cleartext): no password → PostgresConnectionError reason auth", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      expectNoPasswordGiven(yield* failureOf(connectAs(c, "u_clear")), "u_clear")
    }))

  it.effect("md5: right password connects", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const conn = yield* connectAs(c, "u_md5", { password: PASSWORDS.md5 })
      expect(yield* currentUser(conn)).toBe("u_md5")
    }))

  it.effect("md5: wrong password → InvalidPasswordError without the password", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      expectInvalidPassword(yield* failureOf(connectAs(c, "u_md5", { password: WRONG })), "u_md5")
      // the md5 hash is salted with the user name: the right password for another user fails
      expectInvalidPassword(yield* failureOf(connectAs(c, "u_md5", { password: PASSWORDS.cleartext })), "u_md5")
    }))

  it.effect("md5: no password → PostgresConnectionError reason auth", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      expectNoPasswordGiven(yield* failureOf(connectAs(c, "u_md5")), "u_md5")
    }))

  it.effect("scram-sha-256: right password connects", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const conn = yield* connectAs(c, "u_scram", { password: PASSWORDS.scram })
      expect(yield* currentUser(conn)).toBe("u_scram")
      // the session is usable beyond one query (the SASL exchange left no stray state)
      expect(yield* conn.fetchval("SELECT $1::int4 + 1", [41])).toBe(42)
    }))

  it.effect("scram-sha-256: wrong password → InvalidPasswordError without the password", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      expectInvalidPassword(yield* failureOf(connectAs(c, "u_scram", { password: WRONG })), "u_scram")
      // a Redacted password behaves the same
      expectInvalidPassword(yield* failureOf(connectAs(c, "u_scram", { password: Redacted.make(WRONG) })), "u_scram")
    }))

  it.effect("scram-sha-256: no password → PostgresConnectionError reason auth", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      expectNoPasswordGiven(yield* failureOf(connectAs(c, "u_scram")), "u_scram")
    }))

  it.effect("scram-sha-256: non-ASCII password (SASLprep leaves it unchanged)", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const conn = yield* connectAs(c, "u_unicode", { password: PASSWORDS.unicode })
      expect(yield* currentUser(conn)).toBe("u_unicode")
      // é written decomposed (e + U+0301) normalizes to the same password
      const decomposed = PASSWORDS.unicode.normalize("NFD")
      expect(decomposed).not.toBe(PASSWORDS.unicode)
      const conn2 = yield* connectAs(c, "u_unicode", { password: decomposed })
      expect(yield* currentUser(conn2)).toBe("u_unicode")
      // one character off fails
      const err = yield* failureOf(connectAs(c, "u_unicode", { password: PASSWORDS.unicode.replace("ö", "o") }))
      expectInvalidPassword(err, "u_unicode")
    }))

  it.effect("scram-sha-256: SASLprep maps fullwidth letters and ① like the server (NFKC)", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const conn = yield* connectAs(c, "u_nfkc", { password: PASSWORDS.nfkc })
      expect(yield* currentUser(conn)).toBe("u_nfkc")
      // the server stored SASLprep("Ｐａｓｓ①") = "Pass1"
      const conn2 = yield* connectAs(c, "u_nfkc", { password: "Pass1" })
      expect(yield* currentUser(conn2)).toBe("u_nfkc")
      expectInvalidPassword(yield* failureOf(connectAs(c, "u_nfkc", { password: "pass1" })), "u_nfkc")
    }))

  it.effect("passfile: a 0600 password file supplies the password; a group-readable one is ignored", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-pg-pgpass-"))),
        (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
      )
      const file = path.join(dir, "pgpass")
      const escape = (s: string) => s.replace(/\\/g, "\\\\").replace(/:/g, "\\:")
      fs.writeFileSync(
        file,
        [
          "# comment",
          `otherhost:${c.port}:*:u_scram:${escape(WRONG)}`,
          `127.0.0.1:${c.port}:postgres:u_scram:${escape(PASSWORDS.scram)}`,
          `*:*:*:u_md5:${escape(PASSWORDS.md5)}`
        ].join("\n") + "\n",
        { mode: 0o600 }
      )
      fs.chmodSync(file, 0o600)
      const conn = yield* connectAs(c, "u_scram", { passfile: file })
      expect(yield* currentUser(conn)).toBe("u_scram")
      const conn2 = yield* connectAs(c, "u_md5", { passfile: file })
      expect(yield* currentUser(conn2)).toBe("u_md5")
      // no matching line → no password
      expectNoPasswordGiven(yield* failureOf(connectAs(c, "u_clear", { passfile: file })), "u_clear")
      // an explicit password wins over the file
      expectInvalidPassword(yield* failureOf(connectAs(c, "u_scram", { passfile: file, password: WRONG })), "u_scram")
      // libpq ignores a password file that others can read
      fs.chmodSync(file, 0o640)
      expectNoPasswordGiven(yield* failureOf(connectAs(c, "u_scram", { passfile: file })), "u_scram")
    }))

  it.effect("DSN with the password: connects; a wrong one never leaks either secret", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      const dsn = (user: string, pw: string) =>
        `postgres://${user}:${encodeURIComponent(pw)}@127.0.0.1:${c.port}/postgres?sslmode=disable&passfile=/nonexistent/x`
      const conn = yield* Connection.connect(dsn("u_scram", PASSWORDS.scram))
      expect(yield* currentUser(conn)).toBe("u_scram")
      const conn2 = yield* Connection.connect(dsn("u_clear", PASSWORDS.cleartext))
      expect(yield* currentUser(conn2)).toBe("u_clear")
      const conn3 = yield* Connection.connect(dsn("u_md5", PASSWORDS.md5))
      expect(yield* currentUser(conn3)).toBe("u_md5")
      // a plain secret in the URL, as written by hand
      const plain = "plainsecret42"
      const err0 = yield* failureOf(Connection.connect(`postgres://u_scram:${plain}@127.0.0.1:${c.port}/postgres?sslmode=disable`))
      expectInvalidPassword(err0, "u_scram")
      expectNoSecret(err0, [plain])
      for (const user of ["u_clear", "u_md5", "u_scram"]) {
        const err = yield* failureOf(Connection.connect(dsn(user, WRONG)))
        expectInvalidPassword(err, user)
      }
      // a DSN that cannot be used at all (bad port) still hides the password
      const bad = yield* failureOf(Connection.connect(`postgres://u_scram:${plain}@127.0.0.1:notaport/postgres`))
      expect(bad).toBeInstanceOf(Errors.InterfaceError)
      expectNoSecret(bad, [plain])
      // a server that is not there: the connection error hides it too
      const gone = yield* failureOf(Connection.connect(`postgres://u_scram:${plain}@127.0.0.1:1/postgres?sslmode=disable`))
      expect(gone).toBeInstanceOf(Errors.PostgresConnectionError)
      expect((gone as Errors.PostgresConnectionError).reason).toBe("refused")
      expectNoSecret(gone, [plain])
    }))

  it.effect("a role without a pg_hba line → InvalidAuthorizationSpecificationError (28000)", () =>
    Effect.gen(function*() {
      const c = yield* TestCluster
      // no pg_hba line matches this role
      const err = yield* failureOf(connectAs(c, "u_nobody", { password: WRONG }))
      expect(err).toBeInstanceOf(Errors.InvalidAuthorizationSpecificationError)
      expect((err as Errors.InvalidAuthorizationSpecificationError).sqlstate).toBe("28000")
      expect((err as Errors.InvalidAuthorizationSpecificationError).message).toContain("no pg_hba.conf entry")
      expectNoSecret(err)
    }))
})
