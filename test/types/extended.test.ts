import fc from "fast-check"
import type pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EncodeError } from "../../src/types/Codec.js"
import type { TypeCodec } from "../../src/types/internal/kit.js"
import { Interval } from "../../src/types/Interval.js"
import { Range } from "../../src/types/Range.js"
import { TypeRegistry } from "../../src/types/Registry.js"
import { asParam, binaryOf, openClient, selectDecoded } from "./helpers.js"

let client: pg.Client
const registry = new TypeRegistry()
const codec = (oid: number) => registry.get(oid) as TypeCodec

beforeAll(async () => {
  client = await openClient()
})
afterAll(async () => {
  await client.end()
})

const oidOf = async (type: string): Promise<number> =>
  (await client.query<{ oid: number }>("SELECT $1::regtype::oid::int4 AS oid", [type])).rows[0]!.oid

/** Encodes with the codec for `type`, sends `$1::type`, decodes the server's answer. */
const roundTrip = async (type: string, value: unknown, reg: TypeRegistry = registry) => {
  const param = asParam(reg.codecFor(await oidOf(type)).encode(value))
  return selectDecoded(client, reg, `$1::${type}`, [param])
}

/** Decodes the binary form of `expr` with the codec's binary decoder (format 0 codecs included). */
const decodeBinaryForm = async (expr: string, reg: TypeRegistry = registry): Promise<unknown> => {
  const oid = (await client.query({ text: `SELECT ${expr}`, rowMode: "array" })).fields[0]!.dataTypeID
  const c = reg.get(oid) as TypeCodec
  const bytes = await binaryOf(client, oid, expr)
  return c.decodeBinary!(bytes, 0, bytes.length)
}

/** Sends the binary encoding of `value` as `$1::type` and returns the server's text. */
const serverTextOfBinary = async (type: string, value: unknown): Promise<string> => {
  const c = registry.get(await oidOf(type)) as TypeCodec
  const enc = c.encodeBinary!(value)
  const param = typeof enc === "string" ? Buffer.from(enc) : Buffer.from(enc)
  return (await client.query<{ t: string }>(`SELECT format('%s', $1::${type}) AS t`, [param])).rows[0]!.t
}

const textOf = async (expr: string): Promise<string> =>
  (await client.query<{ t: string }>(`SELECT format('%s', ${expr}) AS t`)).rows[0]!.t

describe("text-valued types: decode equals the server's text, in both forms", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
    ["time", ["'00:00'", "'13:45:06.5'", "'23:59:59.999999'", "'24:00:00'", "'01:02:03.000001'"]],
    ["timetz", ["'13:45:06.5+02'", "'00:00:00-03:30'", "'12:00:00+05:45:10'", "'23:59:59.999999+00'"]],
    ["inet", ["'1.2.3.4'", "'10.0.0.0/8'", "'::1'", "'::'", "'2001:db8::1/64'", "'::ffff:1.2.3.4'", "'1:0:0:2:0:0:0:3'", "'::1.2.3.4'", "'fe80::'", "'1:2:3:4:5:6:7:8'", "'1::8'", "'1:0:0:0:0:0:0:0'", "'0:0:1:0:0:0:0:0/128'"]],
    ["cidr", ["'10/8'", "'192.168.1.0/24'", "'1.2.3.4'", "'2001:db8::/32'", "'::/0'"]],
    ["macaddr", ["'08:00:2b:01:02:03'", "'FF-FF-FF-FF-FF-FF'"]],
    ["macaddr8", ["'08:00:2b:01:02:03:04:05'"]],
    ["bit", ["B'101'", "B''", "B'11110000111'"]],
    ["varbit", ["B'1'", "B'0000000011111111'", "B''"]],
    ["pg_lsn", ["'16/B374D848'", "'0/0'", "'FFFFFFFF/FFFFFFFF'"]],
    ["tid", ["'(0,1)'", "'(4294967295,65535)'"]],
    ["money", ["12.34", "-1"]],
    ["tsvector", ["'a fat cat sat on a mat'"]],
    ["tsquery", ["'fat & (rat | cat)'"]],
    ["txid_snapshot", ["'10:20:10,14,15'"]],
    ["pg_snapshot", ["'10:20:10,14,15'"]]
  ]
  for (const [type, literals] of cases) {
    it(type, async () => {
      for (const lit of literals) {
        const expr = `(${lit})::${type}`
        const text = await textOf(expr)
        expect((await selectDecoded(client, registry, expr)).value, expr).toBe(text)
        const c = registry.get(await oidOf(type)) as TypeCodec
        if (c.decodeBinary !== undefined) {
          expect(await decodeBinaryForm(expr), `${expr} (binary)`).toBe(text)
          expect(await serverTextOfBinary(type, text), `${expr} (binary encode)`).toBe(text)
        }
        // text-format parameters round-trip
        expect((await roundTrip(type, text)).value).toBe(text)
      }
    })
  }
  it("inet: random addresses in binary form", async () => {
    const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, b]) => `${a}/${b}`)
    const v6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, b]) => `${a}/${b}`)
    await fc.assert(
      fc.asyncProperty(fc.oneof(v4, v6, fc.ipV6()), async (addr) => {
        const text = await textOf(`'${addr}'::inet`)
        expect(await decodeBinaryForm(`'${addr}'::inet`)).toBe(text)
        expect(await serverTextOfBinary("inet", addr)).toBe(text)
      }),
      { numRuns: 200 }
    )
  })
  it("rejects non-strings", () => {
    for (const oid of [869, 650, 829, 1560, 3614, 1083]) expect(() => codec(oid).encode(1)).toThrow(EncodeError)
    expect(() => codec(1560).encode("102")).toThrow(EncodeError)
    expect(() => codec(869).encodeBinary!("1.2.3.4/33")).toThrow(EncodeError)
  })
})

