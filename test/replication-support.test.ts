/**
 * The replication test support (test/support/replication.ts) does what it
 * says: replicas stream, a frozen primary answers nothing until thawed, a
 * promoted replica takes writes, a stopped replica comes back.
 */
import { expect, it } from "@effect/vitest"
import * as net from "node:net"
import * as Effect from "effect/Effect"
import { replication } from "./support/replication.js"

/** Whether the server at `port` sends anything back to an SSLRequest within `ms`. */
const answers = (port: number, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port })
    const done = (v: boolean) => {
      clearTimeout(t)
      s.destroy()
      resolve(v)
    }
    const t = setTimeout(() => done(false), ms)
    s.on("connect", () => s.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])))
    s.on("data", () => done(true))
    s.on("error", () => done(false))
  })

it.live("two replicas stream; freeze/thaw; stop/start; promote", () =>
  Effect.gen(function*() {
    const rep = yield* replication({ replicas: 2 })
    expect(rep.replicas).toHaveLength(2)
    yield* Effect.promise(async () => {
      await rep.query(rep.primary, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
      // both replicas see the write
      for (const r of rep.replicas) {
        for (let i = 0; (await rep.query(r, "SELECT count(*) FROM pg_class WHERE relname = 't'")) !== "1"; i++) {
          if (i > 200) throw new Error("replica never saw the table")
          await new Promise((res) => setTimeout(res, 25))
        }
        expect(await rep.query(r, "SELECT pg_is_in_recovery()")).toBe("t")
      }
      expect(await answers(rep.primary.port, 2000)).toBe(true)
      rep.freeze(rep.primary)
      // accepted by the kernel, never answered
      expect(await answers(rep.primary.port, 1000)).toBe(false)
      rep.thaw(rep.primary)
      expect(await answers(rep.primary.port, 5000)).toBe(true)

      rep.replicas[1]!.stop()
      expect(await answers(rep.replicas[1]!.port, 1000)).toBe(false)
      await rep.replicas[1]!.startAsync()
      await rep.waitStreaming()

      rep.freeze(rep.primary)
      await rep.promote(rep.replica)
      await rep.query(rep.replica, "INSERT INTO t VALUES (2)")
      expect(await rep.query(rep.replica, "SELECT count(*) FROM t")).toBe("2")
      // left frozen: the scope's finalizer thaws and stops it
    })
  }), 120_000)
