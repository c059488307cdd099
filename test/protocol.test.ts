import { describe, expect, it } from "@effect/vitest"
import * as Reader from "../src/protocol/Reader.js"
import { Writer } from "../src/protocol/Writer.js"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

/** Builds one backend message: type byte, length, body. */
const msg = (type: string, body: Buffer | string) => {
  const b = typeof body === "string" ? Buffer.from(body, "binary") : body
  const out = Buffer.alloc(5 + b.length)
  out[0] = type.charCodeAt(0)
  out.writeInt32BE(4 + b.length, 1)
  b.copy(out, 5)
  return out
}

const collect = () => {
  const got: Array<{ type: string; body: string }> = []
  const reader = new Reader.Reader((type, buf, start, end) => {
    got.push({ type: String.fromCharCode(type), body: buf.subarray(start, end).toString("hex") })
  })
  return { got, reader }
}

describe("Writer", () => {
  it("writes a Query message", () => {
    const w = new Writer().query("SELECT 1")
    expect(hex(w.take())).toBe("51" + "0000000d" + Buffer.from("SELECT 1\0").toString("hex"))
  })

  it("writes Parse, Bind with text, binary and NULL values, Execute and Sync", () => {
    const w = new Writer()
    w.parse("s1", "SELECT $1", [23])
    w.bind("", "s1", [0, 1], ["ab", new Uint8Array([1, 2]), null], [1])
    w.execute("", 0).sync()
    const b = w.take()
    // Parse
    expect(String.fromCharCode(b[0]!)).toBe("P")
    const parseLen = b.readInt32BE(1)
    expect(b.subarray(5, 5 + 3).toString()).toBe("s1\0")
    expect(b.readInt16BE(1 + parseLen - 6)).toBe(1)
    expect(b.readInt32BE(1 + parseLen - 4)).toBe(23)
    // Bind
    let at = 1 + parseLen
    expect(String.fromCharCode(b[at]!)).toBe("B")
    const bindLen = b.readInt32BE(at + 1)
    const bind = b.subarray(at + 5, at + 1 + bindLen)
    expect(hex(bind)).toBe(
      "00" + // portal ""
        Buffer.from("s1\0").toString("hex") +
        "0002" + "0000" + "0001" + // two param formats
        "0003" + // three values
        "00000002" + "6162" + // "ab"
        "00000002" + "0102" + // bytes
        "ffffffff" + // NULL
        "0001" + "0001" // one result format: binary
    )
    at += 1 + bindLen
    expect(hex(b.subarray(at))).toBe("45" + "00000009" + "00" + "00000000" + "53" + "00000004")
  })

  it("counts multi-byte UTF-8 in lengths", () => {
    const w = new Writer().bind("", "", [], ["é€😀"], [])
    const b = w.take()
    // portal, statement, 0 formats, 1 value, its length
    const len = b.readInt32BE(5 + 2 + 2 + 2)
    expect(len).toBe(Buffer.byteLength("é€😀"))
  })

  it("keeps taken batches intact while writing more (slab reuse)", () => {
    const w = new Writer()
    const first = w.query("A").take()
    const copy = Buffer.from(first)
    for (let i = 0; i < 10_000; i++) w.query("SELECT " + i)
    w.take()
    expect(hex(first)).toBe(hex(copy))
  })

  it("grows for a large message", () => {
    const big = "x".repeat(1_000_000)
    const b = new Writer().query(big).take()
    expect(b.readInt32BE(1)).toBe(4 + big.length + 1)
  })

  it("writes startup, SSLRequest and CancelRequest", () => {
    expect(hex(new Writer().sslRequest().take())).toBe("0000000804d2162f")
    expect(hex(new Writer().cancelRequest(7, -1).take())).toBe("0000001004d2162e00000007ffffffff")
    const s = new Writer().startup({ user: "u" }).take()
    expect(s.readInt32BE(0)).toBe(s.length)
    expect(s.readInt32BE(4)).toBe(196608)
    expect(s.subarray(8).toString()).toBe("user\0u\0\0")
  })
})

