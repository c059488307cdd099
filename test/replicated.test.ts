/**
 * The replicated pool against a real primary with two streaming replicas
 * (throwaway clusters, started once for the file): reads on replicas and
 * spread over both, writes on the primary, a write sent as a read lands on
 * the primary, read-your-writes (0 of 500 missing; without it, a paused
 * replica misses them all), a stopped replica routed around, a lagging
 * replica taken out and put back, and two tagged PgPools side by side.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { PgPool } from "../src/Pool.js"
import { ReplicatedPool } from "../src/ReplicatedPool.js"
import { TEST_DSN } from "./support/db.js"
import type { Cluster } from "./support/cluster.js"
import { replication, type Replication } from "./support/replication.js"

class Rep extends Context.Service<Rep, Replication>()("test/Replication") {}

const dsnOf = (c: Cluster) => `postgres://postgres@127.0.0.1:${c.port}/postgres?sslmode=disable`

const RepLive = Layer.effect(
  Rep,
  Effect.tap(replication({ replicas: 2 }), (rep) =>
    Effect.promise(() => rep.query(rep.primary, "CREATE TABLE items (id int PRIMARY KEY, note text)"))
  )
)

const DbLive = Layer.effect(
  ReplicatedPool,
  Effect.flatMap(Effect.service(Rep), (rep) =>
    ReplicatedPool.make({
      primary: { dsn: dsnOf(rep.primary), name: "primary" },
      replicas: rep.replicas.map((r, i) => ({ dsn: dsnOf(r), name: `replica-${i + 1}` })),
      pool: { minSize: 1, maxSize: 4 },
      healthCheckInterval: "100 millis",
      probeTimeout: "1 second",
      maxReplicaLag: "1500 millis"
    })
  )
).pipe(Layer.provideMerge(RepLive))

/** Another pool over the same primary, under a key of its own. */
class ThrowawayPrimary extends PgPool.Tag("test/ThrowawayPrimary") {}

const portOf = (v: unknown) => Number(v)

/** Waits (polling every 50 ms, at most `ms`) until `check` holds. */
const eventually = (check: () => boolean, ms: number, what: string) =>
  Effect.gen(function* () {
    const end = Date.now() + ms
    while (!check()) {
      if (Date.now() > end) return yield* Effect.die(new Error(`not within ${ms} ms: ${what}`))
      yield* Effect.sleep(50)
    }
  })