describe("numeric binary form", () => {
  it("decodes numeric_send bytes to the server's text", async () => {
    const digits = fc.stringMatching(/^[0-9]{1,30}$/)
    await fc.assert(
      fc.asyncProperty(fc.boolean(), digits, fc.option(fc.stringMatching(/^[0-9]{0,30}$/), { nil: undefined }), fc.integer({ min: -40, max: 40 }), async (neg, i, f, e) => {
        const lit = `${neg ? "-" : ""}${i}${f === undefined ? "" : "." + f}e${e}`
        const text = await textOf(`'${lit}'::numeric`)
        expect(await decodeBinaryForm(`'${lit}'::numeric`)).toBe(text)
        expect(await serverTextOfBinary("numeric", lit)).toBe(text)
      }),
      { numRuns: 200 }
    )
    for (const lit of ["0", "0.000", "NaN", "Infinity", "-Infinity", "10000", "0.0001", "-12345678.90123", "1e100"]) {
      const text = await textOf(`'${lit}'::numeric`)
      expect(await decodeBinaryForm(`'${lit}'::numeric`)).toBe(text)
      expect(await serverTextOfBinary("numeric", lit)).toBe(text)
    }
  })
})

describe("interval", () => {
  const literals = ["'0'", "'1 year 2 mons 3 days 04:05:06.5'", "'-1 year -2 mons +3 days -04:05:06.000001'", "'178000000 years'", "'-00:00:00.000001'", "'1 day -1 second'", "'P1Y2M3DT4H5M6S'"]
  it("decodes to Interval; toISOString matches IntervalStyle iso_8601", async () => {
    for (const lit of literals) {
      const { value } = await selectDecoded(client, registry, `${lit}::interval`)
      expect(value).toBeInstanceOf(Interval)
      const r = await client.query<{ m: number; d: number; us: string }>(
        `SELECT (extract(year from v) * 12 + extract(month from v))::int AS m, extract(day from v)::int AS d,
                ((extract(hour from v) * 3600 + extract(minute from v) * 60) * 1000000 + extract(microseconds from v))::int8::text AS us
         FROM (SELECT ${lit}::interval AS v) s`
      )
      const iv = value as Interval
      expect([iv.months, iv.days, iv.microseconds]).toEqual([r.rows[0]!.m, r.rows[0]!.d, Number(r.rows[0]!.us)])
      await client.query("SET IntervalStyle = iso_8601")
      const iso = await textOf(`${lit}::interval`)
      await client.query("SET IntervalStyle = postgres")
      expect(iv.toISOString()).toBe(iso)
    }
  })
  it("round-trips", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: -1e15, max: 1e15 }), async (m, d, us) => {
        const r = await roundTrip("interval", new Interval(m, d, us))
        expect(r.value).toEqual(new Interval(m, d, us))
      }),
      { numRuns: 50 }
    )
    expect((await roundTrip("interval", { days: 1 })).text).toBe("1 day")
    expect((await roundTrip("interval", Interval.from({ hours: 1, seconds: 1.5 }))).text).toBe("01:00:01.5")
    expect(() => codec(1186).encode("1 day")).toThrow(EncodeError)
    expect(() => codec(1186).encode({ days: 1.5 })).toThrow(EncodeError)
  })
})

