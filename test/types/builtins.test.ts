import fc from "fast-check"
import type pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EncodeError } from "../../src/types/Codec.js"
import { SCALARS } from "../../src/types/builtins.js"
import { parseFloatText } from "../../src/types/numbers.js"
import type { TypeCodec } from "../../src/types/internal/kit.js"
import { TypeRegistry } from "../../src/types/Registry.js"
import { asParam, openClient, selectDecoded } from "./helpers.js"

let client: pg.Client
const registry = new TypeRegistry()

beforeAll(async () => {
  client = await openClient()
})
afterAll(async () => {
  await client.end()
})

/** Encodes `value` as `type`, sends it, and decodes the server's answer. */
const roundTrip = async (type: string, value: unknown, reg: TypeRegistry = registry) => {
  const oid = await typeOid(type)
  const param = asParam(reg.codecFor(oid).encode(value))
  return selectDecoded(client, reg, `$1::${type}`, [param])
}

const oidCache = new Map<string, number>()
const typeOid = async (type: string): Promise<number> => {
  let oid = oidCache.get(type)
  if (oid === undefined) {
    const r = await client.query<{ oid: number }>("SELECT $1::regtype::oid::int4 AS oid", [type])
    oid = r.rows[0]!.oid
    oidCache.set(type, oid)
  }
  return oid
}

describe("built-in table", () => {
  it("names and array OIDs match pg_type", async () => {
    const r = await client.query<{ oid: number; typname: string; typarray: number }>(
      "SELECT oid::int4, typname, typarray::int4 FROM pg_type WHERE oid = ANY($1::oid[])",
      [SCALARS.map((e) => e[0])]
    )
    const server = new Map(r.rows.map((row) => [row.oid, row]))
    for (const [oid, name, arrayOid] of SCALARS) {
      expect(server.get(oid)?.typname, `oid ${oid}`).toBe(name)
      expect(server.get(oid)?.typarray, name).toBe(arrayOid)
      expect(registry.get(oid)?.name).toBe(name)
      if (arrayOid !== 0) expect(registry.get(arrayOid)?.name).toBe("_" + name)
    }
  })
})

/** [type, SQL literals, expected value from the server's text] */
type Case = readonly [string, ReadonlyArray<string>, (text: string) => unknown]

const epochMs = async (expr: string): Promise<number> => {
  const r = await client.query<{ ms: string }>(`SELECT floor(extract(epoch from ${expr}) * 1000)::text AS ms`)
  return Number(r.rows[0]!.ms)
}

const cases: ReadonlyArray<Case> = [
  ["bool", ["true", "false"], (t) => t === "t"],
  ["int2", ["0", "-32768", "32767", "-1"], Number],
  ["int4", ["0", "-2147483648", "2147483647", "42"], Number],
  ["int8", ["0", "-9223372036854775808", "9223372036854775807", "4294967296", "-4294967297"], BigInt],
  ["oid", ["0", "4294967295", "1259"], Number],
  ["regclass", ["'pg_class'"], () => 1259],
  ["xid", ["'4294967295'"], Number],
  ["xid8", ["'18446744073709551615'"], BigInt],
  ["float8", ["0", "-0", "1.5", "'NaN'", "'Infinity'", "'-Infinity'", "1e308", "5e-324", "0.1"], parseFloatText],
  ["float4", ["0", "1.5", "'NaN'", "'Infinity'", "'-Infinity'", "0.1", "3.4e38"], (t) => Math.fround(parseFloatText(t))],
  ["numeric", ["0", "-1.50", "'NaN'", "'Infinity'", "'-Infinity'", "123456789012345678901234567890.000000000000000000001", "1e-20"], (t) => t],
  ["text", ["''", "'héllo wörld 🎉'", "E'a\\nb'"], (t) => t],
  ["varchar", ["'abc'"], (t) => t],
  ["bpchar", ["'ab'::char(4)"], (t) => t],
  ["name", ["'pg_class'"], (t) => t],
  ['"char"', ["'a'", "''", "'\\200'"], (t) => t],
  ["bytea", ["''", "'\\x00ff10'"], (t) => Buffer.from(t.slice(2), "hex")],
  ["uuid", ["'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'00000000-0000-0000-0000-000000000000'"], (t) => t],
  ["json", ["'{\"a\": [1, 2.5, null, \"x\"]}'", "'\"s\"'", "'null'"], (t) => JSON.parse(t)],
  ["jsonb", ["'{\"a\": [1, 2.5, null, \"x\"]}'", "'[]'", "'3'"], (t) => JSON.parse(t)],
  ["jsonpath", ["'$.a[*] ? (@ > 1)'"], (t) => t],
  ["xml", ["'<a>x</a>'"], (t) => t]
]

