/**
 * Connection-option cases from asyncpg's tests/test_connect.py
 * (TestConnectParams), as libpq resolves them. Where asyncpg differs from
 * libpq, the test follows libpq and says so.
 */
import * as Redacted from "effect/Redacted"
import { describe, expect, it } from "vitest"
import {
  type ConnectInput,
  type DsnFileSystem,
  resolveConnectOptions,
  type ResolvedConnectOptions
} from "../src/connection/options.js"

type FakeFile = string | { readonly text: string; readonly mode?: number }

/** A fake file system: files (mode 0600 unless given), a home and an OS user. */
const fakeFs = (files: Record<string, FakeFile> = {}): DsnFileSystem => {
  const entry = (p: string) => {
    const f = files[p]
    return f === undefined ? undefined : typeof f === "string" ? { text: f } : f
  }
  return {
    readFile: (p) => entry(p)?.text,
    homedir: () => "/home/me",
    fileMode: (p) => (entry(p) === undefined ? undefined : entry(p)!.mode ?? 0o600),
    exists: (p) => entry(p) !== undefined,
    username: () => "osuser"
  }
}

const resolve = (input: ConnectInput, env: Record<string, string> = {}, fs: DsnFileSystem = fakeFs()) =>
  resolveConnectOptions(input, env, fs)

const pw = (r: ResolvedConnectOptions) => (r.password === undefined ? undefined : Redacted.value(r.password))
const hostPorts = (r: ResolvedConnectOptions) => r.addresses.map((a) => (a.kind === "unix" ? a.path : [a.host, a.port]))

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
