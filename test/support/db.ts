/**
 * Where tests find PostgreSQL: DATABASE_URL, else the machine's local server.
 */
import * as fs from "node:fs"
import * as net from "node:net"

/** The DSN of the shared test server (never stopped or reconfigured by tests). */
export const TEST_DSN = process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test"

/** A name unique to this test run, for tables and application_name. */
export const uniqueName = (prefix: string): string =>
  `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`

/**
 * The lowest port the kernel hands out to outgoing connections. A port taken from below
 * it cannot be stolen by another test's client socket between our check and the server's
 * bind (a `listen(0)` port can: it comes from that same range, and did, in CI).
 */
const ephemeralLow = (): number => {
  try {
    const low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 12_000 ? low : 32_768
  } catch {
    return 32_768
  }
}

const tryListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = net.createServer()
    srv.once("error", () => resolve(false))
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)))
  })

/** A TCP port nobody listens on right now, below the kernel's range for outgoing connections. */
export const freePort = async (): Promise<number> => {
  const high = ephemeralLow()
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (high - 10_000))
    if (await tryListen(port)) return port
  }
  throw new Error("freePort: no free port below the ephemeral range after 200 tries")
}