describe("decode: server bytes match the server's text", () => {
  for (const [type, literals, expected] of cases) {
    it(type, async () => {
      for (const lit of literals) {
        const { value, text } = await selectDecoded(client, registry, `(${lit})::${type}`)
        expect(value, `${lit}::${type}`).toEqual(expected(text!))
      }
    })
  }
})

describe("decode: date and time", () => {
  const stamps = [
    "'2000-01-01 00:00:00'",
    "'1970-01-01 00:00:00'",
    "'1969-12-31 23:59:59.999999'",
    "'2038-01-19 03:14:08.5'",
    "'2262-04-11 23:47:16.854775'",
    "'9999-12-31 23:59:59.999999'",
    "'0001-01-01 00:00:00'",
    "'0044-03-15 12:00:00 BC'",
    "'4713-11-24 00:00:00 BC'",
    "'1900-02-28 13:14:15.123456'"
  ]
  for (const type of ["timestamp", "timestamptz"]) {
    it(type, async () => {
      for (const lit of stamps) {
        const { value } = await selectDecoded(client, registry, `${lit}::${type}`)
        expect(value).toBeInstanceOf(Date)
        expect((value as Date).getTime(), lit).toBe(await epochMs(`${lit}::${type}`))
      }
    })
  }
  it("date", async () => {
    for (const lit of ["'2000-01-01'", "'1970-01-01'", "'1900-03-01'", "'2100-12-31'", "'0044-03-15 BC'", "'275760-09-13'", "'4713-01-01 BC'"]) {
      const { value } = await selectDecoded(client, registry, `${lit}::date`)
      const r = await client.query<{ d: number }>(`SELECT ${lit}::date - '1970-01-01'::date AS d`)
      expect((value as Date).getTime(), lit).toBe(r.rows[0]!.d * 86400000)
    }
  })
  it("beyond Date's range: an invalid Date", async () => {
    const { value } = await selectDecoded(client, registry, "'5874897-12-31'::date")
    expect(Number.isNaN((value as Date).getTime())).toBe(true)
  })
  it("infinity", async () => {
    for (const type of ["timestamp", "timestamptz", "date"]) {
      expect((await selectDecoded(client, registry, `'infinity'::${type}`)).value).toBe(Infinity)
      expect((await selectDecoded(client, registry, `'-infinity'::${type}`)).value).toBe(-Infinity)
    }
  })
  it("micros mode is exact", async () => {
    const micros = new TypeRegistry({ timestamps: "micros" })
    const { value } = await selectDecoded(client, micros, "'1969-12-31 23:59:59.999999'::timestamptz")
    expect(value).toBe(-1n)
    const { value: bc } = await selectDecoded(client, micros, "'0044-03-15 12:00:00.000001 BC'::timestamp")
    const r = await client.query<{ s: string }>("SELECT (extract(epoch from '0044-03-15 12:00:00.000001 BC'::timestamp) * 1000000)::numeric(30,0)::text AS s")
    expect(bc).toBe(BigInt(r.rows[0]!.s))
  })
  it("string mode gives the server's text", async () => {
    const strings = new TypeRegistry({ timestamps: "string" })
    for (const [lit, type] of [["'2001-02-03 04:05:06.7+00'", "timestamptz"], ["'0044-03-15 BC'", "date"]] as const) {
      const { value, text } = await selectDecoded(client, strings, `${lit}::${type}`)
      expect(value).toBe(text)
    }
  })
})

