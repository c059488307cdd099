/**
 * Connection-level TCP keepalive: libpq's `keepalives` (default 1) and
 * `keepalives_idle` (seconds) as DSN keys, `keepalives` / `keepalivesIdle`
 * (ms) as options. A peer that vanishes without a FIN/RST (a partition, a
 * dead host) is then noticed by the kernel instead of never.
 *
 * Checked on the real socket: the connection goes through the tests' proxy (a
 * port of its own), and `ss -o` shows the kernel's keepalive timer on it.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Effect from "effect/Effect"
import * as Connection from "../../src/Connection.js"
import { resolveConnectOptions } from "../../src/connection/options.js"
import { tcpProxy } from "../support/proxy.js"

/** The kernel timer of the client socket(s) connected to 127.0.0.1:port, from `ss -tno`, e.g. "keepalive,4.9sec,0". */
const timersTo = (port: number): Array<string> => {
  const out = spawnSync("ss", ["-tnoH", "state", "established", "dst", `127.0.0.1:${port}`], { encoding: "utf8" })
  if (out.status !== 0) throw new Error(`ss failed: ${out.stderr}`)
  return out.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => /timer:\(([^)]*)\)/.exec(l)?.[1] ?? "none")
}

const seconds = (timer: string): number => {
  const m = /^keepalive,(?:(\d+)min)?([\d.]+)(ms|sec)/.exec(timer)
  if (m === null) return NaN
  const base = m[3] === "ms" ? Number(m[2]) / 1000 : Number(m[2])
  return Number(m[1] ?? 0) * 60 + base
}

const env = {}

describe("keepalives", () => {
  it("DSN keys are parsed (seconds → ms) and only set what was given", () => {
    const r = resolveConnectOptions({ dsn: "postgres://h/db?keepalives_idle=5" }, env)
    expect(r.addresses[0]).toMatchObject({ kind: "tcp", keepalivesIdleMs: 5_000 })
    expect(resolveConnectOptions({ dsn: "postgres://h/db?keepalives=0" }, env).addresses[0]!.keepalives).toBe(false)
    expect(resolveConnectOptions({ dsn: "postgres://h/db?keepalives=1&keepalives_interval=3&keepalives_count=4" }, env).addresses[0]!.keepalives).toBe(true)
    // not given: the address is unchanged (keepalive still on, OS idle time)
    expect(resolveConnectOptions({ dsn: "postgres://h/db" }, env).addresses[0]).toEqual({ host: "h", port: 5432, kind: "tcp" })
    // options win over the DSN
    expect(resolveConnectOptions({ dsn: "postgres://h/db?keepalives_idle=5", keepalivesIdle: 2_500 }, env).addresses[0]!.keepalivesIdleMs).toBe(2_500)
    // Unix sockets have no keepalive
    expect(resolveConnectOptions({ dsn: "postgresql:///db?host=/tmp&keepalives_idle=5" }, env).addresses[0]).not.toHaveProperty("keepalivesIdleMs")
  })

  for (const bad of ["keepalives_idle=abc", "keepalives_idle=-1", "keepalives_idle=1.5", "keepalives=yes", "keepalives_count=x", "keepalives_interval=-2"]) {
    it.live(`a bad value (${bad}) is a typed InterfaceError at connect`, () =>
      Effect.gen(function* () {
        const err = yield* Effect.flip(Connection.connect({ dsn: `postgres://root@127.0.0.1:5432/test?sslmode=disable&${bad}` }))
        expect(err._tag).toBe("InterfaceError")
        expect(err.message).toContain(bad.split("=")[0]!)
      }))
  }

  it.live("a bad keepalivesIdle option is a typed InterfaceError", () =>
    Effect.gen(function* () {
      const err = yield* Effect.flip(Connection.connect({ dsn: "postgres://root@127.0.0.1:5432/test?sslmode=disable", keepalivesIdle: -5 }))
      expect(err._tag).toBe("InterfaceError")
    }))

  it.live("keepalives_idle=5 is accepted and set on the socket (kernel keepalive timer ≤ 5 s)", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const conn = yield* Connection.connect({ dsn: `postgres://root@127.0.0.1:${proxy.port}/test?sslmode=disable&keepalives_idle=5` })
      expect(yield* conn.fetchval("SELECT $1::int", [5])).toBe(5)
      yield* Effect.sleep(100)
      const timers = timersTo(proxy.port)
      expect(timers.length, `sockets to the proxy: ${timers.join(" | ")}`).toBe(1)
      expect(timers[0], `timer: ${timers[0]}`).toMatch(/^keepalive,/)
      const s = seconds(timers[0]!)
      expect(s, `timer: ${timers[0]}`).toBeGreaterThan(0)
      expect(s, `timer: ${timers[0]}`).toBeLessThanOrEqual(5)
    }))

  it.live("default: keepalive on with the OS idle time; keepalives=0: off", () =>
    Effect.gen(function* () {
      const proxy = yield* tcpProxy({ port: 5432 })
      const on = yield* Connection.connect({ dsn: `postgres://root@127.0.0.1:${proxy.port}/test?sslmode=disable` })
      yield* on.fetchval("SELECT 1")
      yield* Effect.sleep(100)
      const [timerOn] = timersTo(proxy.port)
      expect(timerOn, `timer: ${timerOn}`).toMatch(/^keepalive,/)
      yield* on.close()
      const off = yield* Connection.connect({ dsn: `postgres://root@127.0.0.1:${proxy.port}/test?sslmode=disable&keepalives=0` })
      yield* off.fetchval("SELECT 1")
      yield* Effect.sleep(100)
      const timersOff = timersTo(proxy.port)
      expect(timersOff.length).toBe(1)
      expect(timersOff[0], `timer: ${timersOff[0]}`).not.toMatch(/^keepalive,/)
    }))
})
