/**
 * Where tests find PostgreSQL: DATABASE_URL, else the machine's local server.
 */
import * as net from "node:net"

/** The DSN of the shared test server (never stopped or reconfigured by tests). */
export const TEST_DSN = process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test"

/** A name unique to this test run, for tables and application_name. */
export const uniqueName = (prefix: string): string =>
  `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`

/** A TCP port nobody listens on right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
