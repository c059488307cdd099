/**
 * Issue 12, one test (or a few) per reported bug: each fails on 4a1acd7.
 * The wider table of hostile inputs is hostile-input.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Connection from "../../src/Connection.js"
import type { ConnectionImpl } from "../../src/Connection.js"
import type { Session } from "../../src/connection/Session.js"
import type { Statement } from "../../src/connection/statement.js"
import { Writer } from "../../src/protocol/Writer.js"
import { TEST_DSN, uniqueName } from "../support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

/** The connection answers a trivial query. */
const alive = (conn: Connection.Connection) =>
  Effect.gen(function* () {
    expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    expect(conn.isClosed()).toBe(false)
  })

const placeholders = (n: number) => Array.from({ length: n }, (_, i) => `$${i + 1}::int4`).join(",")

describe("issue 12 — 1: parameter counts", () => {
  it.live("32,768 parameters: counts are read unsigned", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const n = yield* conn.fetchval(`SELECT array_length(ARRAY[${placeholders(32768)}],1)`, Array(32768).fill(7))
      expect(n).toBe(32768)
      yield* alive(conn)
    }))

  it.live("65,535 parameters work; 65,536 are refused with an InterfaceError before the Bind", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const max = yield* conn.fetchval(`SELECT array_length(ARRAY[${placeholders(65535)}],1)`, Array(65535).fill(1))
      expect(max).toBe(65535)
      const e = yield* Effect.flip(conn.fetchval("SELECT $1::int4", Array(65536).fill(1)))
      expect(e._tag).toBe("InterfaceError")
      expect(e.message).toContain("65,535")
      yield* alive(conn)
    }))

  it("the Writer refuses a count beyond uint16 instead of wrapping, and writes nothing", () => {
    const w = new Writer()
    expect(() => w.bind("", "s", [], Array(65536).fill(null), [])).toThrow(RangeError)
    expect(w.pending).toBe(0)
    w.bind("", "s", [], Array(40000).fill(null), [])
    const bytes = w.take()
    // type, length, portal "", statement "s", format count 0, then the value count
    expect(bytes.readUInt16BE(1 + 4 + 1 + 2 + 2)).toBe(40000)
  })
})