layer(DbLive, { excludeTestServices: true, timeout: 180_000 })("ReplicatedPool", (it) => {
  it.effect("reads land on the replicas, spread over both; writes, acquire and transactions on the primary", () =>
    Effect.gen(function* () {
      const db = yield* ReplicatedPool
      const rep = yield* Rep
      const replicaPorts = new Set(rep.replicas.map((r) => r.port))
      // a fresh session has written nothing: its reads may go to any replica
      const ports = yield* db.session(
        Effect.forEach(Array.from({ length: 200 }, (_, i) => i), () => Effect.map(db.fetchval("SELECT inet_server_port()"), portOf))
      )
      const counts = new Map<number, number>()
      for (const p of ports) counts.set(p, (counts.get(p) ?? 0) + 1)
      expect([...counts.keys()].every((p) => replicaPorts.has(p))).toBe(true)
      for (const r of rep.replicas) {
        const n = counts.get(r.port) ?? 0
        expect(n).toBeGreaterThanOrEqual(80)
        expect(n).toBeLessThanOrEqual(120)
      }
      // concurrent reads spread too
      const concurrent = yield* db.session(
        Effect.forEach(Array.from({ length: 200 }, (_, i) => i), () => Effect.map(db.fetchval("SELECT inet_server_port()"), portOf), {
          concurrency: 32
        })
      )
      console.log(`spread over two replicas: sequential ${rep.replicas.map((r) => counts.get(r.port) ?? 0).join("/")}, 32 at a time ${rep.replicas.map((r) => concurrent.filter((p) => p === r.port).length).join("/")}`)
      for (const r of rep.replicas) {
        const n = concurrent.filter((p) => p === r.port).length
        expect(n).toBeGreaterThanOrEqual(80)
        expect(n).toBeLessThanOrEqual(120)
      }
      expect(yield* db.session(db.fetchval("SELECT pg_is_in_recovery()"))).toBe(true)
      expect(yield* db.replica.fetchval("SELECT pg_is_in_recovery()")).toBe(true)
      // everything else: the primary
      expect(yield* db.execute("INSERT INTO items VALUES ($1, 'w')", [1_000_000])).toBe("INSERT 0 1")
      expect(yield* db.primary.fetchval("SELECT pg_is_in_recovery()")).toBe(false)
      expect(portOf(yield* db.withConnection((c) => c.fetchval("SELECT inet_server_port()")))).toBe(rep.primary.port)
      expect(portOf(yield* Effect.scoped(Effect.flatMap(db.acquire(), (c) => c.fetchval("SELECT inet_server_port()")))))
        .toBe(rep.primary.port)
      expect(portOf(yield* db.transaction((c) => c.fetchval("SELECT inet_server_port()")))).toBe(rep.primary.port)
      // a read-only transaction is a read
      const roPort = portOf(yield* db.session(db.transaction((c) => c.fetchval("SELECT inet_server_port()"), { readonly: true })))
      expect(replicaPorts.has(roPort)).toBe(true)
      const members = db.members()
      expect(members.map((m) => [m.name, m.role, m.writer, m.inRotation])).toEqual([
        ["primary", "primary", true, false],
        ["replica-1", "standby", false, true],
        ["replica-2", "standby", false, true]
      ])
    }))

  it.effect("a write sent as a read (INSERT ... RETURNING through fetch) runs on the primary", () =>
    Effect.gen(function* () {
      const db = yield* ReplicatedPool
      const row = yield* db.session(db.fetchrow(
        "INSERT INTO items VALUES ($1, 'returning') RETURNING id, inet_server_port() AS port",
        [2_000_000]
      ))
      expect(row?.get("id")).toBe(2_000_000)
      expect(row?.get("port")).toBe((yield* Rep).primary.port)
    }))

  it.effect("read-your-writes: 0 of 500 rows missing when each is read right after its write; without it a paused replica misses them", () =>
    Effect.gen(function* () {
      const db = yield* ReplicatedPool
      const rep = yield* Rep
      const readEach = (base: number, read: (id: number) => Effect.Effect<unknown, unknown>) =>
        Effect.gen(function* () {
          let missing = 0
          for (let i = 0; i < 500; i++) {
            yield* db.execute("INSERT INTO items VALUES ($1, 'ryw')", [base + i])
            if (Number(yield* read(base + i)) !== 1) missing++
          }
          return missing
        })
      const count = "SELECT count(*)::int FROM items WHERE id = $1"
      const routedBefore = db.members().map((m) => m.routed)
      // live replicas: every read sees its row
      let t = Date.now()
      const live = yield* db.session(readEach(10_000, (id) => db.fetchval(count, [id])))
      expect(live).toBe(0)
      const liveMs = Date.now() - t
      const routed = db.members().map((m, i) => m.routed - routedBefore[i]!)
      // replicas that replay nothing: the caller's reads must go to the primary
      yield* Effect.promise(() => Promise.all(rep.replicas.map((r) => rep.query(r, "SELECT pg_wal_replay_pause()"))))
      try {
        t = Date.now()
        const paused = yield* db.session(readEach(20_000, (id) => db.fetchval(count, [id])))
        expect(paused).toBe(0)
        const pausedMs = Date.now() - t
        // the same reads through a pool without read-your-writes (and no lag limit) miss every row: the test can fail
        const loose = yield* ReplicatedPool.make({
          primary: { dsn: dsnOf(rep.primary) },
          replicas: rep.replicas.map((r) => ({ dsn: dsnOf(r) })),
          pool: { minSize: 1, maxSize: 2 },
          readYourWrites: false,
          maxReplicaLag: 0
        })
        const stale = yield* Effect.gen(function* () {
          let missing = 0
          for (let i = 0; i < 500; i++) {
            yield* loose.execute("INSERT INTO items VALUES ($1, 'loose')", [30_000 + i])
            if (Number(yield* loose.fetchval(count, [30_000 + i])) !== 1) missing++
          }
          return missing
        })
        expect(stale).toBe(500)
        console.log(
          `read-your-writes: live replicas ${liveMs} ms for 500 write+read (requests per member primary/replica-1/replica-2: ${routed.join("/")}); paused replicas ${pausedMs} ms, 0 missing; without it ${stale} of 500 missing`
        )
      } finally {
        yield* Effect.promise(() => Promise.all(rep.replicas.map((r) => rep.query(r, "SELECT pg_wal_replay_resume()"))))
      }
    }))

  it.effect("after a write, a caller's reads return to the replicas: once they replayed it (lsn), or after the window", () =>
    Effect.gen(function* () {
      const db = yield* ReplicatedPool
      const rep = yield* Rep
      const readPort = Effect.map(db.fetchval("SELECT inet_server_port()"), portOf)
      const lsnBack = yield* db.session(
        Effect.gen(function* () {
          yield* db.execute("INSERT INTO items VALUES ($1, 'back')", [60_000])
          expect(yield* readPort).toBe(rep.primary.port)
          const t = Date.now()
          while ((yield* readPort) === rep.primary.port) {
            if (Date.now() - t > 3_000) return yield* Effect.die(new Error("reads stayed on the primary for 3 s after one write"))
            yield* Effect.sleep(10)
          }
          // the replica it now reads from has the row
          expect(yield* db.fetchval("SELECT count(*)::int FROM items WHERE id = $1", [60_000])).toBe(1)
          return Date.now() - t
        })
      )
      const windowed = yield* ReplicatedPool.make({
        primary: { dsn: dsnOf(rep.primary) },
        replicas: rep.replicas.map((r) => ({ dsn: dsnOf(r) })),
        pool: { minSize: 0, maxSize: 2 },
        readYourWrites: { window: "400 millis" }
      })
      const wPort = Effect.map(windowed.fetchval("SELECT inet_server_port()"), portOf)
      yield* windowed.session(
        Effect.gen(function* () {
          yield* windowed.execute("INSERT INTO items VALUES ($1, 'window')", [60_001])
          expect(yield* wPort).toBe(rep.primary.port)
          yield* Effect.sleep(450)
          expect(yield* wPort).not.toBe(rep.primary.port)
        })
      )
      console.log(`read-your-writes (lsn, probe every 100 ms): reads back on a replica ${lsnBack} ms after the write`)
    }))

  it.effect("read-your-writes while the caller still holds its connection on the primary (withConnection, acquire)", () =>
    Effect.gen(function* () {
      const db = yield* ReplicatedPool
      const rep = yield* Rep
      const count = "SELECT count(*)::int FROM items WHERE id = $1"
      yield* Effect.promise(() => Promise.all(rep.replicas.map((r) => rep.query(r, "SELECT pg_wal_replay_pause()"))))
      try {
        // the write committed on a leased connection; the read comes before the lease ends
        const inside = yield* db.session(
          db.withConnection((conn) =>
            Effect.gen(function* () {
              yield* conn.execute("INSERT INTO items VALUES ($1, 'lease')", [70_000])
              return yield* db.fetchval(count, [70_000])
            })
          )
        )
        expect(inside).toBe(1)
        const scoped = yield* db.session(
          Effect.scoped(
            Effect.gen(function* () {
              const conn = yield* db.acquire()
              yield* conn.execute("INSERT INTO items VALUES ($1, 'lease')", [70_001])
              return yield* db.fetchval(count, [70_001])
            })
          )
        )
        expect(scoped).toBe(1)
        // a lease on a replica holds nothing on the primary
        const port = yield* db.session(db.replica.withConnection(() => Effect.map(db.fetchval("SELECT inet_server_port()"), portOf)))
        expect(port).not.toBe(rep.primary.port)
      } finally {
        yield* Effect.promise(() => Promise.all(rep.replicas.map((r) => rep.query(r, "SELECT pg_wal_replay_resume()"))))
      }
    }))

  it.effect("another caller's writes do not hold a session's reads on the primary", () =>
    Effect.gen(function* () {
      const db = yield* ReplicatedPool
      const rep = yield* Rep
      yield* db.session(db.execute("INSERT INTO items VALUES ($1, 'other')", [40_000]))
      const port = portOf(yield* db.session(db.fetchval("SELECT inet_server_port()")))
      expect(port).not.toBe(rep.primary.port)
    }))

  it.effect("a stopped replica is routed around without a caller error; it comes back into rotation when started", () =>
    Effect.gen(function* () {
      const db = yield* ReplicatedPool
      const rep = yield* Rep
      const victim = rep.replicas[1]!
      const errors: Array<string> = []
      const seen = new Map<number, number>()
      let stop = false
      const reader = Effect.gen(function* () {
        while (!stop) {
          const r = yield* Effect.result(db.replica.fetchval("SELECT inet_server_port()"))
          if (r._tag === "Failure") errors.push(String(r.failure))
          else seen.set(portOf(r.success), (seen.get(portOf(r.success)) ?? 0) + 1)
        }
      })
      const fibers = yield* Effect.forEach(Array.from({ length: 8 }), () => Effect.forkChild(reader))
      yield* Effect.sleep(300)
      victim.stop()
      const stoppedAt = Date.now()
      yield* eventually(() => db.members()[2]!.inRotation === false, 5_000, "the stopped replica leaves rotation")
      const outAfter = Date.now() - stoppedAt
      seen.clear()
      yield* Effect.sleep(500)
      expect(seen.get(victim.port) ?? 0).toBe(0)
      expect(seen.get(rep.replicas[0]!.port) ?? 0).toBeGreaterThan(0)
      yield* Effect.promise(() => victim.startAsync())
      yield* eventually(() => db.members()[2]!.inRotation, 20_000, "the restarted replica is back in rotation")
      seen.clear()
      yield* Effect.sleep(500)
      stop = true
      yield* Effect.forEach(fibers, Fiber.join)
      expect(errors).toEqual([])
      expect(seen.get(victim.port) ?? 0).toBeGreaterThan(0)
      console.log(`stopped replica out of rotation after ${outAfter} ms`)
    }))

  it.effect("a replica lagging past maxReplicaLag leaves rotation and returns once it catches up", () =>
    Effect.gen(function* () {
      const db = yield* ReplicatedPool
      const rep = yield* Rep
      const laggard = rep.replicas[0]!
      yield* Effect.promise(() => rep.query(laggard, "SELECT pg_wal_replay_pause()"))
      // WAL the laggard does not replay
      const writer = yield* Effect.forkChild(
        Effect.forever(Effect.andThen(db.execute("INSERT INTO items VALUES ($1, 'lag') ON CONFLICT (id) DO UPDATE SET note = 'lag2'", [50_000]), Effect.sleep(50)))
      )
      yield* eventually(() => db.members()[1]!.inRotation === false, 6_000, "the paused replica leaves rotation")
      expect(db.members()[1]!.lagMs).toBeGreaterThan(1_500)
      const ports = yield* db.session(Effect.forEach(Array.from({ length: 20 }), () => Effect.map(db.replica.fetchval("SELECT inet_server_port()"), portOf)))
      expect(ports.every((p) => p === rep.replicas[1]!.port)).toBe(true)
      yield* Fiber.interrupt(writer)
      yield* Effect.promise(() => rep.query(laggard, "SELECT pg_wal_replay_resume()"))
      yield* eventually(() => db.members()[1]!.inRotation, 6_000, "the replica is back in rotation once it caught up")
    }))

  it.effect("typed errors: no primary at start, bad options, a closed pool", () =>
    Effect.gen(function* () {
      const rep = yield* Rep
      const noPrimary = yield* Effect.flip(ReplicatedPool.make({ primary: { dsn: dsnOf(rep.replicas[0]!) }, replicas: [] }))
      expect(noPrimary._tag).toBe("NoServerAvailableError")
      expect(noPrimary.message).toContain("primary")
      const bad = yield* Effect.flip(ReplicatedPool.make({ primary: { dsn: dsnOf(rep.primary) }, replicas: [], healthCheckInterval: -5 }))
      expect(bad._tag).toBe("InterfaceError")
      expect(bad.message).toContain("healthCheckInterval")
      const db = yield* ReplicatedPool.make({
        primary: { dsn: dsnOf(rep.primary) },
        replicas: [{ dsn: dsnOf(rep.replicas[0]!) }],
        pool: { minSize: 0, maxSize: 1 },
        healthCheckInterval: "100 millis"
      })
      expect(yield* db.fetchval("SELECT 1")).toBe(1)
      yield* db.close()
      yield* db.refresh()
      const read = yield* Effect.flip(db.fetchval("SELECT 1"))
      expect(read._tag).toBe("NoServerAvailableError")
      const write = yield* Effect.flip(db.execute("SELECT 1"))
      expect(write._tag).toBe("NoServerAvailableError")
    }))

  it.effect("two pools under two tags, each on its own server", () =>
    Effect.gen(function* () {
      const rep = yield* Rep
      const program = Effect.gen(function* () {
        const local = yield* PgPool
        const other = yield* ThrowawayPrimary
        return [portOf(yield* local.fetchval("SELECT inet_server_port()")), portOf(yield* other.fetchval("SELECT inet_server_port()"))]
      })
      const ports = yield* program.pipe(
        Effect.provide(Layer.mergeAll(PgPool.layer({ dsn: TEST_DSN, minSize: 1, maxSize: 2 }), ThrowawayPrimary.layer({ dsn: dsnOf(rep.primary), minSize: 1, maxSize: 2 })))
      )
      expect(ports).toEqual([5432, rep.primary.port])
      // layerAs: any key with the pool's shape
      const ports2 = yield* Effect.map(Effect.service(ThrowawayPrimary), (p) => p.getMaxSize()).pipe(
        Effect.provide(PgPool.layerAs(ThrowawayPrimary, { dsn: dsnOf(rep.primary), minSize: 0, maxSize: 3 }))
      )
      expect(ports2).toBe(3)
    }))
})
