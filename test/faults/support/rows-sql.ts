/**
 * Hostile inputs, part 2: SQL text, identifiers, COPY options, codecs,
 * DSNs and option values.
 */
import * as Effect from "effect/Effect"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import { fails, open, value, type HostileRow } from "./hostile.js"

/** Connects with `opts`, runs `SELECT 1`, closes. */
const connectOnce = (opts: Parameters<typeof open>[0]) =>
  Effect.scoped(Effect.flatMap(open(opts), (c) => c.fetchval("SELECT 1")))

/** Casts a deliberately wrong option value past the type checker. */
const bad = <A>(v: unknown): A => v as A

const revoked = () => {
  const r = Proxy.revocable({}, {})
  r.revoke()
  return r.proxy
}

const bytes = (s: string) => Stream.make(new TextEncoder().encode(s))

export const SQL_ROWS: ReadonlyArray<HostileRow> = [
  // ---- SQL text
  { name: "empty SQL through fetch", run: (c) => c.fetch(""), expect: value([]) },
  { name: "empty SQL through execute", run: (c) => c.execute(""), expect: value("") },
  { name: "only a comment", run: (c) => c.fetch("-- nothing here\n/* nor here */"), expect: value([]) },
  { name: "two statements with arguments", run: (c) => c.fetch("SELECT $1::int4; SELECT 2", [1]), expect: fails("PostgresSyntaxError") },
  { name: "NUL in parameterised SQL (DELETE ... RETURNING)", proves: "refused before sending: nothing deleted", writes: true, run: (c, t) => c.fetch(`DELETE FROM ${t} WHERE id=$1 RETURNING id\u0000; SELECT 1`, [1]), expect: fails("InterfaceError") },
  { name: "NUL in SQL without arguments", writes: true, run: (c, t) => c.execute(`INSERT INTO ${t} (id) VALUES (1)\u0000`), expect: fails("InterfaceError") },
  { name: "NUL in executemany SQL", writes: true, run: (c, t) => c.executemany(`INSERT INTO ${t} (id) VALUES ($1)\u0000`, [[1]]), expect: fails("InterfaceError") },
  { name: "lone surrogate in SQL", run: (c) => c.fetchval("SELECT '\uDC00'"), expect: fails("InterfaceError") },
  { name: "2 MB of SQL (beyond the cacheable size)", run: (c) => c.fetchval(`SELECT length('${"y".repeat(2 * 1024 * 1024)}')`), expect: value(2 * 1024 * 1024) },
  // ---- COPY through query methods
  { name: "COPY FROM STDIN through fetch", proves: "fails at once, connection usable", writes: true, run: (c, t) => c.fetch(`COPY ${t} (id) FROM STDIN`), expect: fails("InterfaceError") },
  { name: "COPY TO STDOUT through fetchval", run: (c, t) => c.fetchval(`COPY ${t} TO STDOUT`), expect: fails("InterfaceError") },
  { name: "COPY FROM STDIN through executemany", writes: true, run: (c, t) => c.executemany(`COPY ${t} (id) FROM STDIN`, [[], []]), expect: fails("InterfaceError") },
  { name: "COPY FROM STDIN through fetchrow, after comments", writes: true, run: (c, t) => c.fetchrow(`/* a /* nested */ comment */ -- and one more\n  copy ${t} FROM stdin`), expect: fails("InterfaceError") },
  { name: "COPY FROM STDIN through execute (simple protocol)", writes: true, run: (c, t) => c.execute(`COPY ${t} (id) FROM STDIN`), expect: fails("InterfaceError") },
  { name: "COPY TO STDOUT through execute (simple protocol)", run: (c, t) => c.execute(`COPY ${t} TO STDOUT`), expect: fails("InterfaceError") },
  { name: "'COPY ... FROM STDIN' inside a string literal is not a COPY", run: (c) => c.fetchval("SELECT 'COPY x FROM STDIN' AS stdin"), expect: value("COPY x FROM STDIN") },
  // ---- identifiers
  { name: "NUL in a channel name", run: (c) => Stream.runDrain(Stream.take(c.listen("ch\u0000x"), 1)), expect: fails("InterfaceError") },
  { name: "NUL in a COPY table name", writes: true, run: (c) => c.copyRecordsToTable("t\u0000", { records: [[1]] }), expect: fails("InterfaceError") },
  { name: "NUL in a COPY column name", writes: true, run: (c, t) => c.copyRecordsToTable(t, { records: [[1]], columns: ["id\u0000"] }), expect: fails("InterfaceError") },
  { name: "NUL in a COPY schema name", writes: true, run: (c, t) => c.copyToTable(t, { source: bytes("1\n"), schemaName: "pg\u0000temp" }), expect: fails("InterfaceError") },
  { name: "NUL in copyFromQuery SQL", run: (c) => c.copyFromQuery("SELECT 1\u0000", { output: Sink.drain }), expect: fails("InterfaceError") },
  { name: "COPY into a missing table", run: (c) => c.copyRecordsToTable("no_such_table_hostile", { records: [[1]] }), expect: fails("UndefinedTableError") },
  { name: "COPY into a 200-character table name", run: (c) => c.copyRecordsToTable("t".repeat(200), { records: [[1]] }), expect: fails("UndefinedTableError") },
  { name: "COPY an unknown column", writes: true, run: (c, t) => c.copyRecordsToTable(t, { records: [[1]], columns: ["nope"] }), expect: fails("UndefinedColumnError") },
  // ---- COPY data and options
  { name: "copyRecordsToTable: one bad value among good rows", proves: "nothing half-written", writes: true, run: (c, t) => c.copyRecordsToTable(t, { records: [[1], [2], ["x"]], columns: ["id"] }), expect: fails("DataError") },
  { name: "copyRecordsToTable: a revoked Proxy as a value", writes: true, run: (c, t) => c.copyRecordsToTable(t, { records: [[1, "a"], [2, revoked()]], columns: ["id", "j"] }), expect: fails("DataError") },
  { name: "copyRecordsToTable: a throwing Proxy as a record", writes: true, run: (c, t) => c.copyRecordsToTable(t, { records: [[1], new Proxy([2], { get() { throw new Error("rec") } })], columns: ["id"] }), expect: fails("DataError") },
  { name: "copyRecordsToTable: a lone surrogate in a text value", writes: true, run: (c, t) => c.copyRecordsToTable(t, { records: [[1, "ok"], [2, "bad\uD800"]], columns: ["id", "s"] }), expect: fails("DataError") },
  { name: "copyRecordsToTable: a record of the wrong length", writes: true, run: (c, t) => c.copyRecordsToTable(t, { records: [[1, 2]], columns: ["id"] }), expect: fails("DataError") },
  { name: "copyToTable: malformed csv", writes: true, run: (c, t) => c.copyToTable(t, { source: bytes("1,2,3\nnot a number\n"), format: "csv", columns: ["id"] }), expect: fails("BadCopyFileFormatError") },
  { name: "copyToTable: format 'xml'", writes: true, run: (c, t) => c.copyToTable(t, { source: bytes("1\n"), format: bad("xml") }), expect: fails("InterfaceError") },
  { name: "copyToTable: NUL delimiter", writes: true, run: (c, t) => c.copyToTable(t, { source: bytes("1\n"), delimiter: "\u0000" }), expect: fails("InterfaceError") },
  { name: "copyToTable: two-character delimiter", writes: true, run: (c, t) => c.copyToTable(t, { source: bytes("1\n"), delimiter: "||" }), expect: fails("FeatureNotSupportedError") },
  { name: "copyToTable: a source stream that fails", writes: true, run: (c, t) => c.copyToTable(t, { source: Stream.concat(bytes("1\n2\n"), Stream.fail("source broke")), columns: ["id"] }).pipe(Effect.mapError((e) => (typeof e === "string" ? { _tag: "SourceFailed", message: "the source stream failed: " + e } : e))), expect: fails("SourceFailed") },
  // ---- codecs
  { name: "setTypeCodec on a missing type", run: (c) => c.setTypeCodec("no_such_type_hostile", { encoder: String, decoder: String }), expect: fails("InterfaceError") },
  { name: "user encoder that throws", run: (c) => c.setTypeCodec<string>("hstore_not_here", { encoder: () => { throw new Error("enc") }, decoder: String }), expect: fails("InterfaceError") },
  // ---- DSNs and options (own connections)
  { name: "DSN port 99999", run: () => connectOnce({ dsn: "postgres://root@127.0.0.1:99999/test" }), expect: fails("InterfaceError") },
  { name: "DSN port 'abc'", run: () => connectOnce({ dsn: "postgres://root@127.0.0.1:abc/test" }), expect: fails("InterfaceError") },
  { name: "DSN sslmode=bogus", run: () => connectOnce({ dsn: "postgres://root@127.0.0.1:5432/test?sslmode=bogus" }), expect: fails("InterfaceError") },
  { name: "DSN unknown key (a server setting, as asyncpg does)", run: () => connectOnce({ dsn: "postgres://root@127.0.0.1:5432/test?no_such_key=1" }), expect: fails("UndefinedObjectError") },
  { name: "DSN with a 5 kB application_name (the server cuts it)", run: () => connectOnce({ dsn: `postgres://root@127.0.0.1:5432/test?application_name=${"a".repeat(5_000)}` }), expect: value(1) },
  { name: "DSN with a 100 kB application_name (beyond the startup packet limit)", run: () => connectOnce({ dsn: `postgres://root@127.0.0.1:5432/test?application_name=${"a".repeat(100_000)}` }), expect: fails("InterfaceError") },
  { name: "NUL in a server setting value", run: () => connectOnce({ serverSettings: { search_path: "public\u0000, evil" } }), expect: fails("InterfaceError") },
  { name: "DSN with a NUL in the user name", run: () => connectOnce({ dsn: "postgres://ro%00ot@127.0.0.1:5432/test" }), expect: fails("InterfaceError") },
  { name: "port option -1", run: () => connectOnce({ host: "127.0.0.1", port: -1, user: "root", database: "test", dsn: undefined }), expect: fails("InterfaceError") },
  { name: "statementCacheSize -1", run: () => connectOnce({ statementCacheSize: -1 }), expect: fails("InterfaceError") },
  { name: "statementCacheSize NaN", run: () => connectOnce({ statementCacheSize: NaN }), expect: fails("InterfaceError") },
  { name: "maxCacheableStatementSize -5", run: () => connectOnce({ maxCacheableStatementSize: -5 }), expect: fails("InterfaceError") },
  { name: "commandTimeout -5", run: () => connectOnce({ commandTimeout: -5 }), expect: fails("InterfaceError") },
  { name: "commandTimeout NaN", run: () => connectOnce({ commandTimeout: NaN }), expect: fails("InterfaceError") },
  { name: "commandTimeout Infinity (no timeout)", run: () => connectOnce({ commandTimeout: Infinity }), expect: value(1) },
  { name: "connect timeout NaN", run: () => connectOnce({ timeout: NaN }), expect: fails("InterfaceError") },
  { name: "connect timeout Infinity (no timeout)", run: () => connectOnce({ timeout: Infinity }), expect: value(1) },
  { name: "commandTimeout of 30 days (beyond a Node timer)", run: () => connectOnce({ commandTimeout: "30 days" }), expect: fails("InterfaceError") },
  { name: "query timeout -1 (times out at once, as asyncpg)", run: (c) => c.fetchval("SELECT 1", [], { timeout: -1 }), expect: fails("CommandTimeoutError") },
  { name: "query timeout NaN", run: (c) => c.fetchval("SELECT 1", [], { timeout: NaN }), expect: fails("InterfaceError") },
  { name: "query timeout Infinity (no timeout)", run: (c) => c.fetchval("SELECT 1", [], { timeout: Infinity }), expect: value(1) }
]
