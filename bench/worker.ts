/**
 * One benchmark worker: a child process that owns one driver (`pg`, `postgres`, `sql-pg` or
 * `effect-pg`) and measures the cases the parent sends it, one at a time, over IPC.
 *
 * The parent starts one worker per driver and never runs two measurements at once, so a worker
 * is idle (no connections, no timers) while another one measures.
 */
import { type Driver, type DriverId, errorMessage, type MeasureRequest, type WorkerReply } from "./common.js"

const driverId = process.argv[2] as DriverId

const send = (msg: WorkerReply) => process.send!(msg)

const load = async (): Promise<Driver> => {
  switch (driverId) {
    case "pg":
      return (await import("./peers/pg.js")).driver
    case "postgres":
      return (await import("./peers/postgres.js")).driver
    case "sql-pg":
      return (await import("./peers/sql-pg.js")).driver
    case "effect-pg":
      return (await import("./peers/effect-pg.js")).driver
    case "sql-client":
      return (await import("./peers/sql-client.js")).driver
    default:
      throw new Error(`unknown driver ${String(driverId)}`)
  }
}

const driverPromise = load()
driverPromise.then(() => send({ type: "ready" }), () => send({ type: "ready" }))

process.on("message", async (msg: MeasureRequest | { type: "exit" }) => {
  if (msg.type === "exit") {
    process.disconnect()
    return
  }
  try {
    const driver = await driverPromise
    const result = await driver.measure(msg)
    send({ type: "result", seq: msg.seq, result })
  } catch (e) {
    const fatal = typeof e === "object" && e !== null && (e as Error).constructor?.name === "NotAvailable"
    send({ type: "error", seq: msg.seq, message: errorMessage(e), fatal })
  }
})

// the parent is gone (it finished, or died): leave too
process.on("disconnect", () => process.exit(0))

// An unhandled rejection inside a driver (a socket error nobody listened to) must not leave the
// parent waiting for a reply: report it and let the parent restart this worker.
process.on("unhandledRejection", (e) => {
  console.error(`[worker ${driverId}] unhandled rejection: ${errorMessage(e)}`)
  process.exit(70)
})
process.on("uncaughtException", (e) => {
  console.error(`[worker ${driverId}] uncaught exception: ${errorMessage(e)}`)
  process.exit(70)
})
