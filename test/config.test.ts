/**
 * Pool options through `effect/Config` (`PgPool.layerConfig`): options as
 * values or Configs, DATABASE_URL and libpq's PG* variables under them with
 * libpq's precedence (the DSN wins over PG*), bad values as a ConfigError
 * naming the key, secrets kept Redacted and out of every message, and
 * pools built from such configuration against the real server.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as nodeFs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { resolveOptions } from "../src/connection/connectOptions.js"
import { PgPool, type Pool } from "../src/index.js"
import * as PoolConfig from "../src/pool/config.js"
import { freePort, TEST_DSN, uniqueName } from "./support/db.js"

const env = (vars: Record<string, string>) => ConfigProvider.fromEnv({ env: vars })

/** The options `input` gives under `vars`. */
const read = (vars: Record<string, string>, input: PoolConfig.OptionsInput<Pool.PoolOptions> = {}) =>
  PoolConfig.options(input).parse(env(vars))

/** The failure of reading, as a ConfigError's message. */
const failureOf = (vars: Record<string, string>, input: PoolConfig.OptionsInput<Pool.PoolOptions> = {}) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(read(vars, input))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    expect(error).toBeInstanceOf(Config.ConfigError)
    return String((error as Config.ConfigError).message)
  })

const unredact = (v: unknown) => (Redacted.isRedacted(v) ? Redacted.value(v) : v)