describe("timestamp text parsing (text records)", () => {
  it("parses the server's ISO output in any time zone", async () => {
    const ts = registry.get(1184) as TypeCodec
    const dates = fc.date({ min: new Date("-004713-11-25T00:00:00Z"), max: new Date("+200000-01-01T00:00:00Z"), noInvalidDate: true })
    await fc.assert(
      fc.asyncProperty(dates, fc.constantFrom("UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Amsterdam"), async (d, zone) => {
        await client.query(`SET TimeZone = '${zone}'`)
        const param = asParam(ts.encode(d))
        const r = await client.query<{ tz: string; t: string; d: string }>(
          "SELECT format('%s', $1::timestamptz) AS tz, format('%s', $1::timestamptz::timestamp) AS t, format('%s', $1::timestamptz::date) AS d",
          [param]
        )
        await client.query("SET TimeZone = 'UTC'")
        expect((ts.parseText!(r.rows[0]!.tz) as Date).getTime()).toBe(d.getTime())
        const local = (registry.get(1114) as TypeCodec).parseText!(r.rows[0]!.t) as Date
        const day = (registry.get(1082) as TypeCodec).parseText!(r.rows[0]!.d) as Date
        expect(Math.floor(local.getTime() / 86400000) * 86400000).toBe(day.getTime())
      }),
      { numRuns: 100 }
    )
    expect(ts.parseText!("infinity")).toBe(Infinity)
    expect(ts.parseText!("-infinity")).toBe(-Infinity)
    expect((new TypeRegistry({ timestamps: "micros" }).get(1184) as TypeCodec).parseText!("1970-01-01 00:00:00.000001+00")).toBe(1n)
  })

  it("beyond Date's range: text gives what binary gives (an invalid Date; exact bigint in micros mode)", async () => {
    const micros = new TypeRegistry({ timestamps: "micros" })
    for (const [lit, type] of [
      ["'294276-12-31 23:59:59.999999'", "timestamp"],
      ["'294276-12-31 23:59:59.999999+00'", "timestamptz"],
      ["'275760-09-13 00:00:00.001'", "timestamp"],
      ["'5874897-12-31'", "date"],
      ["'275760-09-14'", "date"]
    ] as const) {
      const oid = await typeOid(type)
      const r = await client.query<{ t: string }>(`SELECT format('%s', ${lit}::${type}) AS t`)
      const text = r.rows[0]!.t
      const { value } = await selectDecoded(client, registry, `${lit}::${type}`)
      expect(Number.isNaN((value as Date).getTime()), lit).toBe(true)
      expect(Number.isNaN(((registry.get(oid) as TypeCodec).parseText!(text) as Date).getTime()), lit).toBe(true)
      if (type !== "date") {
        const { value: exact } = await selectDecoded(client, micros, `${lit}::${type}`)
        expect((micros.get(oid) as TypeCodec).parseText!(text), lit).toBe(exact)
      }
    }
  })
})

describe("decode: arrays", () => {
  it("1-D arrays of every built-in with an array type", async () => {
    for (const [type, literals, expected] of cases) {
      const { value, text } = await selectDecoded(client, registry, `ARRAY[${literals.map((l) => `(${l})::${type}`).join(",")}, NULL]`)
      expect(Array.isArray(value), type).toBe(true)
      const arr = value as Array<unknown>
      expect(arr.length).toBe(literals.length + 1)
      expect(arr[arr.length - 1]).toBe(null)
      for (let i = 0; i < literals.length; i++) {
        const one = await selectDecoded(client, registry, `(${literals[i]})::${type}`)
        expect(arr[i], `${type} ${text}`).toEqual(expected(one.text!))
      }
    }
  })
  it("multi-dimensional, NULLs, lower bounds dropped, empty", async () => {
    expect((await selectDecoded(client, registry, "'{{1,2,3},{4,NULL,6}}'::int4[]")).value).toEqual([[1, 2, 3], [4, null, 6]])
    expect((await selectDecoded(client, registry, "'[0:1][5:6]={{1,2},{3,4}}'::int8[]")).value).toEqual([[1n, 2n], [3n, 4n]])
    expect((await selectDecoded(client, registry, "'{}'::text[]")).value).toEqual([])
    expect((await selectDecoded(client, registry, "'{{{1},{2}},{{3},{4}}}'::int2[]")).value).toEqual([[[1], [2]], [[3], [4]]])
    expect((await selectDecoded(client, registry, `'{"a,b","c\\"d","NULL",NULL," x "}'::text[]`)).value).toEqual([
      "a,b",
      'c"d',
      "NULL",
      null,
      " x "
    ])
    expect((await selectDecoded(client, registry, "'[-2:-1]={1.5,NULL}'::numeric[]")).value).toEqual(["1.5", null])
    expect((await selectDecoded(client, registry, "'{{1.5,2},{3,NaN}}'::numeric[]")).value).toEqual([["1.5", "2"], ["3", "NaN"]])
  })
})