describe("geometric", () => {
  it("decodes and round-trips", async () => {
    const cases: ReadonlyArray<readonly [string, string, unknown]> = [
      ["point", "'(1.5,-2)'", { x: 1.5, y: -2 }],
      ["line", "'{1,-1,0}'", { a: 1, b: -1, c: 0 }],
      ["lseg", "'[(0,0),(1,1)]'", { p1: { x: 0, y: 0 }, p2: { x: 1, y: 1 } }],
      ["box", "'(1,1),(0,0)'", { high: { x: 1, y: 1 }, low: { x: 0, y: 0 } }],
      ["box", "'(0,0),(1,1)'", { high: { x: 1, y: 1 }, low: { x: 0, y: 0 } }],
      ["path", "'[(0,0),(1,1),(2,0)]'", { closed: false, points: [{ x: 0, y: 0 }, { x: 1, y: 1 }, { x: 2, y: 0 }] }],
      ["path", "'((0,0),(1,1))'", { closed: true, points: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }],
      ["polygon", "'((0,0),(1,1),(1,0))'", { points: [{ x: 0, y: 0 }, { x: 1, y: 1 }, { x: 1, y: 0 }] }],
      ["circle", "'<(1,2),3>'", { center: { x: 1, y: 2 }, radius: 3 }]
    ]
    for (const [type, lit, expected] of cases) {
      const { value, text } = await selectDecoded(client, registry, `${lit}::${type}`)
      expect(value, `${lit}::${type}`).toEqual(expected)
      expect((await roundTrip(type, value)).text).toBe(text)
      const arr = await selectDecoded(client, registry, `ARRAY[${lit}::${type}, NULL]`)
      expect(arr.value).toEqual([expected, null])
      expect((await roundTrip(`${type}[]`, [expected, null])).text).toBe(arr.text)
    }
    expect((await roundTrip("point", [3, 4])).value).toEqual({ x: 3, y: 4 })
    expect(() => codec(600).encode("(1,2)")).toThrow(EncodeError)
  })
})

describe("ranges and multiranges", () => {
  it("decode the built-in ranges", async () => {
    const cases: ReadonlyArray<readonly [string, unknown]> = [
      ["'[1,10)'::int4range", new Range(1, 10, true, false)],
      ["'(1,10]'::int4range", new Range(2, 11, true, false)],
      ["'empty'::int4range", Range.empty()],
      ["'(,5)'::int8range", new Range(null, 5n, false, false)],
      ["'[5,)'::int8range", new Range(5n, null, true, false)],
      ["'(,)'::int4range", new Range(null, null, false, false)],
      ["'[1.5,2.25]'::numrange", new Range("1.5", "2.25", true, true)],
      ["'[2020-01-01,2020-02-01)'::daterange", new Range(new Date("2020-01-01T00:00:00Z"), new Date("2020-02-01T00:00:00Z"), true, false)],
      ["'[2020-01-01 10:00,infinity)'::tsrange", new Range<Date | number>(new Date("2020-01-01T10:00:00Z"), Infinity, true, false)],
      ["'(-infinity,2020-01-01 10:00+02]'::tstzrange", new Range<Date | number>(-Infinity, new Date("2020-01-01T08:00:00Z"), false, true)]
    ]
    for (const [expr, expected] of cases) {
      const { value } = await selectDecoded(client, registry, expr)
      expect(value, expr).toEqual(expected)
    }
    expect((await selectDecoded(client, registry, "'{[1,3),[5,7)}'::int4multirange")).value).toEqual([new Range(1, 3), new Range(5, 7)])
    expect((await selectDecoded(client, registry, "'{}'::nummultirange")).value).toEqual([])
    expect((await selectDecoded(client, registry, "'{[1.5,2), (3,)}'::nummultirange")).value).toEqual([
      new Range("1.5", "2"),
      new Range("3", null, false, false)
    ])
    expect((await selectDecoded(client, registry, "ARRAY['[1,2)'::int4range, 'empty', NULL]")).value).toEqual([new Range(1, 2), Range.empty(), null])
  })
  it("round-trip", async () => {
    expect((await roundTrip("int4range", new Range(1, 10))).text).toBe("[1,10)")
    expect((await roundTrip("int4range", [1, 10])).text).toBe("[1,10)")
    expect((await roundTrip("int4range", { lower: 1, upper: 10, upperInclusive: true })).text).toBe("[1,11)")
    expect((await roundTrip("int8range", new Range(null, 5n))).text).toBe("(,5)")
    expect((await roundTrip("numrange", new Range("1.50", null))).text).toBe("[1.50,)")
    expect((await roundTrip("tstzrange", new Range<Date | number>(new Date(0), Infinity, true, true))).text).toBe('["1970-01-01 00:00:00+00",infinity]')
    expect((await roundTrip("daterange", Range.empty())).text).toBe("empty")
    expect((await roundTrip("int4multirange", [new Range(1, 3), new Range(5, 7)])).text).toBe("{[1,3),[5,7)}")
    expect((await roundTrip("int4range[]", [new Range(1, 3), null])).text).toBe('{"[1,3)",NULL}')
    expect(() => codec(3904).encode(5)).toThrow(EncodeError)
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 1000 }), async (lo, width) => {
        const r = await roundTrip("int4range", new Range(lo, lo + width))
        expect(r.value).toEqual(width === 0 ? Range.empty() : new Range(lo, lo + width))
      }),
      { numRuns: 30 }
    )
  })
  it("text ranges parse quoted bounds", async () => {
    const c = codec(3908)
    expect(c.parseText!('["2020-01-01 00:00:00","2020-01-02 00:00:00")')).toEqual(
      new Range(new Date("2020-01-01T00:00:00Z"), new Date("2020-01-02T00:00:00Z"))
    )
    const arr = registry.get(3907) as TypeCodec
    expect(arr.format).toBe(1)
    expect(arr.parseText!('{"[1.5,2)",empty,"(,3]"}')).toEqual([new Range("1.5", "2"), Range.empty(), new Range(null, "3", false, true)])
  })
})