describe("issue 12 — 2: COPY through query methods", () => {
  const withTable = <A, E>(f: (conn: Connection.Connection, table: string) => Effect.Effect<A, E>) =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_copy")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (x int)`)
      yield* f(conn, table)
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(0)
      yield* alive(conn)
    })

  it.live("fetch/fetchval/fetchrow/execute with args/executemany/fetchmany fail at once with an InterfaceError", () =>
    withTable((conn, table) =>
      Effect.gen(function* () {
        const stdin = `COPY ${table} FROM STDIN`
        const stdout = `/* c */ copy ${table} TO stdout`
        const calls: Array<Effect.Effect<unknown, { _tag: string; message: string }>> = [
          conn.fetch(stdin),
          conn.fetchval(stdin),
          conn.fetchrow(stdin),
          conn.execute(`COPY ${table} FROM STDIN WHERE x > $1`, [1]),
          conn.executemany(stdin, [[], []]),
          conn.fetchmany(stdin, [[]]),
          conn.fetch(stdout),
          conn.fetchval(`COPY (SELECT 1) TO STDOUT`)
        ]
        for (const call of calls) {
          const e = yield* Effect.flip(call.pipe(Effect.timeout("2 seconds")))
          expect(e._tag).toBe("InterfaceError")
          expect(e.message).toMatch(/copyToTable|copyFromQuery/)
          yield* alive(conn)
        }
      })
    ))

  it.live("execute without args: COPY TO STDOUT now fails too (its data would be lost); FROM STDIN still does", () =>
    withTable((conn, table) =>
      Effect.gen(function* () {
        const out = yield* Effect.flip(conn.execute(`COPY ${table} TO STDOUT`))
        expect(out._tag).toBe("InterfaceError")
        yield* alive(conn)
        const inn = yield* Effect.flip(conn.execute(`COPY ${table} FROM STDIN`))
        expect(inn._tag).toBe("InterfaceError")
      })
    ))

  it.live("simple protocol, a script with COPY FROM STDIN after another statement: CopyFail, typed error, connection usable", () =>
    withTable((conn, table) =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(conn.execute(`SELECT 1; COPY ${table} FROM STDIN`).pipe(Effect.timeout("3 seconds")))
        expect(e._tag).toBe("InterfaceError")
        expect(e.message).toContain("copyToTable")
      })
    ))

  it.live("simple protocol, such a script with a query pipelined behind it: the session is closed with a clear error", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_copy")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (x int)`)
      const copy = yield* Effect.forkChild(Effect.flip(conn.execute(`SELECT 1; COPY ${table} FROM STDIN`)))
      const behind = yield* Effect.forkChild(Effect.flip(conn.fetchval("SELECT 2")))
      expect((yield* Fiber.join(copy))._tag).toBe("InterfaceError")
      expect((yield* Fiber.join(behind)).message).toContain("pipelined")
      expect(conn.isClosed()).toBe(true)
    }))

  /**
   * The protocol-level safety net under the up-front refusal: a COPY statement
   * prepared by hand (Parse) and executed by Session.execute.
   */
  const prepareRaw = (session: Session, name: string, sql: string) =>
    Effect.callback<void>((resume) => {
      session.sendRequest(
        { abandoned: false, onSettled: undefined, handle() {}, done: () => resume(Effect.void), fail: () => resume(Effect.void) },
        (w) => w.parse(name, sql).sync()
      )
    })
  const rawStatement = (name: string, sql: string, cached: boolean): Statement => ({
    name, sql, cached, state: "ready", waiters: [], paramOids: [], fields: [], paramCodecs: [], paramFormats: [],
    resultCodecs: [], resultFormats: [], make: undefined, preparedAt: Date.now(), touchesSession: false, serverMs: undefined, unnamed: false
  })
  const executeRaw = (session: Session, st: Statement, sets: number) =>
    Effect.callback<{ _tag: string; message: string } | undefined>((resume) => {
      session.execute(st, Array.from({ length: sets }, () => []), false, (err) => resume(Effect.succeed(err)))
    })

  it.live("protocol path, COPY FROM STDIN, one cached execution: CopyFail + Sync, typed error, connection usable", () =>
    withTable((conn, table) =>
      Effect.gen(function* () {
        const session = (conn as ConnectionImpl).session
        const name = uniqueName("raw")
        yield* prepareRaw(session, name, `COPY ${table} FROM STDIN`)
        const err = yield* executeRaw(session, rawStatement(name, `COPY ${table} FROM STDIN`, true), 1).pipe(Effect.timeout("3 seconds"))
        expect(err?._tag).toBe("InterfaceError")
        yield* alive(conn)
      })
    ))

  // the server ends the session itself when a Close or Bind follows the Execute inside
  // COPY ("protocol synchronization was lost"): the client closes it at once, with a clear error
  for (const [label, cached, sets] of [["uncached (a Close follows)", false, 1], ["three executions (a Bind follows)", true, 3]] as const) {
    it.live(`protocol path, COPY FROM STDIN ${label}: typed error at once, session closed`, () =>
      Effect.gen(function* () {
        const conn = yield* connect()
        const table = uniqueName("t_copy")
        yield* conn.execute(`CREATE TEMP TABLE ${table} (x int)`)
        const session = (conn as ConnectionImpl).session
        const name = uniqueName("raw")
        yield* prepareRaw(session, name, `COPY ${table} FROM STDIN`)
        const err = yield* executeRaw(session, rawStatement(name, `COPY ${table} FROM STDIN`, cached), sets).pipe(Effect.timeout("3 seconds"))
        expect(err?._tag).toBe("InterfaceError")
        expect(err?.message).toContain("copyToTable")
        expect(conn.isClosed()).toBe(true)
      }))
  }

  it.live("protocol path, COPY TO STDOUT: drained, typed error, connection usable", () =>
    withTable((conn, table) =>
      Effect.gen(function* () {
        const session = (conn as ConnectionImpl).session
        const name = uniqueName("raw")
        const sql = `COPY (SELECT g FROM generate_series(1, 5000) g) TO STDOUT`
        yield* prepareRaw(session, name, sql)
        const err = yield* executeRaw(session, rawStatement(name, sql, true), 1).pipe(Effect.timeout("3 seconds"))
        expect(err?._tag).toBe("InterfaceError")
        yield* alive(conn)
      })
    ))

  it.live("protocol path, COPY FROM STDIN with a query pipelined behind it: the session is closed with a clear error", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_copy")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (x int)`)
      const session = (conn as ConnectionImpl).session
      const name = uniqueName("raw")
      yield* prepareRaw(session, name, `COPY ${table} FROM STDIN`)
      const copy = yield* Effect.forkChild(executeRaw(session, rawStatement(name, `COPY ${table} FROM STDIN`, true), 1))
      const behind = yield* Effect.forkChild(Effect.flip(conn.fetchval("SELECT 2")))
      const err = yield* Fiber.join(copy)
      expect(err?._tag).toBe("InterfaceError")
      const e2 = yield* Fiber.join(behind)
      expect(e2.message).toContain("pipelined")
      expect(conn.isClosed()).toBe(true)
    }))
})

