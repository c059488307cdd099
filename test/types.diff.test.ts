/**
 * Differential test: one table with a column of each built-in type and
 * edge values, fetched through effect-pg and through `pg`; the values agree,
 * or the difference is the documented one (see `expected` below):
 *
 * - int8: bigint (pg: decimal string); int8[] likewise
 * - float4: the exact float32 value (pg: the shortest decimal, `0.1`)
 * - timestamp (without time zone) and date: UTC (pg: the process's local time)
 * - interval: `Interval { months, days, microseconds }` (pg: postgres-interval fields)
 * - circle: `{ center, radius }` (pg: `{ x, y, radius }`)
 * - geometric types other than point, ranges, multiranges, bit strings in
 *   arrays: objects / `Range` (pg: the text)
 * - numeric[]: exact strings like numeric (pg: floats)
 */
import * as Effect from "effect/Effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Connection from "../src/Connection.js"
import { Interval } from "../src/types/Interval.js"
import { Range } from "../src/types/Range.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const table = uniqueName("types_diff")

/** [column type, SQL literals (one per row)] */
const COLUMNS: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["bool", ["true", "false"]],
  ["int2", ["-32768", "32767"]],
  ["int4", ["-2147483648", "2147483647"]],
  ["int8", ["-9223372036854775808", "9223372036854775807"]],
  ["oid", ["0", "4294967295"]],
  ["float4", ["'NaN'", "0.1"]],
  ["float8", ["'-Infinity'", "5e-324"]],
  ["numeric", ["'NaN'", "'-123456789012345678901234567890.000000000000000000001'"]],
  ["money", ["-92233720368547758.08", "1.5"]],
  ["text", ["''", "'héllo 🎉 \"quoted\" {braces}'"]],
  ["varchar(10)", ["'a'", "'0123456789'"]],
  ["char(3)", ["'a'", "'abc'"]],
  ["name", ["'pg_class'", "''"]],
  ["bytea", ["''", "'\\x00ff'"]],
  ["uuid", ["'00000000-0000-0000-0000-000000000000'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'"]],
  ["json", ["'{\"a\":[1,null]}'", "'\"s\"'"]],
  ["jsonb", ["'[]'", "'{\"b\": {\"c\": 1.5}}'"]],
  ["xml", ["'<a/>'", "'<b>x</b>'"]],
  ["date", ["'0044-03-15 BC'", "'2100-02-28'"]],
  ["time", ["'00:00'", "'23:59:59.999999'"]],
  ["timetz", ["'00:00+14'", "'12:34:56.5-05:30'"]],
  ["timestamp", ["'-infinity'", "'1900-01-01 00:00:00.123456'"]],
  ["timestamptz", ["'infinity'", "'2038-01-19 03:14:08.5+00'"]],
  ["interval", ["'1 year 2 mons 3 days 04:05:06.5'", "'-1 day +00:00:01'"]],
  ["inet", ["'::ffff:1.2.3.4'", "'10.0.0.1/8'"]],
  ["cidr", ["'10/8'", "'2001:db8::/32'"]],
  ["macaddr", ["'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'"]],
  ["bit(3)", ["B'101'", "B'000'"]],
  ["varbit", ["B''", "B'1'"]],
  ["point", ["'(1.5,-2)'", "'(0,0)'"]],
  ["circle", ["'<(1,2),3>'", "'<(0,0),0>'"]],
  ["box", ["'(1,1),(0,0)'", "'(2,3),(-1,-1)'"]],
  ["int4range", ["'empty'", "'[1,10)'"]],
  ["tstzrange", ["'(,2020-01-01 00:00+00]'", "'[2020-01-01 00:00+00,infinity)'"]],
  ["int4[]", ["'{{1,NULL},{3,4}}'", "'{}'"]],
  ["int8[]", ["'{1,-9223372036854775808}'", "'{NULL}'"]],
  ["text[]", ["'{\"a,b\",NULL,\"\\\\\"}'", "'{}'"]],
  ["numeric[]", ["'{1.50,NaN}'", "'[0:1]={1,2}'"]],
  ["timestamptz[]", ["'{infinity,\"2020-01-01 00:00+00\"}'", "'{}'"]],
  ["uuid[]", ["'{00000000-0000-0000-0000-000000000001}'", "'{}'"]],
  ["jsonb[]", ["ARRAY['{\"a\":1}'::jsonb, NULL]", "'{}'"]],
  ["tsvector", ["'a fat cat'", "''"]]
]

const colName = (i: number) => `c${i}`

let client: pg.Client

beforeAll(async () => {
  client = new pg.Client({ connectionString: TEST_DSN })
  await client.connect()
  await client.query("SET TimeZone = 'UTC'")
  const cols = COLUMNS.map(([type], i) => `${colName(i)} ${type}`).join(", ")
  await client.query(`CREATE TABLE ${table} (row_id int, ${cols})`)
  for (let r = 0; r < 2; r++) {
    const values = COLUMNS.map(([type, lits]) => `(${lits[r]})::${type}`).join(", ")
    await client.query(`INSERT INTO ${table} VALUES (${r}, ${values})`)
  }
})

afterAll(async () => {
  await client.query(`DROP TABLE IF EXISTS ${table}`)
  await client.end()
})

const run = <A, E>(effect: Effect.Effect<A, E, import("effect/Scope").Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect))

