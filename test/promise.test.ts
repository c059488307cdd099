/**
 * effect-pg/promise: asyncpg's documented pool examples
 * (/work/shared/reference/asyncpg-pool-api.txt) translated line by line to
 * the Promise facade, against the real server; errors checked with
 * `instanceof` against the exported classes, `await using` releasing and
 * closing, transactions as callbacks and as disposables.
 */
import * as Redacted from "effect/Redacted"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  AcquireTimeoutError,
  connect,
  createPool,
  PoolClosedError,
  PostgresConnectionError,
  type PromisePool,
  PostgresSyntaxError,
  Range,
  TooManyConnectionsError,
  UniqueViolationError
} from "../src/promise/index.js"
import { freePort, TEST_DSN, uniqueName } from "./support/db.js"

let admin: PromisePool
const users = uniqueName("users")
const orders = uniqueName("orders")
const logs = uniqueName("logs")

beforeAll(async () => {
  admin = await createPool(TEST_DSN, { minSize: 1, maxSize: 2 })
  await admin.execute(`CREATE TABLE ${users} (id int4 PRIMARY KEY, name text, active bool)`)
  await admin.execute(`INSERT INTO ${users} VALUES (1, 'ann', true), (2, 'bob', false), (3, 'cy', true)`)
  await admin.execute(`CREATE TABLE ${orders} (amount int4, status text)`)
  await admin.execute(`CREATE TABLE ${logs} (message text, timestamp timestamptz)`)
})

afterAll(async () => {
  await admin.execute(`DROP TABLE IF EXISTS ${users}, ${orders}, ${logs}`)
  await admin.close()
})

/** Rejection of `p`, which must reject. */
const rejectionOf = async (p: Promise<unknown>): Promise<unknown> => {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error("expected a rejection")
}

describe("create_pool", () => {
  it("pool = await create_pool(dsn): minSize connections are open when it resolves", async () => {
    const pool = await createPool(TEST_DSN)
    expect(pool.getMinSize()).toBe(10)
    expect(pool.getSize()).toBe(10)
    expect(await pool.fetchval("SELECT 1")).toBe(1)
    await pool.close()
  })

  it("advanced configuration: min_size=5, max_size=20, max_queries, max_inactive_connection_lifetime, command_timeout", async () => {
    const pool = await createPool(TEST_DSN, {
      minSize: 5,
      maxSize: 20,
      maxQueries: 10000,
      maxInactiveConnectionLifetime: "600 seconds",
      commandTimeout: "60 seconds"
    })
    expect([pool.getMinSize(), pool.getMaxSize(), pool.getSize()]).toEqual([5, 20, 5])
    await pool.close()
  })

  it("a setup hook (async function of the connection) runs before each acquire", async () => {
    let setups = 0
    const setupConnection = async (conn: { execute(sql: string): Promise<string> }) => {
      setups++
      await conn.execute("SET timezone = 'UTC'")
    }
    const pool = await createPool(TEST_DSN, { setup: setupConnection, minSize: 2, maxSize: 10 })
    {
      await using conn = await pool.acquire()
      expect(await conn.fetchval("SHOW timezone")).toBe("UTC")
    }
    expect(setups).toBe(1)
    await pool.close()
  })

  it("the DSN may be Redacted (a secret), for createPool and connect", async () => {
    const pool = await createPool(Redacted.make(TEST_DSN), { minSize: 1, maxSize: 1 })
    expect(await pool.fetchval("SELECT 1")).toBe(1)
    await pool.close()
    await using conn = await connect(Redacted.make(TEST_DSN))
    expect(await conn.fetchval("SELECT 2")).toBe(2)
  })

  it("a server that is down rejects create_pool with PostgresConnectionError", async () => {
    const port = await freePort()
    const e = await rejectionOf(createPool(`postgres://root@127.0.0.1:${port}/test`, { minSize: 1, timeout: "2 seconds" }))
    expect(e).toBeInstanceOf(PostgresConnectionError)
    expect((e as Error).name).toBe("PostgresConnectionError")
  })
})