describe("issue 12 — 3: arguments whose inspection throws", () => {
  const hostile = (): ReadonlyArray<readonly [string, unknown]> => {
    const revocable = Proxy.revocable({}, {})
    revocable.revoke()
    return [
      ["a Proxy whose get throws", new Proxy({}, { get() { throw new Error("boom") } })],
      ["a revoked Proxy", revocable.proxy],
      ["an object whose constructor getter throws", Object.defineProperty({}, "constructor", { get() { throw new Error("no") } })],
      ["a Proxy whose getPrototypeOf throws", new Proxy({}, { getPrototypeOf() { throw new Error("proto") } })]
    ]
  }
  for (const cache of [100, 0]) {
    it.live(`is a DataError (statement cache ${cache === 0 ? "off" : "on"}) for int4, json, text[] and an unknown type`, () =>
      Effect.gen(function* () {
        const conn = yield* connect({ statementCacheSize: cache })
        for (const [label, value] of hostile()) {
          for (const sql of ["SELECT $1::int4", "SELECT $1::jsonb", "SELECT $1::text[]", "SELECT $1::point", "SELECT $1"]) {
            // warm the cache first, so the cached path (synchronous) is the one tested
            yield* Effect.ignore(conn.fetchval(sql, [null]))
            const r = yield* Effect.result(conn.fetchval(sql, [value]))
            // jsonb may serialize an object whose only trap is elsewhere ("{}"); a failure is always a DataError
            if (r._tag === "Success") expect(sql, label).toBe("SELECT $1::jsonb")
            else expect(r.failure._tag, `${label}: ${sql}`).toBe("DataError")
          }
        }
        yield* alive(conn)
      }))
  }

  it.live("an argument list that is itself a hostile Proxy is a DataError", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const args = new Proxy([1], { get() { throw new Error("list") } })
      const e = yield* Effect.flip(conn.fetchval("SELECT $1::int4", args))
      expect(["DataError", "InterfaceError"]).toContain(e._tag)
      yield* alive(conn)
    }))
})

describe("issue 12 — 4: NUL in SQL text and identifiers", () => {
  it.live("a NUL in parameterised SQL is refused before anything is sent: the row is not deleted", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("t_nul")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (x int)`)
      yield* conn.execute(`INSERT INTO ${table} VALUES (1)`)
      const e = yield* Effect.flip(conn.fetch(`DELETE FROM ${table} WHERE x=$1 RETURNING x\u0000; SELECT 1`, [1]))
      expect(e._tag).toBe("InterfaceError")
      expect(e.message).toContain("NUL")
      const e2 = yield* Effect.flip(conn.execute(`DELETE FROM ${table}\u0000 WHERE false`))
      expect(e2._tag).toBe("InterfaceError")
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(1)
      const e3 = yield* Effect.flip(conn.executemany(`DELETE FROM ${table} WHERE x=$1\u0000`, [[1]]))
      expect(e3._tag).toBe("InterfaceError")
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${table}`)).toBe(1)
      yield* alive(conn)
    }))

  it.live("NUL in a channel name, a COPY table or column name: InterfaceError", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const e1 = yield* Effect.flip(Stream.runDrain(Stream.take(conn.listen("a\u0000b"), 1)))
      expect(e1._tag).toBe("InterfaceError")
      const e2 = yield* Effect.flip(conn.copyRecordsToTable("t\u0000x", { records: [[1]] }))
      expect(e2._tag).toBe("InterfaceError")
      const e3 = yield* Effect.flip(conn.copyToTable("pg_class", { source: Stream.empty, columns: ["a\u0000"] }))
      expect(e3._tag).toBe("InterfaceError")
      yield* alive(conn)
    }))
})