describe("Reader", () => {
  const ready = msg("Z", "I")
  const complete = msg("C", "SELECT 1\0")

  it("reads many messages from one chunk", () => {
    const { got, reader } = collect()
    reader.feed(Buffer.concat([complete, ready]))
    expect(got.map((m) => m.type)).toEqual(["C", "Z"])
  })

  it("reassembles messages split at every byte boundary", () => {
    const stream = Buffer.concat([complete, msg("D", Buffer.alloc(300, 7)), ready])
    for (let cut = 1; cut < stream.length; cut++) {
      const { got, reader } = collect()
      reader.feed(stream.subarray(0, cut))
      reader.feed(stream.subarray(cut))
      expect(got.map((m) => m.type)).toEqual(["C", "D", "Z"])
      expect(got[1]!.body).toBe(Buffer.alloc(300, 7).toString("hex"))
    }
  })

  it("reassembles a message fed one byte at a time", () => {
    const { got, reader } = collect()
    const stream = Buffer.concat([complete, ready])
    for (const byte of stream) reader.feed(Buffer.from([byte]))
    expect(got.map((m) => m.type)).toEqual(["C", "Z"])
  })

  it("hands out views of the chunk, not copies", () => {
    const chunk = Buffer.concat([complete, ready])
    let seen: Buffer | undefined
    new Reader.Reader((_t, buf) => {
      seen ??= buf
    }).feed(chunk)
    expect(seen).toBe(chunk)
  })

  it("rejects a malformed length", () => {
    const { reader } = collect()
    const bad = Buffer.from([0x43, 0, 0, 0, 2])
    expect(() => reader.feed(bad)).toThrow(Reader.ProtocolViolation)
  })

  it("parses RowDescription, ErrorResponse, ParameterDescription and Authentication", () => {
    const name = Buffer.from("id\0")
    const field = Buffer.alloc(18)
    field.writeUInt32BE(16384, 0)
    field.writeInt16BE(1, 4)
    field.writeUInt32BE(23, 6)
    field.writeInt16BE(4, 10)
    field.writeInt32BE(-1, 12)
    field.writeInt16BE(1, 16)
    const body = Buffer.concat([Buffer.from([0, 1]), name, field])
    const fields = Reader.parseRowDescription(body, 0, body.length)
    expect(fields).toEqual([{ name: "id", tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 1 }])

    const err = Buffer.from("SERROR\0C42601\0Msyntax error\0P8\0\0")
    const f = Reader.parseErrorFields(err, 0, err.length)
    expect(f.get("C")).toBe("42601")
    expect(f.get("P")).toBe("8")

    const pd = Buffer.from([0, 2, 0, 0, 0, 23, 0, 0, 0, 25])
    expect(Reader.parseParameterDescription(pd, 0, pd.length)).toEqual([23, 25])

    const sasl = Buffer.concat([Buffer.from([0, 0, 0, 10]), Buffer.from("SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0")])
    expect(Reader.parseAuthentication(sasl, 0, sasl.length)).toEqual({
      kind: "sasl",
      mechanisms: ["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    })
    const md5 = Buffer.from([0, 0, 0, 5, 1, 2, 3, 4])
    expect(Reader.parseAuthentication(md5, 0, md5.length)).toEqual({ kind: "md5", salt: Buffer.from([1, 2, 3, 4]) })
  })

  it("rejects an unterminated string", () => {
    const bad = Buffer.from("SELECT 1")
    expect(() => Reader.parseCommandComplete(bad, 0, bad.length)).toThrow(Reader.ProtocolViolation)
  })
})

describe("Writer under load", () => {
  it("keeps every message intact when a batch moves to a bigger slab mid-message", () => {
    const w = new Writer()
    const taken: Array<Buffer> = []
    const expected: Array<string> = []
    for (let i = 0; i < 5000; i++) {
      const text = "v".repeat(i % 300)
      w.bind("", "s", [0], [text], [1]).execute("", 0).sync()
      expected.push(text)
      if (i % 37 === 0) taken.push(Buffer.from(w.take()))
    }
    taken.push(Buffer.from(w.take()))
    const stream = Buffer.concat(taken)
    const seen: Array<string> = []
    new Reader.Reader((type, buf, start) => {
      if (type === 0x42) {
        // portal "", statement "s", 1 format, 1 value: its length and bytes
        const at = start + 1 + 2 + 2 + 2 + 2
        const len = buf.readInt32BE(at)
        seen.push(buf.toString("utf8", at + 4, at + 4 + len))
      }
    }).feed(stream)
    expect(seen).toEqual(expected)
  })
})
