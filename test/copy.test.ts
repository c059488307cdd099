import { describe, expect, it } from "@effect/vitest"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FileSystem from "effect/FileSystem"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { PassThrough, Readable, Writable } from "node:stream"
import * as Connection from "../src/Connection.js"
import { findPlaceholders, formatCopyOptions, quoteIdent, quoteLiteral } from "../src/connection/copy/sql.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const connect = (opts: Connection.ConnectOptions = {}) => Connection.connect({ dsn: TEST_DSN, ...opts })

const tmpFile = (name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => path.join(os.tmpdir(), `${uniqueName(name)}`)),
    (p) => Effect.sync(() => fs.rmSync(p, { force: true }))
  )

/** A digest of a table's rows in id order, to compare two tables. */
const digest = (conn: Connection.Connection, table: string) =>
  conn.fetchval(`SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), '')) FROM ${table} t`)

const count = (conn: Connection.Connection, table: string) => conn.fetchval(`SELECT count(*)::int FROM ${table}`)

const decoder = new TextDecoder()

describe("copy SQL helpers", () => {
  it("quotes identifiers and literals", () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"')
    expect(quoteLiteral("it's")).toBe("'it''s'")
    expect(quoteLiteral("a\\b")).toBe("E'a\\\\b'")
    expect(() => quoteIdent("a\0b")).toThrow()
  })

  it("builds only the options given", () => {
    expect(formatCopyOptions({})).toBe("")
    expect(formatCopyOptions({ format: "csv", header: true, null: "", forceQuote: ["a", "B"], delimiter: ";" })).toBe(
      ` (FORMAT csv, DELIMITER ';', NULL '', HEADER true, FORCE_QUOTE ("a", "B"))`
    )
    expect(formatCopyOptions({ forceQuote: true, encoding: "LATIN1", freeze: false })).toBe(
      ` (FREEZE false, FORCE_QUOTE *, ENCODING 'LATIN1')`
    )
    expect(() => formatCopyOptions({ format: "xml" as "csv" })).toThrow(/format/)
  })

  it("finds $n outside strings, quoted names, dollar quotes and comments", () => {
    const sql = `SELECT $1, '$2', E'\\'$3', "$4", $$ $5 $$, $tag$ $6 $tag$, a$7, -- $8\n /* $9 /* $10 */ */ $11::int`
    expect(findPlaceholders(sql).map((p) => p.index)).toEqual([1, 11])
  })
})