describe("issue 12 — 5: silent value changes", () => {
  it.live("float4/float8 values that would become ±Infinity or 0 are DataErrors; explicit specials pass", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      for (const [sql, v] of [
        ["SELECT $1::float4", 1e308],
        ["SELECT $1::float4", -3.5e38],
        ["SELECT $1::float4", 1e-50],
        ["SELECT $1::float4", "1e39"],
        ["SELECT $1::float8", "1e309"],
        ["SELECT $1::float8", "-1e309"],
        ["SELECT $1::float8", "1e-400"],
        ["SELECT $1::float8", 2n ** 1100n],
        ["SELECT $1::float4[]", [1, 1e308]]
      ] as const) {
        const e = yield* Effect.flip(conn.fetchval(sql, [v]))
        expect(e._tag, `${sql} ${String(v)}`).toBe("DataError")
      }
      expect(yield* conn.fetchval("SELECT $1::float4", [Infinity])).toBe(Infinity)
      expect(yield* conn.fetchval("SELECT $1::float4", [-Infinity])).toBe(-Infinity)
      expect(yield* conn.fetchval("SELECT $1::float4", [NaN])).toBeNaN()
      expect(yield* conn.fetchval("SELECT $1::float8", ["-Infinity"])).toBe(-Infinity)
      expect(yield* conn.fetchval("SELECT $1::float8", ["0e10"])).toBe(0)
      expect(yield* conn.fetchval("SELECT $1::float4", [3.4e38])).toBe(Math.fround(3.4e38))
      expect(yield* conn.fetchval("SELECT $1::float4", [1e-40])).toBe(Math.fround(1e-40))
      yield* alive(conn)
    }))

  it.live("lone surrogates in string arguments are DataErrors (they would be stored as U+FFFD)", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      for (const sql of ["SELECT $1::text", "SELECT $1::varchar", "SELECT $1::text[]", "SELECT $1"]) {
        const v = sql.endsWith("[]") ? ["ok", "a\uD800b"] : "a\uDC00"
        const e = yield* Effect.flip(conn.fetchval(sql, [v]))
        expect(e._tag, sql).toBe("DataError")
      }
      // a proper pair is fine
      expect(yield* conn.fetchval("SELECT $1::text", ["😀"])).toBe("😀")
      const e = yield* Effect.flip(conn.fetchval("SELECT '\uD800'"))
      expect(e._tag).toBe("InterfaceError")
      yield* alive(conn)
    }))
})