describe("encode: round trips through the server", () => {
  it("integers", async () => {
    expect((await roundTrip("int2", -32768)).value).toBe(-32768)
    expect((await roundTrip("int4", "123")).value).toBe(123)
    expect((await roundTrip("int4", 7n)).value).toBe(7)
    expect((await roundTrip("int8", 9223372036854775807n)).value).toBe(9223372036854775807n)
    expect((await roundTrip("int8", -9007199254740991)).value).toBe(-9007199254740991n)
    expect((await roundTrip("int8", "-9223372036854775808")).value).toBe(-9223372036854775808n)
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (n) => {
        expect((await roundTrip("int4", n)).value).toBe(n)
      }),
      { numRuns: 50 }
    )
    await fc.assert(
      fc.asyncProperty(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), async (n) => {
        const r = await roundTrip("int8", n)
        expect(r.value).toBe(n)
        expect(r.text).toBe(n.toString())
      }),
      { numRuns: 50 }
    )
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -32768, max: 32767 }), async (n) => {
        expect((await roundTrip("int2", n)).value).toBe(n)
      }),
      { numRuns: 30 }
    )
  })
  it("integer encoders reject what they cannot represent", () => {
    const int4 = registry.get(23)!
    const int2 = registry.get(21)!
    const int8 = registry.get(20)!
    for (const bad of [2147483648, -2147483649, 1.5, NaN, Infinity, "12a", "", "1.0", true, null, {}, [1], 2n ** 31n]) {
      expect(() => int4.encode(bad), String(bad)).toThrow(EncodeError)
    }
    expect(() => int2.encode(32768)).toThrow(EncodeError)
    expect(() => int8.encode(2n ** 63n)).toThrow(EncodeError)
    expect(() => int8.encode(1.5)).toThrow(EncodeError)
    expect(() => int8.encode("9223372036854775808")).toThrow(EncodeError)
    try {
      int4.encode(2147483648)
    } catch (e) {
      expect((e as EncodeError).expected).toContain("2147483647")
      expect((e as EncodeError).given).toBe("the number 2147483648")
    }
  })
  it("floats", async () => {
    await fc.assert(
      fc.asyncProperty(fc.double(), async (n) => {
        const r = await roundTrip("float8", n)
        expect(Object.is(r.value, n) || (n === 0 && r.value === 0)).toBe(true)
        expect(parseFloatText(r.text!)).toBe(r.value)
      }),
      { numRuns: 100 }
    )
    await fc.assert(
      fc.asyncProperty(fc.float(), async (n) => {
        const r = await roundTrip("float4", n)
        expect(Object.is(r.value, n) || (n === 0 && r.value === 0)).toBe(true)
      }),
      { numRuns: 50 }
    )
    expect(() => registry.get(701)!.encode("abc")).toThrow(EncodeError)
  })
  it("numeric strings", async () => {
    const digits = fc.stringMatching(/^[0-9]{1,40}$/)
    await fc.assert(
      fc.asyncProperty(fc.boolean(), digits, fc.option(digits, { nil: undefined }), async (neg, int, frac) => {
        const s = `${neg ? "-" : ""}${int}${frac === undefined ? "" : "." + frac}`
        const r = await roundTrip("numeric", s)
        const canonical = (await client.query<{ t: string }>("SELECT $1::numeric::text AS t", [s])).rows[0]!.t
        expect(r.value).toBe(canonical)
      }),
      { numRuns: 100 }
    )
    for (const v of ["NaN", "Infinity", "-Infinity", 1.25, -0.5, 12345678901234567890n, " 1.50 ", "1e3"]) {
      expect((await roundTrip("numeric", v)).value).toBe(String(v).trim().replace("1e3", "1000"))
    }
    expect((await roundTrip("numeric", 1e21)).value).toBe("1000000000000000000000")
    for (const bad of ["1,5", "abc", "", true, {}]) expect(() => registry.get(1700)!.encode(bad)).toThrow(EncodeError)
    const asNumber = new TypeRegistry({ numeric: "number" })
    expect((await selectDecoded(client, asNumber, "1.25::numeric")).value).toBe(1.25)
    expect((await selectDecoded(client, asNumber, "'NaN'::numeric")).value).toBeNaN()
    expect((await selectDecoded(client, asNumber, "'-Infinity'::numeric")).value).toBe(-Infinity)
  })
  it("text (unicode)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "grapheme", maxLength: 50 }).filter((s) => !s.includes("\0")), async (s) => {
        const r = await roundTrip("text", s)
        expect(r.value).toBe(s)
        expect(r.text).toBe(s)
      }),
      { numRuns: 100 }
    )
    expect(() => registry.get(25)!.encode(1)).toThrow(EncodeError)
  })
  it("bytea", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const r = await roundTrip("bytea", bytes)
        expect(Buffer.isBuffer(r.value)).toBe(true)
        expect(Buffer.compare(r.value as Buffer, Buffer.from(bytes))).toBe(0)
        expect(r.text).toBe("\\x" + Buffer.from(bytes).toString("hex"))
      }),
      { numRuns: 50 }
    )
    expect(() => registry.get(17)!.encode("abc")).toThrow(EncodeError)
  })
  it("uuid", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uuid(), async (u) => {
        expect((await roundTrip("uuid", u.toUpperCase())).value).toBe(u.toLowerCase())
      }),
      { numRuns: 30 }
    )
    expect(() => registry.get(2950)!.encode("not-a-uuid")).toThrow(EncodeError)
  })
  it("json / jsonb", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ noUnicodeString: false }), async (v) => {
        // -0 becomes 0 in JSON; strings with \u0000 are rejected by jsonb
        const clean = JSON.parse(JSON.stringify(v))
        if (JSON.stringify(clean).includes("\\u0000")) return
        expect((await roundTrip("json", clean)).value).toEqual(clean)
        expect((await roundTrip("jsonb", clean)).value).toEqual(clean)
      }),
      { numRuns: 50 }
    )
    expect((await roundTrip("jsonb", "a string")).value).toBe("a string")
    expect(() => registry.get(3802)!.encode(undefined)).toThrow(EncodeError)
    expect(() => registry.get(3802)!.encode(1n)).toThrow(EncodeError)
    const custom = new TypeRegistry({ json: { parse: (s) => ({ raw: s }), stringify: () => "42" } })
    expect((await roundTrip("jsonb", { any: 1 }, custom)).value).toEqual({ raw: "42" })
  })
  it("bool", async () => {
    expect((await roundTrip("bool", true)).value).toBe(true)
    expect((await roundTrip("bool", false)).value).toBe(false)
    expect(() => registry.get(16)!.encode(1)).toThrow(EncodeError)
  })
  it("timestamps", async () => {
    const dates = fc.date({ min: new Date("-004713-11-24T00:00:00Z"), max: new Date("+200000-01-01T00:00:00Z"), noInvalidDate: true })
    await fc.assert(
      fc.asyncProperty(dates, async (d) => {
        const r = await roundTrip("timestamptz", d)
        expect((r.value as Date).getTime()).toBe(d.getTime())
        const t = await roundTrip("timestamp", d)
        expect((t.value as Date).getTime()).toBe(d.getTime())
        // the text encoder agrees
        const viaText = await selectDecoded(client, registry, "$1::text::timestamptz", [registry.get(1184)!.encode !== undefined ? formatTs(d) : ""])
        expect((viaText.value as Date).getTime()).toBe(d.getTime())
      }),
      { numRuns: 100 }
    )
    expect((await roundTrip("timestamptz", Infinity)).text).toBe("infinity")
    expect((await roundTrip("timestamp", -Infinity)).text).toBe("-infinity")
    expect((await roundTrip("timestamptz", 1n)).text).toBe("1970-01-01 00:00:00.000001+00")
    expect(() => registry.get(1184)!.encode(new Date(NaN))).toThrow(EncodeError)
    expect(() => registry.get(1184)!.encode("2020-01-01")).toThrow(EncodeError)
    const micros = new TypeRegistry({ timestamps: "micros" })
    expect((await roundTrip("timestamptz", -62135596800000001n, micros)).value).toBe(-62135596800000001n)
  })
  it("date", async () => {
    const days = fc.integer({ min: -2440588, max: 2932896 }).map((d) => new Date(d * 86400000))
    await fc.assert(
      fc.asyncProperty(days, async (d) => {
        expect(((await roundTrip("date", d)).value as Date).getTime()).toBe(d.getTime())
      }),
      { numRuns: 50 }
    )
    expect((await roundTrip("date", Infinity)).text).toBe("infinity")
    expect((await roundTrip("date", new Date("2020-05-06T23:59:59Z"))).text).toBe("2020-05-06")
  })
  it("arrays", async () => {
    expect((await roundTrip("int4[]", [[1, 2], [null, 4]])).text).toBe("{{1,2},{NULL,4}}")
    expect((await roundTrip("text[]", ["a", null, 'q"\\,{}'])).value).toEqual(["a", null, 'q"\\,{}'])
    expect((await roundTrip("int8[]", [])).text).toBe("{}")
    expect((await roundTrip("jsonb[]", [[1, 2], { a: [3] }])).value).toEqual([[1, 2], { a: [3] }])
    expect((await roundTrip("numeric[]", [["1.5", null], ["NaN", 2]])).value).toEqual([["1.5", null], ["NaN", "2"]])
    expect((await roundTrip("timestamptz[]", [new Date(0), Infinity])).value).toEqual([new Date(0), Infinity])
    expect((await roundTrip("uuid[]", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])).value).toEqual(["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])
    expect(() => registry.get(1007)!.encode([[1], [2, 3]])).toThrow(EncodeError)
    expect(() => registry.get(1007)!.encode([1, [2]])).toThrow(EncodeError)
    expect(() => registry.get(1007)!.encode(1)).toThrow(EncodeError)
    expect(() => registry.get(1007)!.encode([1.5])).toThrow(EncodeError)
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.option(fc.integer(), { nil: null }), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 4 }), async (arr) => {
        expect((await roundTrip("int4[]", arr)).value).toEqual(arr)
      }),
      { numRuns: 30 }
    )
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(fc.string({ unit: "grapheme" }).filter((s) => !s.includes("\0")), { nil: null })), async (arr) => {
        expect((await roundTrip("text[]", arr)).value).toEqual(arr)
        expect((await roundTrip("varchar[]", arr)).value).toEqual(arr)
      }),
      { numRuns: 50 }
    )
  })
})

const formatTs = (d: Date): string => {
  const codec = new TypeRegistry({ timestamps: "string" }).get(1184)!
  return codec.encode(d) as string
}

describe("fallback", () => {
  it("encodes scalars as text and rejects objects", () => {
    const f = registry.fallback
    expect(f.format).toBe(0)
    expect(f.encode("x")).toBe("x")
    expect(f.encode(1.5)).toBe("1.5")
    expect(f.encode(10n)).toBe("10")
    expect(f.encode(true)).toBe("true")
    expect(f.encode(new Date(0))).toBe("1970-01-01T00:00:00.000Z")
    for (const bad of [{}, [1], new Date(NaN), Symbol("s"), () => 1, Buffer.from("a")]) {
      expect(() => f.encode(bad)).toThrow(EncodeError)
    }
    expect(f.decode(Buffer.from("héllo"), 0, 6)).toBe("héllo")
  })
})
