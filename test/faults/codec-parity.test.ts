/**
 * Codec parity: a value decodes to the same JS value in text and in binary
 * form. For each family, the same server value (parsed by the server from
 * text, so no client encoder is involved) is read three ways:
 *
 * - top level (`SELECT $1::text::T`): the codec's own format;
 * - inside a one-attribute composite `(v T)`: binary whenever T has a binary form;
 * - inside a composite `(v T, a aclitem)`: always text (aclitem has no binary
 *   form, so the server sends the whole record as text).
 *
 * All three must be equal. fast-check, ~30 runs per family.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fc from "fast-check"
import * as Connection from "../../src/Connection.js"
import { TEST_DSN } from "../support/db.js"

const RUNS = 30

interface Family {
  readonly name: string
  /** the SQL type */
  readonly type: string
  /** server-parsable text of a value of the type */
  readonly arb: fc.Arbitrary<string>
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0")
const quoteElem = (s: string) => `"${s.replace(/[\\"]/g, "\\$&")}"`
const text = fc.string({ unit: "grapheme", maxLength: 20 }).filter((s) => !s.includes("\0"))
const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 })
const pointText = fc.tuple(finite, finite).map(([x, y]) => `(${x},${y})`)
const micros = fc.integer({ min: 0, max: 999_999 })
const dateArb = fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })
const dateText = (d: Date) => `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
const timeText = (d: Date, us: number) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(us, 6)}`
const offset = fc.integer({ min: -14 * 60, max: 14 * 60 }).map((m) => `${m < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(m) / 60))}:${pad(Math.abs(m) % 60)}`)
const jsonText = fc
  .jsonValue({ maxDepth: 3 })
  .map((v) => JSON.stringify(v))
  .filter((s) => !/\\u0000|\\ud[89a-f]/i.test(s))

const FAMILIES: ReadonlyArray<Family> = [
  { name: "int2", type: "int2", arb: fc.integer({ min: -32768, max: 32767 }).map(String) },
  { name: "int4", type: "int4", arb: fc.integer().map(String) },
  { name: "int8", type: "int8", arb: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) },
  { name: "float4", type: "float4", arb: fc.float().map((x) => (Object.is(x, -0) ? "-0" : String(x))) },
  { name: "float8", type: "float8", arb: fc.double().map((x) => (Object.is(x, -0) ? "-0" : String(x))) },
  {
    name: "numeric",
    type: "numeric",
    arb: fc.oneof(
      fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 20 })).map(([n, scale]) => {
        const s = (n < 0n ? -n : n).toString().padStart(scale + 1, "0")
        return `${n < 0n ? "-" : ""}${scale === 0 ? s : `${s.slice(0, -scale)}.${s.slice(-scale)}`}`
      }),
      fc.constantFrom("NaN", "Infinity", "-Infinity", "0.000", "1e-20")
    )
  },
  { name: "bool", type: "bool", arb: fc.boolean().map(String) },
  { name: "text", type: "text", arb: text },
  { name: "bytea", type: "bytea", arb: fc.uint8Array({ maxLength: 40 }).map((b) => "\\x" + Buffer.from(b).toString("hex")) },
  { name: "uuid", type: "uuid", arb: fc.uuid() },
  { name: "date", type: "date", arb: fc.oneof(dateArb.map(dateText), fc.constantFrom("infinity", "-infinity")) },
  { name: "time", type: "time", arb: fc.tuple(dateArb, micros).map(([d, us]) => timeText(d, us)) },
  { name: "timetz", type: "timetz", arb: fc.tuple(dateArb, micros, offset).map(([d, us, o]) => timeText(d, us) + o) },
  { name: "timestamp", type: "timestamp", arb: fc.tuple(dateArb, micros).map(([d, us]) => `${dateText(d)} ${timeText(d, us)}`) },
  {
    name: "timestamptz",
    type: "timestamptz",
    arb: fc.tuple(dateArb, micros, offset).map(([d, us, o]) => `${dateText(d)} ${timeText(d, us)}${o}`)
  },
  {
    name: "interval",
    type: "interval",
    arb: fc
      .tuple(fc.integer({ min: -10000, max: 10000 }), fc.integer({ min: -100000, max: 100000 }), fc.integer({ min: -(2 ** 45), max: 2 ** 45 }))
      .map(([m, d, us]) => `${m} months ${d} days ${us} microseconds`)
  },
  { name: "json", type: "json", arb: jsonText },
  { name: "jsonb", type: "jsonb", arb: jsonText },
  {
    name: "int4[] (with NULLs, 2-D)",
    type: "int4[]",
    arb: fc.oneof(
      fc.array(fc.option(fc.integer(), { nil: null }), { maxLength: 6 }).map((a) => `{${a.map((v) => (v === null ? "NULL" : v)).join(",")}}`),
      fc.array(fc.tuple(fc.integer(), fc.integer()), { minLength: 1, maxLength: 3 }).map((rows) => `{${rows.map(([a, b]) => `{${a},${b}}`).join(",")}}`)
    )
  },
  { name: "text[]", type: "text[]", arb: fc.array(fc.option(text, { nil: null }), { maxLength: 5 }).map((a) => `{${a.map((v) => (v === null ? "NULL" : quoteElem(v))).join(",")}}`) },
  { name: "interval[]", type: "interval[]", arb: fc.array(fc.tuple(fc.integer({ min: -99, max: 99 }), fc.integer({ min: -(2 ** 36), max: 2 ** 36 })), { maxLength: 4 }).map((a) => `{${a.map(([d, us]) => `"${d} days ${us} microseconds"`).join(",")}}`) },
  {
    name: "int4range",
    type: "int4range",
    arb: fc.oneof(
      fc.tuple(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 1000 }), fc.constantFrom("[)", "[]", "(]", "()")).map(([a, n, b]) => `${b[0]}${a},${a + n}${b[1]}`),
      fc.constantFrom("empty", "(,5)", "[3,)", "(,)")
    )
  },
  { name: "numrange", type: "numrange", arb: fc.tuple(fc.integer(), fc.nat(), fc.nat({ max: 99 })).map(([a, n, f]) => `[${a}.${pad(f)},${a + n + 1}.5)`) },
  { name: "tstzrange", type: "tstzrange", arb: fc.tuple(fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9000-01-01T00:00:00Z"), noInvalidDate: true }), fc.integer({ min: 1, max: 10 ** 6 })).map(([d, s]) => `["${d.toISOString()}","${new Date(d.getTime() + s * 1000).toISOString()}")`) },
  { name: "point", type: "point", arb: pointText },
  { name: "box", type: "box", arb: fc.tuple(pointText, pointText).map(([a, b]) => `${a},${b}`) },
  { name: "box[]", type: "box[]", arb: fc.array(fc.tuple(pointText, pointText), { maxLength: 3 }).map((a) => `{${a.map(([p, q]) => `${p},${q}`).join(";")}}`) },
  { name: "circle", type: "circle", arb: fc.tuple(pointText, fc.double({ noNaN: true, noDefaultInfinity: true, min: 0, max: 1e9 })).map(([c, r]) => `<${c},${r}>`) },
  { name: "lseg", type: "lseg", arb: fc.tuple(pointText, pointText).map(([a, b]) => `[${a},${b}]`) },
  { name: "line", type: "line", arb: fc.tuple(finite.filter((a) => Math.abs(a) > 1e-5), finite, finite).map(([a, b, c]) => `{${a},${b},${c}}`) },
  { name: "path", type: "path", arb: fc.tuple(fc.boolean(), fc.array(pointText, { minLength: 1, maxLength: 4 })).map(([closed, ps]) => (closed ? `(${ps.join(",")})` : `[${ps.join(",")}]`)) },
  { name: "polygon", type: "polygon", arb: fc.array(pointText, { minLength: 1, maxLength: 4 }).map((ps) => `(${ps.join(",")})`) },
  {
    name: "inet",
    type: "inet",
    arb: fc.oneof(
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, n]) => `${ip}/${n}`),
      fc.ipV6()
    )
  },
  {
    name: "cidr",
    type: "cidr",
    arb: fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 })).map(([ip, n]) => {
      const masked = n === 0 ? 0 : (ip & (~0 << (32 - n))) >>> 0
      return `${masked >>> 24}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${n}`
    })
  },
  { name: "macaddr", type: "macaddr", arb: fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":")) },
  { name: "varbit", type: "varbit", arb: fc.array(fc.constantFrom("0", "1"), { maxLength: 40 }).map((a) => a.join("")) },
  { name: "bit(8)", type: "bit(8)", arb: fc.array(fc.constantFrom("0", "1"), { minLength: 8, maxLength: 8 }).map((a) => a.join("")) }
]