describe("PoolConfig.options: what the environment gives", () => {
  it.effect("PG* variables become options: lists, secrets, libpq's seconds", () =>
    Effect.gen(function* () {
      const o = yield* read({
        PGHOST: "db1.example,db2.example",
        PGPORT: "5433,5434",
        PGUSER: "app",
        PGPASSWORD: "s3cret",
        PGDATABASE: "shop",
        PGSSLMODE: "require",
        PGAPPNAME: "billing",
        PGCONNECT_TIMEOUT: "1",
        PGTARGETSESSIONATTRS: "read-write",
        PGOPTIONS: "-c search_path=app"
      })
      expect(o.host).toEqual(["db1.example", "db2.example"])
      expect(o.port).toEqual([5433, 5434])
      expect(o.user).toBe("app")
      expect(Redacted.isRedacted(o.password)).toBe(true)
      expect(unredact(o.password)).toBe("s3cret")
      expect(o.database).toBe("shop")
      expect(o.sslmode).toBe("require")
      expect(o.applicationName).toBe("billing")
      // libpq: seconds, at least 2
      expect(o.connectTimeout).toBe(2000)
      expect(o.targetSessionAttrs).toBe("read-write")
      expect(o.serverSettings).toEqual({ options: "-c search_path=app" })
      expect(o.dsn).toBeUndefined()
    }))

  it.effect("DATABASE_URL is the DSN, kept Redacted; the DSN wins over PG*, PG* fills what it leaves open", () =>
    Effect.gen(function* () {
      const o = yield* read({
        DATABASE_URL: "postgres://app@db.example:6000/shop",
        PGHOST: "other.example",
        PGPORT: "7000",
        PGDATABASE: "other",
        PGPASSWORD: "from-env",
        PGAPPNAME: "billing"
      })
      expect(Redacted.isRedacted(o.dsn)).toBe(true)
      expect(unredact(o.dsn)).toBe("postgres://app@db.example:6000/shop")
      expect(o.host).toBeUndefined()
      expect(o.port).toBeUndefined()
      expect(o.database).toBeUndefined()
      expect(unredact(o.password)).toBe("from-env")
      expect(o.applicationName).toBe("billing")
    }))

  it.effect("a connection service (PGSERVICE, or service= in the DSN) wins over PG*, as in libpq", () =>
    Effect.gen(function* () {
      const dir = nodeFs.mkdtempSync(path.join(os.tmpdir(), "pgservice-"))
      const file = path.join(dir, "pg_service.conf")
      nodeFs.writeFileSync(file, "[app]\nhost=svchost\nuser=svcuser\noptions=-c search_path=svc\n")
      try {
        for (const vars of [
          { PGSERVICE: "app", PGSERVICEFILE: file } as Record<string, string>,
          { DATABASE_URL: "postgres:///shop?service=app", PGSERVICEFILE: file }
        ]) {
          const o = yield* read({ ...vars, PGHOST: "envhost", PGUSER: "envuser", PGOPTIONS: "-c search_path=env", PGDATABASE: "envdb" })
          expect([o.host, o.user, o.serverSettings, o.servicefile]).toEqual([undefined, undefined, undefined, file])
          const r = yield* resolveOptions(o)
          expect([r.addresses[0]!.host, r.user, r.serverSettings["options"]]).toEqual(["svchost", "svcuser", "-c search_path=svc"])
          expect(r.database).toBe(vars["DATABASE_URL"] === undefined ? "envdb" : "shop")
        }
      } finally {
        nodeFs.rmSync(dir, { recursive: true })
      }
    }))

  it.effect("options the caller gives win: plain values, Configs of other keys, one Config of everything", () =>
    Effect.gen(function* () {
      const vars = { PGUSER: "env-user", PGAPPNAME: "env-app", APP_POOL_MAX: "7", APP_DB_PASSWORD: "pw" }
      const o = yield* read(vars, {
        user: "given",
        maxSize: Config.Int("APP_POOL_MAX"),
        password: Config.Redacted("APP_DB_PASSWORD"),
        serverSettings: { search_path: Config.String("APP_SCHEMA").pipe(Config.withDefault("public")) }
      })
      expect(o.user).toBe("given")
      expect(o.maxSize).toBe(7)
      expect(unredact(o.password)).toBe("pw")
      expect(o.applicationName).toBe("env-app")
      expect(o.serverSettings).toEqual({ search_path: "public" })
      const whole = yield* read(vars, Config.all({ minSize: Config.Int("APP_POOL_MAX") }))
      expect(whole.minSize).toBe(7)
      expect(whole.user).toBe("env-user")
      // a dsn given by the caller replaces DATABASE_URL
      const dsn = yield* read({ DATABASE_URL: "postgres://a@h/db" }, { dsn: "postgres://b@h/db" })
      expect(dsn.dsn).toBe("postgres://b@h/db")
    }))

  it.effect("a Config.Wrap<PoolOptions> value (as @effect/sql-pg's layerConfig takes) is accepted as it is", () =>
    Effect.gen(function* () {
      const wrapped: Config.Wrap<Pool.PoolOptions> = { maxSize: Config.Int("APP_POOL_MAX"), applicationName: Config.String("APP_NAME") }
      const o = yield* read({ APP_POOL_MAX: "3", APP_NAME: "wrapped" }, wrapped)
      expect([o.maxSize, o.applicationName]).toEqual([3, "wrapped"])
      // and PgPool.layerConfig takes it (checked by the compiler)
      expect(PgPool.layerConfig(wrapped)).toBeDefined()
    }))

  it.effect("nothing set: no options, no failure", () =>
    Effect.gen(function* () {
      expect(yield* read({})).toEqual({})
    }))
})

describe("PoolConfig.options: bad values", () => {
  it.effect("each bad variable fails with a ConfigError naming its key", () =>
    Effect.gen(function* () {
      expect(yield* failureOf({ PGPORT: "54x2" })).toContain("PGPORT")
      expect(yield* failureOf({ PGPORT: "70000" })).toContain("PGPORT")
      expect(yield* failureOf({ PGSSLMODE: "sometimes" })).toContain("PGSSLMODE")
      expect(yield* failureOf({ PGCONNECT_TIMEOUT: "soon" })).toContain("PGCONNECT_TIMEOUT")
      expect(yield* failureOf({ PGTARGETSESSIONATTRS: "any-old" })).toContain("PGTARGETSESSIONATTRS")
      expect(yield* failureOf({ APP_POOL_MAX: "ten" }, { maxSize: Config.Int("APP_POOL_MAX") })).toContain("APP_POOL_MAX")
    }))

  it.effect("a secret never appears in the message", () =>
    Effect.gen(function* () {
      const secret = "hunter2-" + uniqueName("pw")
      const message = yield* failureOf({ PGPASSWORD: secret, DATABASE_URL: `postgres://u:${secret}@h/db`, PGPORT: "nope" })
      expect(message).toContain("PGPORT")
      expect(message).not.toContain(secret)
      // a secret where a number belongs: the key is named, the value is not
      const asNumber = yield* failureOf({ APP_POOL_MAX: secret }, { maxSize: Config.Int("APP_POOL_MAX") })
      expect(asNumber).toContain("APP_POOL_MAX")
      expect(asNumber).not.toContain(secret)
    }))
})