describe("acquire and release", () => {
  it("async with pool.acquire() as conn → await using conn = await pool.acquire(): released at the end of the block", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 1, maxSize: 2 })
    {
      await using conn = await pool.acquire()
      const result = await conn.fetch(`SELECT * FROM ${users} ORDER BY id`)
      expect(result.map((r) => r.get("name"))).toEqual(["ann", "bob", "cy"])
      expect(pool.stats().borrowed).toBe(1)
    }
    // connection automatically released
    expect(pool.stats().borrowed).toBe(0)
    await pool.close()
  })

  it("manual acquisition/release: try ... finally pool.release(conn)", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 1, maxSize: 1 })
    const conn = await pool.acquire()
    try {
      const result = await conn.fetch(`SELECT * FROM ${users}`)
      expect(result.length).toBe(3)
    } finally {
      await pool.release(conn)
    }
    expect(pool.getIdleSize()).toBe(1)
    // a released connection cannot be used any more
    expect(await rejectionOf(conn.fetchval("SELECT 1"))).toBeInstanceOf(Error)
    await pool.close()
  })

  it("with timeout: acquire(timeout) on a busy pool rejects with AcquireTimeoutError (asyncio.TimeoutError)", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 1, maxSize: 1 })
    const held = await pool.acquire()
    const started = Date.now()
    const e = await rejectionOf(pool.acquire({ timeout: 200 }))
    expect(e).toBeInstanceOf(AcquireTimeoutError)
    expect(e).toBeInstanceOf(Error)
    expect((e as Error).name).toBe("AcquireTimeoutError")
    expect(Date.now() - started).toBeLessThan(2000)
    await held.release()
    await pool.close()
  })
})

describe("pool-level queries", () => {
  it("fetch / fetchval / execute with arguments passed one by one", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 1, maxSize: 2 })
    const active = await pool.fetch(`SELECT * FROM ${users} WHERE active = $1 ORDER BY id`, true)
    expect(active.map((r) => r.get("id"))).toEqual([1, 3])
    const count = await pool.fetchval(`SELECT COUNT(*) FROM ${users}`)
    expect(count).toBe(3n)
    const now = new Date()
    const status = await pool.execute(`INSERT INTO ${logs}(message, timestamp) VALUES($1, $2)`, "User logged in", now)
    expect(status).toBe("INSERT 0 1")
    const row = await pool.fetchrow(`SELECT message, timestamp FROM ${logs}`)
    expect(row?.get("message")).toBe("User logged in")
    expect((row?.get("timestamp") as Date).getTime()).toBe(now.getTime())
    // values effect-pg decodes into its own classes
    expect(String(await pool.fetchval("SELECT $1::int4range", new Range(1, 10)))).toBe("[1,10)")
    await pool.close()
  })

  it("batch operations: executemany(sql, [(100, 'pending'), ...])", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 1, maxSize: 2 })
    const rows = [[100, "pending"], [200, "shipped"], [300, "delivered"]]
    await pool.executemany(`INSERT INTO ${orders}(amount, status) VALUES($1, $2)`, rows)
    expect(await pool.fetchval(`SELECT sum(amount)::int4 FROM ${orders}`)).toBe(600)
    const many = await pool.fetchmany(`SELECT $1::int4 * 2 AS n`, [[1], [2]])
    expect(many.map((rs) => rs[0]!.get("n"))).toEqual([2, 4])
    await pool.close()
  })

  it("query options through .with(): a command timeout, fetchval's column", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 1, maxSize: 2 })
    expect(await pool.with({ column: "b" }).fetchval("SELECT 1 AS a, 2 AS b")).toBe(2)
    const e = await rejectionOf(pool.with({ timeout: 100 }).execute("SELECT pg_sleep(5)"))
    expect((e as Error).name).toBe("CommandTimeoutError")
    await pool.close()
  })

  it("server errors reject with their own class (UniqueViolationError, PostgresSyntaxError), never a wrapper", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 1, maxSize: 2 })
    const e = await rejectionOf(pool.execute(`INSERT INTO ${users} VALUES ($1, $2, $3)`, 1, "dup", true))
    expect(e).toBeInstanceOf(UniqueViolationError)
    expect((e as UniqueViolationError).constructor).toBe(UniqueViolationError)
    expect((e as UniqueViolationError).code).toBe("23505")
    expect((e as UniqueViolationError).constraint).toBe(`${users}_pkey`)
    expect(await rejectionOf(pool.fetch("SELEC 1"))).toBeInstanceOf(PostgresSyntaxError)
    await pool.close()
  })
})

