/**
 * The replicated pool when servers hang, die and get promoted (a primary and
 * one streaming replica, throwaway clusters), with deadlines measured:
 *
 * - a frozen replica (SIGSTOP: connects and queries get no answer) is out of
 *   rotation within probeTimeout + interval; reads then go to the primary;
 *   thawed, it comes back;
 * - the primary stops: reads go on (on the replica), writes fail with a
 *   typed NoServerAvailableError once the probe saw it;
 * - the replica is promoted: writes reach it without a restart of the app,
 *   and the member's connections opened as a standby are replaced;
 * - the old primary comes back as a primary on the old timeline: writes
 *   stay on the promoted server (higher timeline).
 */
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { ReplicatedPool } from "../../src/ReplicatedPool.js"
import type { Cluster } from "../support/cluster.js"
import { replication } from "../support/replication.js"

const dsnOf = (c: Cluster) => `postgres://postgres@127.0.0.1:${c.port}/postgres?sslmode=disable&connect_timeout=2`

/** Polls `check` every 25 ms; the time it took in ms, or a defect after `ms`. */
const timeUntil = <E>(check: Effect.Effect<boolean, E>, ms: number, what: string) =>
  Effect.gen(function* () {
    const start = Date.now()
    for (;;) {
      if (yield* check) return Date.now() - start
      if (Date.now() - start > ms) return yield* Effect.die(new Error(`not within ${ms} ms: ${what}`))
      yield* Effect.sleep(25)
    }
  })

it.live("freeze, stop, promote, old primary back: routing follows within deadlines", () =>
  Effect.gen(function* () {
    const rep = yield* replication({ replicas: 1 })
    yield* Effect.promise(() => rep.query(rep.primary, "CREATE TABLE t (id int PRIMARY KEY)"))
    const db = yield* ReplicatedPool.make({
      primary: { dsn: dsnOf(rep.primary), name: "primary" },
      replicas: [{ dsn: dsnOf(rep.replica), name: "replica" }],
      pool: { minSize: 1, maxSize: 3, commandTimeout: "5 seconds" },
      healthCheckInterval: "100 millis",
      probeTimeout: "500 millis"
    })
    const port = (v: unknown) => Number(v)
    const readPort = db.session(Effect.map(db.fetchval("SELECT inet_server_port()"), port))
    expect(yield* readPort).toBe(rep.replica.port)

    // 1. a frozen replica leaves rotation within probeTimeout + interval (+ scheduling slack)
    rep.freeze(rep.replica)
    const frozenOut = yield* timeUntil(Effect.sync(() => !db.members()[1]!.inRotation), 2_000, "frozen replica out of rotation")
    expect(yield* readPort).toBe(rep.primary.port)
    rep.thaw(rep.replica)
    const thawedIn = yield* timeUntil(Effect.sync(() => db.members()[1]!.inRotation), 5_000, "thawed replica back in rotation")
    expect(yield* readPort).toBe(rep.replica.port)

    // 2. the primary stops: reads go on, writes fail typed once the probe saw it
    yield* db.execute("INSERT INTO t VALUES (1)")
    rep.primary.stop()
    const noWriter = yield* timeUntil(Effect.sync(() => !db.members()[0]!.up), 2_000, "stopped primary seen down")
    const writeErr = yield* Effect.flip(db.execute("INSERT INTO t VALUES (2)"))
    expect(writeErr._tag).toBe("NoServerAvailableError")
    expect(String(writeErr)).toContain("write")
    // read-your-writes cannot send this caller to the primary, so a fresh session reads from the replica
    expect(yield* readPort).toBe(rep.replica.port)
    expect(yield* db.session(db.fetchval("SELECT count(*)::int FROM t"))).toBe(1)

    // 3. promotion: writes reach the promoted replica without an app restart
    yield* Effect.promise(() => rep.promote(rep.replica))
    const promotedAt = Date.now()
    yield* timeUntil(
      Effect.map(Effect.result(db.execute("INSERT INTO t VALUES (3) ON CONFLICT DO NOTHING")), (r) => r._tag === "Success"),
      5_000,
      "a write succeeds on the promoted replica"
    )
    const toWrites = Date.now() - promotedAt
    expect(port(yield* db.primary.fetchval("SELECT inet_server_port()"))).toBe(rep.replica.port)
    const members = db.members()
    expect(members[1]!.role).toBe("primary")
    expect(members[1]!.writer).toBe(true)
    // its pool's standby-era connections were expired when its role changed
    expect(members[1]!.pool?.closedByReason["expired"] ?? 0).toBeGreaterThan(0)

    // 4. the old primary comes back (still a primary, old timeline): writes stay on the promoted server
    yield* Effect.promise(() => rep.primary.startAsync())
    yield* timeUntil(Effect.sync(() => db.members()[0]!.up), 10_000, "old primary seen up again")
    yield* db.refresh()
    expect(db.members()[0]!.role).toBe("primary")
    expect(db.members()[1]!.writer).toBe(true)
    expect(port(yield* db.primary.fetchval("SELECT inet_server_port()"))).toBe(rep.replica.port)
    expect(db.members()[1]!.lsn).toBeDefined()

    console.log(
      `replicated failover: frozen replica out of rotation in ${frozenOut} ms, back in ${thawedIn} ms after thaw; stopped primary seen down in ${noWriter} ms; writes on the promoted replica ${toWrites} ms after promotion`
    )
    expect(frozenOut).toBeLessThan(1_500)
    expect(noWriter).toBeLessThan(1_500)
    expect(toWrites).toBeLessThan(2_000)
  }), 180_000)
