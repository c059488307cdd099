/**
 * Byte fixtures (captured from PostgreSQL 15 with the types' send
 * functions): the tricky binary layouts, checked without a server.
 */
import { describe, expect, it } from "vitest"
import type { TypeCodec } from "../../src/types/internal/kit.js"
import { Range } from "../../src/types/Range.js"
import { TypeRegistry } from "../../src/types/Registry.js"

const registry = new TypeRegistry()

/** Decodes hex bytes placed at an offset inside a larger buffer, as the engine does. */
const decode = (oid: number, hex: string, reg: TypeRegistry = registry): unknown => {
  const bytes = Buffer.from(hex, "hex")
  const buf = Buffer.concat([Buffer.from([9, 9, 9]), bytes, Buffer.from([9])])
  return reg.get(oid)!.decode(buf, 3, 3 + bytes.length)
}

const hexOf = (v: string | Uint8Array): string => Buffer.from(v).toString("hex")

describe("byte fixtures", () => {
  it("2-D int4 array with NULLs and lower bounds [0:1][-1:1]", () => {
    const hex = "000000020000000100000017000000020000000000000003ffffffff0000000400000001ffffffff000000040000000300000004000000040000000400000005ffffffff"
    expect(decode(1007, hex)).toEqual([[1, null, 3], [4, 5, null]])
    // re-encoding gives the same bytes with lower bounds 1
    const again = hexOf(registry.get(1007)!.encode([[1, null, 3], [4, 5, null]]))
    expect(again).toBe(hex.replace("0000000200000000", "0000000200000001").replace("00000003ffffffff", "0000000300000001"))
  })
  it("empty and 1-D text arrays", () => {
    expect(decode(1009, "000000000000000000000019")).toEqual([])
    expect(decode(1009, "000000010000000100000019000000020000000100000003612c62ffffffff")).toEqual(["a,b", null])
    expect(hexOf(registry.get(1009)!.encode([]))).toBe("000000000000000000000019")
    expect(hexOf(registry.get(1009)!.encode(["a,b", null]))).toBe("000000010000000100000019000000020000000100000003612c62ffffffff")
  })
  it("ranges", () => {
    expect(decode(3904, "020000000400000002000000040000000b")).toEqual(new Range(2, 11, true, false))
    expect(decode(3904, "01")).toEqual(Range.empty())
    expect(decode(3926, "08000000080000000000000005")).toEqual(new Range(null, 5n, false, false))
    expect(hexOf(registry.get(3904)!.encode(new Range(2, 11)))).toBe("020000000400000002000000040000000b")
    expect(hexOf(registry.get(3904)!.encode(Range.empty()))).toBe("01")
    expect(hexOf(registry.get(3926)!.encode(new Range(null, 5n)))).toBe("08000000080000000000000005")
    expect(decode(4451, "00000002000000110200000004000000010000000400000003000000110200000004000000050000000400000007")).toEqual([
      new Range(1, 3),
      new Range(5, 7)
    ])
  })
  it("anonymous record (int4, text, NULL, text[])", () => {
    const hex = "00000004000000170000000400000001000002c100000002c3a900000017ffffffff000003f10000001900000001000000000000001900000001000000010000000178"
    expect(decode(2249, hex)).toEqual([1, "é", null, ["x"]])
  })
  it("infinite timestamps and BC dates", () => {
    expect(decode(1184, "7fffffffffffffff")).toBe(Infinity)
    expect(decode(1184, "8000000000000000")).toBe(-Infinity)
    expect(decode(1082, "7fffffff")).toBe(Infinity)
    expect(decode(1082, "80000000")).toBe(-Infinity)
    expect(decode(1082, "fff49d7b")).toEqual(new Date(Date.UTC(-43, 2, 15)))
    expect(decode(1114, "ff1af9e8fb46d001")).toEqual(new Date(Date.UTC(-43, 2, 15, 12)))
    expect(decode(1114, "ff1af9e8fb46d001", new TypeRegistry({ timestamps: "micros" }))).toBe(BigInt(Date.UTC(-43, 2, 15, 12)) * 1000n + 1n)
    expect(hexOf(registry.get(1184)!.encode(Infinity))).toBe("7fffffffffffffff")
    expect(hexOf(registry.get(1082)!.encode(new Date(Date.UTC(-43, 2, 15))))).toBe("fff49d7b")
    expect(hexOf(registry.get(1114)!.encode(BigInt(Date.UTC(-43, 2, 15, 12)) * 1000n + 1n))).toBe("ff1af9e8fb46d001")
  })
  it("numeric text and binary forms", () => {
    expect(decode(1700, Buffer.from("-12345.678").toString("hex"))).toBe("-12345.678")
    expect(decode(1231, Buffer.from('{-12345.678,NULL,NaN}').toString("hex"))).toEqual(["-12345.678", null, "NaN"])
    const numeric = registry.get(1700) as TypeCodec
    const bytes = Buffer.from("0003000140000003000109291a7c", "hex")
    expect(numeric.decodeBinary!(bytes, 0, bytes.length)).toBe("-12345.678")
    expect(hexOf(numeric.encodeBinary!("-12345.678"))).toBe("0003000140000003000109291a7c")
  })
})

describe("registry construction", () => {
  it("shares the built-in table between registries with the same options", () => {
    const a = new TypeRegistry()
    const b = new TypeRegistry({ numeric: "string" })
    expect(a.get(23)).toBe(b.get(23))
    expect(a.get(1007)).toBe(b.get(1007))
    expect(new TypeRegistry({ int8: "number" }).get(20)).not.toBe(a.get(20))
    const c = a.clone()
    expect(c.get(25)).toBe(a.get(25))
    c.setTypeCodec<string>(25, "text", { format: "text", encoder: (s) => s, decoder: (t) => t })
    expect(c.get(25)).not.toBe(a.get(25))
    expect(a.get(25)!.format).toBe(1)
    expect(a.get(16384)).toBe(undefined)
    expect(a.codecFor(16384)).toBe(a.fallback)
  })
})