/** What effect-pg gives for a value pg decoded as `pgValue`, by column type. */
const expected = (type: string, pgValue: unknown): unknown => {
  if (pgValue === null) return null
  switch (type) {
    case "int8":
      return BigInt(pgValue as string)
    case "float4":
      return Math.fround(pgValue as number)
    case "date":
    case "timestamp": {
      if (typeof pgValue === "number") return pgValue
      // pg builds local-time Dates; effect-pg reads the same wall clock as UTC
      const d = pgValue as Date
      const u = new Date(0)
      u.setUTCFullYear(d.getFullYear(), d.getMonth(), d.getDate())
      u.setUTCHours(d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds())
      return u
    }
    case "interval": {
      const i = pgValue as { years?: number; months?: number; days?: number; hours?: number; minutes?: number; seconds?: number; milliseconds?: number }
      return Interval.from({ ...i })
    }
    case "circle": {
      const c = pgValue as { x: number; y: number; radius: number }
      return { center: { x: c.x, y: c.y }, radius: c.radius }
    }
    case "int8[]":
      return (pgValue as Array<string | null>).map((v) => (v === null ? null : BigInt(v)))
    default:
      return pgValue
  }
}

/** Types whose effect-pg value is compared with the server's text instead (pg returns text). */
const TEXT_COMPARED: Record<string, (ours: unknown) => unknown> = {
  box: (v) => {
    const b = v as { high: { x: number; y: number }; low: { x: number; y: number } }
    return `(${b.high.x},${b.high.y}),(${b.low.x},${b.low.y})`
  },
  int4range: (v) => String(v),
  tstzrange: (v) => {
    const r = v as Range<Date | number>
    const f = (b: Date | number | null) => (b === null ? "" : typeof b === "number" ? (b > 0 ? "infinity" : "-infinity") : `"${b.toISOString().replace("T", " ").replace(".000Z", "+00")}"`)
    return `${r.lowerInclusive ? "[" : "("}${f(r.lower)},${f(r.upper)}${r.upperInclusive ? "]" : ")"}`
  }
}

describe("effect-pg and pg agree", () => {
  it("on every column of every row", async () => {
    const ours = await run(
      Effect.gen(function* () {
        const conn = yield* Connection.connect({ dsn: TEST_DSN })
        return yield* conn.fetch(`SELECT * FROM ${table} ORDER BY row_id`)
      })
    )
    const theirs = (await client.query({ text: `SELECT * FROM ${table} ORDER BY row_id`, rowMode: "array" })).rows as Array<Array<unknown>>
    expect(ours.length).toBe(2)
    for (let r = 0; r < 2; r++) {
      for (let i = 0; i < COLUMNS.length; i++) {
        const [type, lits] = COLUMNS[i]!
        const mine = ours[r]!.get(colName(i))
        const label = `${type} ${lits[r]}`
        const textCompare = TEXT_COMPARED[type]
        if (type === "numeric[]") {
          // pg parses numeric[] elements as floats (its numeric is a string); ours stay exact strings
          expect((mine as Array<string | null>).map((v) => (v === null ? null : Number(v))), label).toEqual(theirs[r]![i + 1])
        } else if (textCompare !== undefined) {
          expect(mine === null ? null : textCompare(mine), label).toBe(theirs[r]![i + 1])
        } else {
          expect(mine, label).toEqual(expected(type, theirs[r]![i + 1]))
        }
      }
    }
  })
  it("on parameters: effect-pg's encoders store what pg's do", async () => {
    const rows = await run(
      Effect.gen(function* () {
        const conn = yield* Connection.connect({ dsn: TEST_DSN })
        return yield* conn.fetch(
          "SELECT $1::int8 AS a, $2::numeric AS b, $3::timestamptz AS c, $4::jsonb AS d, $5::int4[] AS e, $6::bytea AS f, $7::uuid AS g, $8::interval AS h, $9::int4range AS i, $10::text[] AS j",
          [
            -9223372036854775808n,
            "1.50",
            new Date(Date.UTC(-43, 2, 15, 12)),
            { a: [1, "x", null] },
            [[1, null], [3, 4]],
            Buffer.from([0, 255]),
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            new Interval(14, 3, 1_500_000),
            new Range(1, 10),
            ["a,b", null, "\\"]
          ]
        )
      })
    )
    const r = rows[0]!
    expect(r.get("a")).toBe(-9223372036854775808n)
    expect(r.get("b")).toBe("1.50")
    expect(r.get("c")).toEqual(new Date(Date.UTC(-43, 2, 15, 12)))
    expect(r.get("d")).toEqual({ a: [1, "x", null] })
    expect(r.get("e")).toEqual([[1, null], [3, 4]])
    expect(r.get("f")).toEqual(Buffer.from([0, 255]))
    expect(r.get("g")).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    expect(r.get("h")).toEqual(new Interval(14, 3, 1_500_000))
    expect(r.get("i")).toEqual(new Range(1, 10))
    expect(r.get("j")).toEqual(["a,b", null, "\\"])
    const text = await client.query(
      "SELECT $1::int8::text AS a, $2::timestamptz::text AS c, $3::interval::text AS h",
      ["-9223372036854775808", "0044-03-15 12:00:00+00 BC", "1 year 2 mons 3 days 00:00:01.5"]
    )
    expect(text.rows[0]).toEqual({ a: "-9223372036854775808", c: "0044-03-15 12:00:00+00 BC", h: "1 year 2 mons 3 days 00:00:01.5" })
  })
})