describe("arrays of the other built-ins", () => {
  it("decode like their elements", async () => {
    const cases = [
      ["time", "'13:45:06.5'"],
      ["timetz", "'13:45:06+02'"],
      ["interval", "'1 day'"],
      ["inet", "'::1'"],
      ["cidr", "'10/8'"],
      ["macaddr", "'08:00:2b:01:02:03'"],
      ["money", "1.5"],
      ["bit", "B'101'"],
      ["varbit", "B'1'"],
      ["tsvector", "'a b'"],
      ["pg_lsn", "'1/2'"],
      ["numeric", "'1.50'"],
      ["xml", "'<a/>'"]
    ] as const
    for (const [type, lit] of cases) {
      const one = await selectDecoded(client, registry, `${lit}::${type}`)
      const arr = await selectDecoded(client, registry, `ARRAY[${lit}::${type}, NULL, ${lit}::${type}]`)
      expect(arr.value, type).toEqual([one.value, null, one.value])
      expect((await roundTrip(`${type}[]`, arr.value)).value, type).toEqual(arr.value)
    }
    expect((await selectDecoded(client, registry, "'1 2 3'::int2vector")).value).toEqual([1, 2, 3])
    expect((await selectDecoded(client, registry, "'1 2 3'::oidvector")).value).toEqual([1, 2, 3])
    expect((await roundTrip("int2vector", [1, 2])).text).toBe("1 2")
  })
})

describe("anonymous records", () => {
  it("decode to tuples", async () => {
    const { value } = await selectDecoded(client, registry, "ROW(1, 'a', 1.50::numeric, NULL, '2020-01-01'::date, ARRAY[1,2], ROW(true))")
    expect(value).toEqual([1, "a", "1.50", null, new Date("2020-01-01T00:00:00Z"), [1, 2], [true]])
    expect(() => codec(2249).encode([1])).toThrow(EncodeError)
  })
})