describe("codec parity: the same value in text and in binary form decodes to equal JS values", () => {
  let scope: Scope.Closeable
  let conn: Connection.Connection
  const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)

  beforeAll(async () => {
    scope = await Effect.runPromise(Scope.make())
    conn = await Effect.runPromise(Scope.provide(Connection.connect({ dsn: TEST_DSN }), scope))
    const defs = FAMILIES.map((f, i) => `CREATE TYPE pg_temp.pb_${i} AS (v ${f.type}); CREATE TYPE pg_temp.pt_${i} AS (v ${f.type}, a aclitem);`)
    await run(conn.execute(defs.join("\n")))
  })
  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  FAMILIES.forEach((f, i) => {
    it(`${f.name}: top level, binary composite and text composite agree`, async () => {
      await fc.assert(
        fc.asyncProperty(f.arb, async (value) => {
          const row = (await run(
            conn.fetchrow(
              `SELECT $1::text::${f.type} AS top, ROW($1::text::${f.type})::pg_temp.pb_${i} AS bin, ROW($1::text::${f.type}, NULL)::pg_temp.pt_${i} AS txt`,
              [value]
            )
          ))!
          const top = row.get("top")
          const bin = (row.get("bin") as { v: unknown }).v
          const txt = (row.get("txt") as { v: unknown }).v
          expect(bin, `binary composite, input ${JSON.stringify(value)}`).toEqual(top)
          expect(txt, `text composite, input ${JSON.stringify(value)}`).toEqual(top)
        }),
        { numRuns: RUNS }
      )
    })
  })

  it("a user text codec (setTypeCodec int4, format text) makes int4[] and composites of int4 text: same values", async () => {
    const c = await Effect.runPromise(Scope.provide(Connection.connect({ dsn: TEST_DSN }), scope))
    await run(c.setTypeCodec<number>("int4", { schema: "pg_catalog", format: "text", encoder: (n) => String(n), decoder: Number }))
    await run(c.execute("CREATE TYPE pg_temp.pu AS (v int4[], w int4)"))
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer(), { maxLength: 5 }), async (a) => {
        const row = (await run(c.fetchrow("SELECT $1::text::int4[] AS arr, ROW($1::text::int4[], 7)::pg_temp.pu AS rec", [`{${a.join(",")}}`])))!
        expect(row.get("arr")).toEqual(a)
        expect(row.get("rec")).toEqual({ v: a, w: 7 })
      }),
      { numRuns: RUNS }
    )
    // an anonymous record is always binary: a field whose codec has no binary form is a DataError, not garbage
    const e = await run(Effect.flip(c.fetchval("SELECT ROW(1::int4, 'x'::text)")))
    expect(e._tag).toBe("DataError")
  })
})