describe("transactions", () => {
  it("conn.transaction(async () => ...): committed when it resolves, rolled back when it throws", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 1, maxSize: 2 })
    await using conn = await pool.acquire()
    const id = 1000 + Math.floor(Math.random() * 1000)
    await conn.transaction(async () => {
      await conn.execute(`INSERT INTO ${users} VALUES ($1, 'tx', true)`, id)
      expect(conn.isInTransaction()).toBe(true)
    })
    expect(await pool.fetchval(`SELECT name FROM ${users} WHERE id = $1`, id)).toBe("tx")
    const boom = new Error("boom")
    const e = await rejectionOf(conn.transaction(async () => {
      await conn.execute(`DELETE FROM ${users} WHERE id = $1`, id)
      throw boom
    }))
    expect(e).toBe(boom)
    expect(conn.isInTransaction()).toBe(false)
    expect(await pool.fetchval(`SELECT name FROM ${users} WHERE id = $1`, id)).toBe("tx")
    await conn.execute(`DELETE FROM ${users} WHERE id = $1`, id)
    await conn.release()
    await pool.close()
  })

  it("await using tx = await conn.transaction(): commit() keeps, leaving without commit rolls back; nested is a savepoint", async () => {
    await using conn = await connect(TEST_DSN)
    await conn.execute("CREATE TEMP TABLE t (n int4)")
    {
      await using tx = await conn.transaction()
      await conn.execute("INSERT INTO t VALUES (1)")
      {
        await using inner = await conn.transaction()
        expect(inner.nested).toBe(true)
        await conn.execute("INSERT INTO t VALUES (2)")
      } // savepoint rolled back
      await tx.commit()
    }
    {
      await using tx = await conn.transaction({ isolation: "serializable" })
      expect(tx.nested).toBe(false)
      await conn.execute("INSERT INTO t VALUES (3)")
    } // no commit: rolled back
    expect(conn.isInTransaction()).toBe(false)
    expect((await conn.fetch("SELECT n FROM t ORDER BY n")).map((r) => r.get("n"))).toEqual([1])
  })
})

describe("lifecycle, monitoring, errors", () => {
  it("pool status: get_size, get_idle_size; is_closing; close; PoolClosedError afterwards", async () => {
    const pool = await createPool(TEST_DSN, { minSize: 2, maxSize: 4 })
    expect(pool.getSize()).toBe(2)
    expect(pool.getIdleSize()).toBe(2)
    const conn = await pool.acquire()
    expect(pool.getSize() - pool.getIdleSize()).toBe(1)
    await conn.release()
    expect(pool.isClosing()).toBe(false)
    expect(await pool.fetchval("SELECT 1")).toBe(1)
    await pool.expireConnections()
    await pool.close()
    expect(pool.isClosing()).toBe(true)
    const e = await rejectionOf(pool.fetchval("SELECT 1"))
    expect(e).toBeInstanceOf(PoolClosedError)
  })

  it("terminate closes every connection at once; await using closes a pool", async () => {
    const app = uniqueName("promise")
    const count = () => admin.fetchval<bigint>("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app)
    const pool = await createPool(TEST_DSN, { minSize: 2, maxSize: 2, applicationName: app })
    expect(await count()).toBe(2n)
    await pool.terminate()
    for (let i = 0; i < 50 && (await count()) !== 0n; i++) await new Promise((r) => setTimeout(r, 20))
    expect(await count()).toBe(0n)
    {
      await using scoped = await createPool(TEST_DSN, { minSize: 1, maxSize: 1, applicationName: app })
      expect(await scoped.fetchval("SELECT 1")).toBe(1)
    }
    for (let i = 0; i < 50 && (await count()) !== 0n; i++) await new Promise((r) => setTimeout(r, 20))
    expect(await count()).toBe(0n)
  })

  it("TooManyConnectionsError when the server refuses more connections for the role", async () => {
    const role = uniqueName("limited")
    await admin.execute(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`)
    try {
      const url = new URL(TEST_DSN)
      url.username = role
      url.password = ""
      const e = await rejectionOf(createPool(url.toString(), { minSize: 2, maxSize: 2 }))
      expect(e).toBeInstanceOf(TooManyConnectionsError)
    } finally {
      await admin.execute(`DROP ROLE ${role}`)
    }
  })

  it("connect(dsn): one connection; await using closes it", async () => {
    let pid = 0
    {
      await using conn = await connect(TEST_DSN)
      pid = conn.getServerPid()
      expect(await conn.fetchval("SELECT $1::int4 + 1", 41)).toBe(42)
      expect(conn.getServerVersion().major).toBeGreaterThan(9)
    }
    for (let i = 0; i < 50 && (await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)) !== 0n; i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)).toBe(0n)
  })
})