describe("PgPool.layerConfig against the server", () => {
  const appName = (provider: ConfigProvider.ConfigProvider, config: PoolConfig.OptionsInput<Pool.PoolOptions>) =>
    Effect.gen(function* () {
      const pool = yield* PgPool
      return yield* pool.fetchval("SELECT current_setting('application_name')")
    }).pipe(Effect.provide(PgPool.layerConfig(config).pipe(Layer.provide(ConfigProvider.layer(provider)))))

  it.live("a pool from PG* variables alone", () =>
    Effect.gen(function* () {
      const url = new URL(TEST_DSN)
      const app = uniqueName("cfg")
      const vars: Record<string, string> = {
        PGHOST: url.hostname,
        PGPORT: url.port || "5432",
        PGUSER: decodeURIComponent(url.username),
        PGDATABASE: url.pathname.slice(1),
        PGAPPNAME: app
      }
      if (url.password !== "") vars["PGPASSWORD"] = decodeURIComponent(url.password)
      expect(yield* appName(env(vars), { minSize: 1, maxSize: 1 })).toBe(app)
    }))

  it.live("a pool from DATABASE_URL with options as Configs (Config.Wrap<PoolOptions>)", () =>
    Effect.gen(function* () {
      const app = uniqueName("cfg")
      const provider = ConfigProvider.fromUnknown({ DATABASE_URL: TEST_DSN, APP_NAME: app, POOL_MAX: "2" })
      expect(
        yield* appName(provider, { applicationName: Config.String("APP_NAME"), minSize: Config.succeed(1), maxSize: Config.Int("POOL_MAX") })
      ).toBe(app)
    }))

  it.live("a Redacted DSN works in PgPool.layer too", () =>
    Effect.gen(function* () {
      const app = uniqueName("cfg")
      const value = yield* Effect.gen(function* () {
        const pool = yield* PgPool
        return yield* pool.fetchval("SELECT current_setting('application_name')")
      }).pipe(Effect.provide(PgPool.layer({ dsn: Redacted.make(TEST_DSN), applicationName: app, minSize: 1, maxSize: 1 })))
      expect(value).toBe(app)
    }))

  it.live("a failed connect does not show the password from PGPASSWORD or DATABASE_URL", () =>
    Effect.gen(function* () {
      const secret = "hunter2-" + uniqueName("pw")
      const port = yield* Effect.promise(() => freePort())
      for (const vars of [
        { PGHOST: "127.0.0.1", PGPORT: String(port), PGUSER: "nobody", PGPASSWORD: secret },
        { DATABASE_URL: `postgres://nobody:${secret}@127.0.0.1:${port}/db` }
      ] as Array<Record<string, string>>) {
        const exit = yield* Effect.exit(appName(env(vars), { minSize: 1, maxSize: 1, timeout: "2 seconds" }))
        expect(Exit.isFailure(exit)).toBe(true)
        const text = Exit.isFailure(exit) ? `${Cause.pretty(exit.cause)} ${JSON.stringify(Cause.squash(exit.cause))}` : ""
        expect(text).not.toContain(secret)
        expect(text).toMatch(/refused|connect/i)
      }
    }))
})