describe("issue 12 — 6: decoding does not depend on the wire format", () => {
  it.live("text-form composites (an aclitem attribute) decode interval, point, box, circle, arrays and float4 as the binary form does", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* conn.execute(
        "CREATE TYPE pg_temp.tx AS (i interval, ia interval[], p point, b box, c circle, ba box[], f float4, a aclitem)"
      )
      const values = "'1 year 2 mons -3 days +04:05:06.5'::interval, ARRAY['1 day'::interval, '-00:00:01'], point(1.5, -2), box(point(1,2), point(3,4)), circle(point(0,0), 2.5), ARRAY[box(point(1,2), point(3,4)), box(point(0,0), point(1,1))], 0.1::float4"
      const binary = (yield* conn.fetchrow(`SELECT ${values}`))!
      const text = (yield* conn.fetchval(`SELECT ROW(${values}, NULL)::pg_temp.tx`)) as Record<string, unknown>
      expect(text.i).toEqual(binary.get(0))
      expect(text.ia).toEqual(binary.get(1))
      expect(text.p).toEqual({ x: 1.5, y: -2 })
      expect(text.b).toEqual(binary.get(3))
      expect(text.c).toEqual({ center: { x: 0, y: 0 }, radius: 2.5 })
      expect(text.ba).toEqual(binary.get(5))
      expect(text.f).toBe(0.10000000149011612)
      expect(binary.get(6)).toBe(0.10000000149011612)
    }))

  it.live("regtype in a text-form composite is the server's name (documented: cast to ::oid for the number)", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* conn.execute("CREATE TYPE pg_temp.trt AS (t regtype, a aclitem)")
      expect(yield* conn.fetchval("SELECT 'int4'::regtype")).toBe(23)
      const v = (yield* conn.fetchval("SELECT ROW('int4'::regtype, NULL)::pg_temp.trt")) as Record<string, unknown>
      expect(v.t).toBe("integer")
    }))

  it.live("a text timestamp in another DateStyle is a DataError, not a string in place of a Date", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      yield* conn.execute("CREATE TYPE pg_temp.tts AS (t timestamp, a aclitem)")
      yield* conn.execute("SET DateStyle = 'SQL, DMY'")
      const e = yield* Effect.flip(conn.fetchval("SELECT ROW('2020-03-04 05:06:07'::timestamp, NULL)::pg_temp.tts"))
      expect(e._tag).toBe("DataError")
      expect(e.message).toContain("DateStyle")
      // binary form is unaffected
      expect(yield* conn.fetchval("SELECT '2020-03-04 05:06:07'::timestamp")).toEqual(new Date("2020-03-04T05:06:07Z"))
      yield* conn.execute("SET DateStyle = 'ISO'")
      const ok = (yield* conn.fetchval("SELECT ROW('2020-03-04 05:06:07'::timestamp, NULL)::pg_temp.tts")) as Record<string, unknown>
      expect(ok.t).toEqual(new Date("2020-03-04T05:06:07Z"))
    }))
})

describe("issue 12 — 7: smaller ones", () => {
  it.live("listen on a 100-character channel hears NOTIFY on it (truncated like the server does)", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      for (const channel of ["c".repeat(100), "é".repeat(40)]) {
        const fiber = yield* Effect.forkChild(Stream.runHead(conn.listen(channel)))
        yield* Effect.sleep("200 millis")
        // NOTIFY truncates the identifier as LISTEN does (pg_notify() refuses long names)
        yield* conn.execute(`NOTIFY "${channel}", 'hi'`)
        const got = yield* Fiber.join(fiber).pipe(Effect.timeout("3 seconds"))
        expect(got._tag).toBe("Some")
      }
      yield* alive(conn)
    }))

  it.live("uuid accepts every input form PostgreSQL accepts", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      for (const u of [
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
        "A0EEBC999C0B4EF8BB6D6BB9BD380A11",
        "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
        "a0eebc999c0b4ef8-bb6d6bb9-bd380a11",
        "a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11"
      ]) {
        expect(yield* conn.fetchval("SELECT $1::uuid", [u])).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        expect(yield* conn.fetchval("SELECT ($1::uuid[])[1]", [[u]])).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
      }
      for (const bad of ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eeb-c999c0b4ef8bb6d6bb9bd380a11"]) {
        const e = yield* Effect.flip(conn.fetchval("SELECT $1::uuid", [bad]))
        expect(e._tag).toBe("DataError")
        // the server agrees
        const s = yield* Effect.flip(conn.fetchval("SELECT $1::text::uuid", [bad]))
        expect(s._tag).not.toBe("DataError")
      }
    }))

  it.live("'null'::jsonb decodes to SQL NULL (documented); its text is available through ::text", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      expect(yield* conn.fetchval("SELECT 'null'::jsonb")).toBe(null)
      expect(yield* conn.fetchval("SELECT 'null'::jsonb::text")).toBe("null")
      expect(yield* conn.fetchval("SELECT jsonb_typeof('null'::jsonb)")).toBe("null")
    }))
})