describe("user codecs", () => {
  it("setTypeCodec wins, reaches arrays and ranges, and resetTypeCodec restores", async () => {
    const reg = new TypeRegistry()
    reg.setTypeCodec<string>(23, "int4", { format: "text", encoder: (s) => s.replace("n=", ""), decoder: (t) => `n=${t}` })
    expect(reg.get(23)!.format).toBe(0)
    expect((await selectDecoded(client, reg, "42")).value).toBe("n=42")
    expect((await selectDecoded(client, reg, "ARRAY[1,NULL,3]")).value).toEqual(["n=1", null, "n=3"])
    expect((await selectDecoded(client, reg, "'[1,5)'::int4range")).value).toEqual(new Range("n=1", "n=5"))
    expect((await roundTrip("int4", "n=7", reg)).value).toBe("n=7")
    expect((await roundTrip("int4[]", ["n=7", null], reg)).value).toEqual(["n=7", null])
    // other registries are untouched
    expect((await selectDecoded(client, registry, "42")).value).toBe(42)
    const copy = reg.clone()
    reg.resetTypeCodec(23)
    expect((await selectDecoded(client, reg, "42")).value).toBe(42)
    expect((await selectDecoded(client, reg, "ARRAY[1]")).value).toEqual([1])
    expect((await selectDecoded(client, copy, "42")).value).toBe("n=42")
  })
  it("binary user codecs get and return bytes", async () => {
    const reg = new TypeRegistry()
    reg.setTypeCodec<bigint>(2950, "uuid", {
      format: "binary",
      encoder: (n) => Buffer.from(n.toString(16).padStart(32, "0"), "hex"),
      decoder: (b) => BigInt("0x" + b.toString("hex"))
    })
    expect((await selectDecoded(client, reg, "'00000000-0000-0000-0000-0000000000ff'::uuid")).value).toBe(255n)
    expect((await roundTrip("uuid", 256n, reg)).text).toBe("00000000-0000-0000-0000-000000000100")
    expect((await selectDecoded(client, reg, "ARRAY['00000000-0000-0000-0000-000000000001'::uuid]")).value).toEqual([1n])
  })
  it("withOptions keeps user codecs", async () => {
    const reg = new TypeRegistry()
    reg.setTypeCodec<string>(25, "text", { format: "text", encoder: (s) => s, decoder: (t) => t.toUpperCase() })
    const other = reg.withOptions({ int8: "number" })
    expect((await selectDecoded(client, other, "'abc'::text")).value).toBe("ABC")
    expect((await selectDecoded(client, other, "5::int8")).value).toBe(5)
    expect((await selectDecoded(client, new TypeRegistry({ int8: "string" }), "ARRAY[5::int8]")).value).toEqual(["5"])
  })
})

describe("Range.isSubset / isSuperset (asyncpg's test_range_issubset)", () => {
  const subs = [
    Range.empty<number>(),
    new Range(1, 5, true, false),
    new Range(1, 5, true, true),
    new Range(1, 5, false, true),
    new Range(1, 5, false, false),
    new Range(-5, 10),
    new Range(2, 3),
    new Range<number>(1, null),
    new Range<number>(null, null)
  ]
  const sups = [
    Range.empty<number>(),
    new Range(1, 5, true, false),
    new Range(1, 5, true, true),
    new Range(1, 5, false, true),
    new Range(1, 5, false, false),
    new Range<number>(null, null)
  ]
  // asyncpg's table: a row per sub, a column per sup
  const expected = [
    [true, true, true, true, true, true],
    [false, true, true, false, false, true],
    [false, false, true, false, false, true],
    [false, false, true, true, false, true],
    [false, true, true, true, true, true],
    [false, false, false, false, false, true],
    [false, true, true, true, true, true],
    [false, false, false, false, false, true],
    [false, false, false, false, false, true]
  ]

  it("matches asyncpg's table and the server's <@ on numrange", async () => {
    for (const [i, sub] of subs.entries()) {
      for (const [j, sup] of sups.entries()) {
        const server = (await client.query<{ r: boolean }>("SELECT $1::numrange <@ $2::numrange AS r", [String(sub), String(sup)])).rows[0]!.r
        expect([String(sub), String(sup), sub.isSubset(sup)]).toEqual([String(sub), String(sup), expected[i]![j]])
        expect(sub.isSubset(sup)).toBe(server)
        expect(sup.isSuperset(sub)).toBe(server)
      }
    }
  })

  it("compares Dates by their time", () => {
    const day = (d: number) => new Date(Date.UTC(2024, 0, d))
    expect(new Range(day(2), day(3)).isSubset(new Range(day(1), day(5)))).toBe(true)
    expect(new Range(day(1), day(5)).isSubset(new Range(day(2), day(3)))).toBe(false)
    expect(new Range(day(1), day(3)).isSubset(new Range(day(1), day(3)))).toBe(true)
  })
})