describe("COPY", () => {
  it.live("100,000 rows out to a file and back in: equal contents (text and binary)", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const src = uniqueName("copy_src")
      yield* conn.execute(`CREATE TEMP TABLE ${src} (id int PRIMARY KEY, n bigint, f float8, t text, b bool, ts timestamptz, j jsonb, a int[])`)
      yield* conn.execute(`INSERT INTO ${src}
        SELECT i, i * 1000000007::bigint, i / 7.0, CASE WHEN i % 10 = 0 THEN NULL ELSE 'row ' || i || E'\\t"q" \\\\ é\\n' END,
               i % 3 = 0, '2024-01-01'::timestamptz + i * interval '1 second', jsonb_build_object('i', i, 's', 'x' || i),
               ARRAY[i, i + 1, NULL]
        FROM generate_series(1, 100000) i`)
      for (const format of ["text", "binary"] as const) {
        const file = yield* tmpFile(`copy_${format}`)
        const status = yield* conn.copyFromTable(src, { output: file, format })
        expect(status).toBe("COPY 100000")
        expect(fs.statSync(file).size).toBeGreaterThan(1_000_000)
        const dst = uniqueName("copy_dst")
        yield* conn.execute(`CREATE TEMP TABLE ${dst} (LIKE ${src})`)
        const status2 = yield* conn.copyToTable(dst, { source: file, format })
        expect(status2).toBe("COPY 100000")
        expect(yield* digest(conn, dst)).toBe(yield* digest(conn, src))
      }
    }), 60_000)

  it.live("CSV with a header, quotes, delimiters and NULLs, both ways", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_csv")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int, name text, note text)`)
      yield* conn.execute(`INSERT INTO ${table} VALUES (1, 'plain', NULL), (2, 'has "quotes", commas', ''), (3, E'multi\\nline', 'x')`)
      const chunks = yield* Stream.runCollect(conn.copyFromTableStream(table, { format: "csv", header: true, columns: ["id", "name", "note"] }))
      const csv = chunks.map((c) => decoder.decode(c)).join("")
      expect(csv).toBe(`id,name,note\n1,plain,\n2,"has ""quotes"", commas",""\n3,"multi\nline",x\n`)
      const quoted = decoder.decode(
        Buffer.concat(yield* Stream.runCollect(conn.copyFromTableStream(table, { format: "csv", forceQuote: true, null: "NULL", delimiter: ";" })))
      )
      expect(quoted.split("\n")[0]).toBe(`"1";"plain";NULL`)

      const back = uniqueName("copy_csv_in")
      yield* conn.execute(`CREATE TEMP TABLE ${back} (LIKE ${table})`)
      const status = yield* conn.copyToTable(back, {
        source: Stream.make(new TextEncoder().encode(csv)),
        format: "csv",
        header: true
      })
      expect(status).toBe("COPY 3")
      expect(yield* digest(conn, back)).toBe(yield* digest(conn, table))
      const rows = yield* conn.fetch(`SELECT note FROM ${back} ORDER BY id`)
      expect(rows.map((r) => r.get(0))).toEqual([null, "", "x"])
      // where, a subset of columns, forceNull
      const sub = uniqueName("copy_csv_sub")
      yield* conn.execute(`CREATE TEMP TABLE ${sub} (id int, note text DEFAULT 'dflt')`)
      const s2 = yield* conn.copyToTable(sub, {
        source: [Buffer.from("1\n2\n3\n")],
        columns: ["id"],
        format: "csv",
        where: "id <> 2"
      })
      expect(s2).toBe("COPY 2")
      expect((yield* conn.fetch(`SELECT id, note FROM ${sub} ORDER BY id`)).map((r) => [r.get(0), r.get(1)])).toEqual([
        [1, "dflt"],
        [3, "dflt"]
      ])
    }))

  it.live("copyRecordsToTable: binary records of many types round-trip", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_types")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (
        id int, i2 int2, i8 int8, f4 float4, f8 float8, t text, vc varchar(20), b bool, by bytea, u uuid,
        ts timestamptz, tsn timestamp, d date, j jsonb, js json, n numeric, ai int4[], at text[], i interval, g int GENERATED ALWAYS AS (id * 2) STORED)`)
      const ts = new Date("2024-05-06T07:08:09.123Z")
      const records: Array<ReadonlyArray<unknown>> = [
        [1, 32767, 9007199254740993n, 1.5, Math.PI, "tab\there", "v", true, Buffer.from([0, 1, 255]), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
          ts, ts, new Date("2020-02-29T00:00:00Z"), { a: [1, "x", null] }, [1, 2], "12345678901234567890.123456789", [1, null, 3], ["a", "b,c", null],
          { months: 1, days: 2, microseconds: 3000000n }],
        [2, -32768, -5, -0.25, -1e300, "", "é", false, Buffer.alloc(0), "00000000-0000-0000-0000-000000000000",
          Infinity, -Infinity, new Date("1999-12-31T00:00:00Z"), "just a string", null, "-0.5", [], [], null],
        [3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null]
      ]
      const columns = ["id", "i2", "i8", "f4", "f8", "t", "vc", "b", "by", "u", "ts", "tsn", "d", "j", "js", "n", "ai", "at", "i"]
      const status = yield* conn.copyRecordsToTable(table, { records, columns })
      expect(status).toBe("COPY 3")
      const rows = yield* conn.fetch(`SELECT * FROM ${table} ORDER BY id`)
      const r1 = rows[0]!
      expect(r1.get("i2")).toBe(32767)
      expect(r1.get("i8")).toBe(9007199254740993n)
      expect(r1.get("f4")).toBe(1.5)
      expect(r1.get("f8")).toBe(Math.PI)
      expect(r1.get("t")).toBe("tab\there")
      expect(r1.get("b")).toBe(true)
      expect(Buffer.from(r1.get("by") as Buffer)).toEqual(Buffer.from([0, 1, 255]))
      expect(r1.get("u")).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
      expect((r1.get("ts") as Date).toISOString()).toBe(ts.toISOString())
      expect((r1.get("tsn") as Date).toISOString()).toBe(ts.toISOString())
      expect((r1.get("d") as Date).toISOString()).toBe("2020-02-29T00:00:00.000Z")
      expect(r1.get("j")).toEqual({ a: [1, "x", null] })
      expect(r1.get("js")).toEqual([1, 2])
      expect(r1.get("n")).toBe("12345678901234567890.123456789")
      expect(r1.get("ai")).toEqual([1, null, 3])
      expect(r1.get("at")).toEqual(["a", "b,c", null])
      expect(r1.get("g")).toBe(2)
      expect(yield* conn.fetchval(`SELECT i::text FROM ${table} WHERE id = 1`)).toBe("1 mon 2 days 00:00:03")
      const r2 = rows[1]!
      expect(r2.get("i2")).toBe(-32768)
      expect(r2.get("i8")).toBe(-5n)
      expect(r2.get("vc")).toBe("é")
      expect(Buffer.from(r2.get("by") as Buffer).length).toBe(0)
      expect(r2.get("ts")).toBe(Infinity)
      expect(r2.get("tsn")).toBe(-Infinity)
      expect(r2.get("j")).toBe("just a string")
      expect(r2.get("n")).toBe("-0.5")
      expect(r2.get("ai")).toEqual([])
      expect(rows[2]!.get("i2")).toBe(null)
      expect(rows[2]!.get("g")).toBe(6)
      // no columns: every non-generated column, table order
      const all = uniqueName("copy_all")
      yield* conn.execute(`CREATE TEMP TABLE ${all} (id int, x text, g int GENERATED ALWAYS AS (id + 1) STORED, y float8)`)
      expect(yield* conn.copyRecordsToTable(all, { records: [[1, "a", 0.5], [2, null, null]] })).toBe("COPY 2")
      expect((yield* conn.fetch(`SELECT * FROM ${all} ORDER BY id`)).map((r) => [...r.values()])).toEqual([
        [1, "a", 2, 0.5],
        [2, null, 3, null]
      ])
    }))

  it.live("copyRecordsToTable: streams, async iterables, schemas, quoted names, where, and the text fallback", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const schema = uniqueName("Copy Schema")
      const table = 'We"ird Table'
      yield* conn.execute(`CREATE SCHEMA ${quoteIdent(schema)}; CREATE TABLE ${quoteIdent(schema)}.${quoteIdent(table)} ("Id" int, "Val" text)`)
      yield* Effect.addFinalizer(() => Effect.ignore(conn.execute(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`)))
      const target = `${quoteIdent(schema)}.${quoteIdent(table)}`
      const s1 = yield* conn.copyRecordsToTable(table, {
        schemaName: schema,
        records: Stream.range(1, 5000).pipe(Stream.map((i) => [i, `v${i}`] as const)),
        where: `"Id" % 2 = 0`
      })
      expect(s1).toBe("COPY 2500")
      async function* gen() {
        for (let i = 0; i < 3000; i++) yield [-i, null] as const
      }
      expect(yield* conn.copyRecordsToTable(table, { schemaName: schema, records: gen(), columns: ["Id", "Val"] })).toBe("COPY 3000")
      const set = new Set<ReadonlyArray<unknown>>([[100000, "set"]])
      expect(yield* conn.copyRecordsToTable(table, { schemaName: schema, records: set })).toBe("COPY 1")
      expect(yield* conn.fetchval(`SELECT count(*)::int FROM ${target}`)).toBe(5501)
      const err = yield* Effect.flip(conn.copyRecordsToTable(table, { schemaName: schema, records: [[1, "x"]], columns: ["id"] }))
      expect(err._tag).toBe("UndefinedColumnError")
      expect(err.message).toContain("case-sensitive")
      const missing = yield* Effect.flip(conn.copyRecordsToTable("no_such_table_xyz", { records: [[1]] }))
      expect(missing._tag).toBe("UndefinedTableError")

      // timestamps as strings: timestamptz has no binary encoder, so the whole COPY is text
      const textConn = yield* connect({ types: { timestamps: "string" } })
      const tt = uniqueName("copy_textmode")
      yield* textConn.execute(`CREATE TEMP TABLE ${tt} (id int, ts timestamptz, t text, a text[])`)
      yield* textConn.execute("SET TimeZone = 'UTC'")
      const s3 = yield* textConn.copyRecordsToTable(tt, {
        records: [
          [1, "2024-01-02 03:04:05+00", "back\\slash\ttab\nnewline\rcr", ["x y", null, "\\"]],
          [2, null, null, null]
        ]
      })
      expect(s3).toBe("COPY 2")
      const got = yield* textConn.fetch(`SELECT ts::text, t, a FROM ${tt} ORDER BY id`)
      expect(got[0]!.get(0)).toBe("2024-01-02 03:04:05+00")
      expect(got[0]!.get(1)).toBe("back\\slash\ttab\nnewline\rcr")
      expect(got[0]!.get(2)).toEqual(["x y", null, "\\"])
      expect(got[1]!.get(1)).toBe(null)
    }))

  it.live("a bad record is a DataError naming its row and column; nothing is inserted", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_bad")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int, amount int4, label text)`)
      const records = Array.from({ length: 20000 }, (_, i) => [i, i === 12345 ? "lots" : i, `l${i}`])
      const err = yield* Effect.flip(conn.copyRecordsToTable(table, { records }))
      expect(err._tag).toBe("DataError")
      if (err._tag !== "DataError") return
      expect(err.row).toBe(12345)
      expect(err.column).toBe("amount")
      expect(err.message).toContain("record 12345")
      expect(err.message).toContain(`column "amount"`)
      const shape = yield* Effect.flip(conn.copyRecordsToTable(table, { records: [[1, 2, "x"], [2, 3]] }))
      expect(shape._tag).toBe("DataError")
      expect(shape.message).toContain("record 1 has 2 values")
      expect(yield* count(conn, table)).toBe(0)
      expect(yield* conn.fetchval("SELECT 42")).toBe(42)
      expect(conn.isInTransaction()).toBe(false)
    }))

  it.live("a synchronous iterable that throws is a CopyStreamError, nothing is inserted; bytes are a source", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_throw")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int, label text)`)
      function* records() {
        for (let i = 0; i < 5000; i++) {
          if (i === 3000) throw new Error("generator broke")
          yield [i, `l${i}`]
        }
      }
      const fromRecords = yield* Effect.flip(conn.copyRecordsToTable(table, { records: records() }))
      expect(fromRecords._tag).toBe("CopyStreamError")
      expect(fromRecords.message).toContain("generator broke")
      function* chunks() {
        yield new TextEncoder().encode("1\tone\n")
        throw new Error("chunks broke")
      }
      const fromChunks = yield* Effect.flip(conn.copyToTable(table, { source: chunks() }))
      expect(fromChunks._tag).toBe("CopyStreamError")
      expect(fromChunks.message).toContain("chunks broke")
      expect(yield* count(conn, table)).toBe(0)
      // a Buffer (or any Uint8Array) is the data itself, not an iterable of numbers
      expect(yield* conn.copyToTable(table, { source: Buffer.from("1\tone\n2\ttwo\n") })).toBe("COPY 2")
      expect(yield* conn.copyToTable(table, { source: new TextEncoder().encode("3\tthree\n") })).toBe("COPY 1")
      expect(yield* count(conn, table)).toBe(3)
    }))

  it.live("a COPY's own timeout of 0 or below times out at once, nothing sent; Infinity is none", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_spent")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int)`)
      const source = Buffer.from("1\n2\n")
      for (const timeout of [0, -1, "0 millis"] as const) {
        const into = yield* Effect.flip(conn.copyToTable(table, { source, timeout }))
        expect(into._tag).toBe("CommandTimeoutError")
        const records = yield* Effect.flip(conn.copyRecordsToTable(table, { records: [[1]], timeout }))
        expect(records._tag).toBe("CommandTimeoutError")
        const out = yield* Effect.flip(conn.copyFromTable(table, { output: yield* tmpFile("spent"), timeout }))
        expect(out._tag).toBe("CommandTimeoutError")
        const stream = yield* Effect.flip(Stream.runCollect(conn.copyFromQueryStream(`SELECT 1`, undefined, { timeout })))
        expect(stream._tag).toBe("CommandTimeoutError")
      }
      expect(yield* count(conn, table)).toBe(0)
      expect(yield* conn.copyToTable(table, { source, timeout: Infinity })).toBe("COPY 2")
    }))

  it.live("a Stream source failing at row 50,000 leaves the table unchanged and the connection usable", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_fail")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int, t text)`)
      yield* conn.execute(`INSERT INTO ${table} VALUES (0, 'kept')`)
      class SourceBroke extends Error {
        readonly _tag = "SourceBroke"
      }
      const source = Stream.range(1, 100000).pipe(
        Stream.mapEffect((i) => (i === 50000 ? Effect.fail(new SourceBroke("disk on fire")) : Effect.succeed(Buffer.from(`${i}\trow ${i}\n`)))),
        Stream.rechunk(1000)
      )
      const err = yield* Effect.flip(conn.copyToTable(table, { source }))
      expect(err).toBeInstanceOf(SourceBroke)
      expect(yield* count(conn, table)).toBe(1)
      expect(yield* conn.fetchval("SELECT 7")).toBe(7)
      // records too
      const records = Stream.range(1, 100000).pipe(
        Stream.mapEffect((i) => (i === 50000 ? Effect.fail(new SourceBroke("late")) : Effect.succeed([i, "r"] as const)))
      )
      const err2 = yield* Effect.flip(conn.copyRecordsToTable(table, { records }))
      expect(err2).toBeInstanceOf(SourceBroke)
      expect(yield* count(conn, table)).toBe(1)
      // a failing Node Readable
      let n = 0
      const readable = new Readable({
        read() {
          n++
          if (n === 100) this.destroy(new Error("readable broke"))
          else this.push(Buffer.from(`${n}\tx\n`))
        }
      })
      const err3 = yield* Effect.flip(conn.copyToTable(table, { source: readable }))
      expect(err3._tag).toBe("CopyStreamError")
      expect(err3.message).toContain("readable broke")
      expect(yield* count(conn, table)).toBe(1)
      expect(conn.isInTransaction()).toBe(false)
    }), 60_000)

  it.live("bad data is the server's error; a missing file is a CopyStreamError; the connection stays usable", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_srv")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int)`)
      const big = Stream.range(1, 200000).pipe(Stream.map((i) => Buffer.from(i === 10 ? "oops\n" : `${i}\n`)), Stream.rechunk(500))
      const err = yield* Effect.flip(conn.copyToTable(table, { source: big }))
      expect(err._tag).toBe("InvalidTextRepresentationError")
      const missing = yield* Effect.flip(conn.copyToTable(table, { source: "/nonexistent/effect-pg/file.csv" }))
      expect(missing._tag).toBe("CopyStreamError")
      expect(missing.message).toContain("ENOENT")
      const noTable = yield* Effect.flip(conn.copyToTable("no_such_table_abc", { source: [Buffer.from("1\n")] }))
      expect(noTable._tag).toBe("UndefinedTableError")
      const weird = yield* Effect.flip(conn.copyToTable(table, { source: Readable.from([1, 2, 3]) as unknown as AsyncIterable<Uint8Array> }))
      expect(weird._tag).toBe("InterfaceError")
      expect(weird.message).toContain("a number")
      expect(yield* count(conn, table)).toBe(0)
      expect(yield* conn.fetchval("SELECT 1")).toBe(1)
    }))

  it.live("queries made during COPY FROM STDIN wait for it and then run in order", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_excl")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int)`)
      const pass = new PassThrough()
      const copy = yield* Effect.forkChild(conn.copyToTable(table, { source: pass }))
      yield* Effect.sleep("100 millis")
      pass.write("1\n2\n")
      const during = yield* Effect.forkChild(conn.fetchval(`SELECT count(*)::int FROM ${table}`))
      yield* Effect.sleep("100 millis")
      pass.write("3\n")
      pass.end()
      expect(yield* Fiber.join(copy)).toBe("COPY 3")
      expect(yield* Fiber.join(during)).toBe(3)
    }))

  it.live("interrupting or timing out COPY FROM STDIN sends CopyFail: nothing inserted, connection usable", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_int")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int)`)
      const endless = Stream.iterate(1, (i) => i + 1).pipe(
        Stream.map((i) => Buffer.from(`${i}\n`)),
        Stream.rechunk(100),
        Stream.tap(() => Effect.sleep("1 millis"))
      )
      const fiber = yield* Effect.forkChild(conn.copyToTable(table, { source: endless }))
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(fiber)
      expect(yield* count(conn, table)).toBe(0)
      const err = yield* Effect.flip(conn.copyToTable(table, { source: endless, timeout: "200 millis" }))
      expect(err._tag).toBe("CommandTimeoutError")
      expect(yield* count(conn, table)).toBe(0)
      expect(yield* conn.fetchval("SELECT 5")).toBe(5)
    }))

  it.live("COPY TO: Writable, Sink (FileSystem), Stream; early end and interruption cancel; timeouts", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_out")
      yield* conn.execute(`CREATE TEMP TABLE ${table} AS SELECT i AS id, repeat('x', 100) AS pad FROM generate_series(1, 200000) i`)
      // a slow Writable: back-pressure pauses the socket
      let bytes = 0
      let writes = 0
      const slow = new Writable({
        highWaterMark: 64 * 1024,
        write(chunk: Buffer, _enc, cb) {
          bytes += chunk.length
          writes++
          if (writes % 50 === 0) setTimeout(cb, 5)
          else cb()
        }
      })
      expect(yield* conn.copyFromTable(table, { output: slow })).toBe("COPY 200000")
      expect(bytes).toBeGreaterThan(200000 * 100)
      expect(slow.writableEnded).toBe(false)

      // FileSystem sink from effect
      const file = yield* tmpFile("copy_sink")
      const fsys = yield* FileSystem.FileSystem
      expect(yield* conn.copyFromTable(table, { output: fsys.sink(file), format: "csv" })).toBe("COPY 200000")
      expect(fs.readFileSync(file, "utf8").split("\n").length).toBe(200001)
      // and back in from FileSystem.stream
      const back = uniqueName("copy_back")
      yield* conn.execute(`CREATE TEMP TABLE ${back} (LIKE ${table})`)
      expect(yield* conn.copyToTable(back, { source: fsys.stream(file), format: "csv" })).toBe("COPY 200000")

      // Sink.forEach
      let sinkBytes = 0
      expect(
        yield* conn.copyFromTable(table, { output: Sink.forEach((c: Uint8Array) => Effect.sync(() => (sinkBytes += c.length))), columns: ["id"] })
      ).toBe("COPY 200000")
      expect(sinkBytes).toBeGreaterThan(1_000_000)

      // a stream ended early cancels the COPY; the connection goes on
      const first = yield* Stream.runHead(conn.copyFromTableStream(table))
      expect(first._tag).toBe("Some")
      expect(yield* conn.fetchval("SELECT 11")).toBe(11)
      const taken = yield* Stream.runCollect(Stream.take(conn.copyFromQueryStream(`SELECT * FROM ${table}`), 3))
      expect(taken.length).toBe(3)
      expect(yield* conn.fetchval("SELECT 12")).toBe(12)

      // interruption of a COPY into a stalled consumer
      const stalled = yield* Effect.forkChild(
        conn.copyFromQuery(`SELECT i, repeat('y', 1000) FROM generate_series(1, 10000000) i`, { output: Sink.forEach(() => Effect.never) })
      )
      yield* Effect.sleep("200 millis")
      yield* Fiber.interrupt(stalled)
      expect(yield* conn.fetchval("SELECT 13")).toBe(13)

      // timeout
      const timedOut = yield* Effect.flip(
        conn.copyFromQuery(`SELECT pg_sleep(0.01), i FROM generate_series(1, 1000) i`, { output: new PassThrough().resume(), timeout: "150 millis" })
      )
      expect(timedOut._tag).toBe("CommandTimeoutError")
      const timedOutStream = yield* Effect.flip(
        Stream.runDrain(conn.copyFromQueryStream(`SELECT pg_sleep(0.01), i FROM generate_series(1, 1000) i`, [], { timeout: 150 }))
      )
      expect(timedOutStream._tag).toBe("CommandTimeoutError")
      expect(yield* conn.fetchval("SELECT 14")).toBe(14)
      // a failing Writable
      const broken = new Writable({
        write(_c, _e, cb) {
          cb(new Error("disk full"))
        }
      })
      const wErr = yield* Effect.flip(conn.copyFromTable(table, { output: broken }))
      expect(wErr._tag).toBe("CopyStreamError")
      expect(wErr.message).toContain("disk full")
      expect(yield* conn.fetchval("SELECT 15")).toBe(15)
    }).pipe(Effect.provide(NodeFileSystem.layer)), 60_000)

  it.live("copyFromQuery inlines arguments safely as typed literals", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const evil = `x'); DROP TABLE pg_class; --\\ $1 "`
      const out = decoder.decode(
        Buffer.concat(
          yield* Stream.runCollect(
            conn.copyFromQueryStream(
              `SELECT $1::int + 1 AS n, $2::text AS s, '$1' AS lit, $3::timestamptz AS ts, $4::int[] AS a, $5::text AS z, $2 || '' AS again;`,
              [41, evil, new Date("2024-01-01T00:00:00Z"), [1, 2], null],
              { format: "csv" }
            )
          )
        )
      )
      const line = out.trim()
      expect(line.startsWith(`42,"x'); DROP TABLE pg_class; --\\ $1 """,$1,`)).toBe(true)
      expect(line).toContain(`"{1,2}",,`)
      expect(line.endsWith(`"x'); DROP TABLE pg_class; --\\ $1 """`)).toBe(true)
      const file = yield* tmpFile("copy_query")
      expect(yield* conn.copyFromQuery("SELECT g FROM generate_series(1, $1::int) g", [10], { output: file })).toBe("COPY 10")
      expect(fs.readFileSync(file, "utf8")).toBe(Array.from({ length: 10 }, (_, i) => `${i + 1}\n`).join(""))
      const bad = yield* Effect.flip(conn.copyFromQuery("SELECT $1::int", ["nope"], { output: file }))
      expect(bad._tag).toBe("DataError")
      const count2 = yield* Effect.flip(conn.copyFromQuery("SELECT $1::int", [1, 2], { output: file }))
      expect(count2._tag).toBe("InterfaceError")
    }))

  it.live("COPY pipelines with other queries; an unwritable output path is a CopyStreamError", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_pipe")
      yield* conn.execute(`CREATE TEMP TABLE ${table} AS SELECT i AS id FROM generate_series(1, 50000) i`)
      const results = yield* Effect.all(
        [
          Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => conn.fetchval("SELECT $1::int * 2", [i]), { concurrency: "unbounded" }),
          Effect.map(Stream.runCollect(conn.copyFromTableStream(table)), (chunks) => Buffer.concat(chunks).toString().split("\n").length - 1),
          conn.copyRecordsToTable(table, { records: [[-1], [-2]] }),
          Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => conn.fetchval("SELECT $1::int + 1", [i]), { concurrency: "unbounded" })
        ],
        { concurrency: "unbounded" }
      )
      expect(results[0]).toEqual(Array.from({ length: 50 }, (_, i) => i * 2))
      expect([50000, 50002]).toContain(results[1])
      expect(results[2]).toBe("COPY 2")
      expect(results[3]).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
      // a COPY TO abandoned while a query waits behind it: the query still gets its own result
      const [head, behind] = yield* Effect.all(
        [
          Stream.runHead(conn.copyFromTableStream(table)),
          Effect.andThen(Effect.sleep("1 millis"), conn.fetchval("SELECT 'behind'"))
        ],
        { concurrency: "unbounded" }
      )
      expect(head._tag).toBe("Some")
      expect(behind).toBe("behind")
      expect(yield* conn.fetchval("SELECT 'after'")).toBe("after")
      const err = yield* Effect.flip(conn.copyFromTable(table, { output: "/nonexistent-dir/effect-pg/out.tsv" }))
      expect(err._tag).toBe("CopyStreamError")
      expect(err.message).toContain("ENOENT")
      expect(yield* conn.fetchval("SELECT 3")).toBe(3)
    }))

  it.live("inside a transaction: a failed COPY aborts the transaction like any failed statement", () =>
    Effect.gen(function* () {
      const conn = yield* connect()
      const table = uniqueName("copy_tx")
      yield* conn.execute(`CREATE TEMP TABLE ${table} (id int)`)
      yield* conn.execute("BEGIN")
      expect(yield* conn.copyRecordsToTable(table, { records: [[1], [2]] })).toBe("COPY 2")
      const err = yield* Effect.flip(conn.copyRecordsToTable(table, { records: [[3], ["x"]] }))
      expect(err._tag).toBe("DataError")
      expect(conn.isInTransaction()).toBe(true)
      const after = yield* Effect.flip(conn.fetchval("SELECT 1"))
      expect(after._tag).toBe("InFailedSQLTransactionError")
      yield* conn.execute("ROLLBACK")
      expect(yield* count(conn, table)).toBe(0)
      // an async iterable of records that throws stops at once
      let closed = false
      async function* rows() {
        try {
          for (let i = 0; ; i++) {
            if (i === 5000) throw new Error("generator broke")
            yield [i]
          }
        } finally {
          closed = true
        }
      }
      const err2 = yield* Effect.flip(conn.copyRecordsToTable(table, { records: rows() }))
      expect(err2._tag).toBe("CopyStreamError")
      expect(closed).toBe(true)
      async function* bad() {
        try {
          for (let i = 0; ; i++) yield [i === 3000 ? "three thousand" : i]
        } finally {
          closed = false
        }
      }
      const err3 = yield* Effect.flip(conn.copyRecordsToTable(table, { records: bad() }))
      expect(err3._tag).toBe("DataError")
      if (err3._tag === "DataError") expect(err3.row).toBe(3000)
      yield* Effect.sleep("10 millis")
      expect(closed).toBe(false)
      expect(yield* count(conn, table)).toBe(0)
    }))

  it.live("a released or closed connection refuses COPY with a typed error", () =>
    Effect.gen(function* () {
      const conn = yield* Connection.connectUnscoped({ dsn: TEST_DSN })
      yield* conn.close()
      const err = yield* Effect.flip(conn.copyRecordsToTable("t", { records: [[1]] }))
      expect(err._tag).toBe("ConnectionDoesNotExistError")
      const err2 = yield* Effect.flip(Stream.runDrain(conn.copyFromTableStream("t")))
      expect(err2._tag).toBe("ConnectionDoesNotExistError")
    }))
})
