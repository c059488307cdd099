/**
 * Codecs for inet, cidr, macaddr and macaddr8: strings, text format (the
 * server's output is the value), with their binary form read and written
 * inside composites and ranges.
 *
 * @since 0.1.0
 */
import { isIPv4, isIPv6 } from "node:net"
import { fail, hex } from "./internal/binary.js"
import { text, type TypeCodec } from "./internal/kit.js"
import { encodeString } from "./text.js"

const AF_INET = 2
const AF_INET6 = 3

/** Formats the binary inet/cidr value at `start` as PostgreSQL prints it. */
export const decodeInetBinary = (buf: Buffer, start: number): string => {
  const family = buf[start]!
  const bits = buf[start + 1]!
  const isCidr = buf[start + 2] !== 0
  const n = buf[start + 3]!
  const addr = start + 4
  let out: string
  let max: number
  if (family === AF_INET) {
    max = 32
    out = `${n > 0 ? buf[addr] : 0}.${n > 1 ? buf[addr + 1] : 0}.${n > 2 ? buf[addr + 2] : 0}.${n > 3 ? buf[addr + 3] : 0}`
  } else {
    max = 128
    out = formatIPv6(buf, addr)
  }
  return isCidr || bits !== max ? `${out}/${bits}` : out
}

/** IPv6 text: the longest run (≥ 2) of zero words as `::`, IPv4-mapped/compatible tails dotted. */
const formatIPv6 = (buf: Buffer, addr: number): string => {
  const words = new Array<number>(8)
  for (let i = 0; i < 8; i++) words[i] = buf.readUInt16BE(addr + i * 2)
  let bestBase = -1
  let bestLen = 0
  let curBase = -1
  let curLen = 0
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) (curBase = i), (curLen = 1)
      else curLen++
    } else if (curBase !== -1) {
      if (curLen > bestLen) (bestBase = curBase), (bestLen = curLen)
      curBase = -1
    }
  }
  if (curBase !== -1 && curLen > bestLen) (bestBase = curBase), (bestLen = curLen)
  if (bestLen < 2) bestBase = -1
  let out = ""
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ":"
      continue
    }
    if (i !== 0) out += ":"
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 7 && words[7] !== 1) || (bestLen === 5 && words[5] === 0xffff))) {
      out += `${buf[addr + 12]}.${buf[addr + 13]}.${buf[addr + 14]}.${buf[addr + 15]}`
      return out
    }
    out += words[i]!.toString(16)
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ":"
  return out
}

const INET_EXPECTED = "an IP address string (optionally with /bits)"

/** Parses `addr[/bits]` into family, bits and address bytes, or throws `EncodeError`. */
const parseInet = (value: unknown, isCidr: boolean): Uint8Array => {
  if (typeof value !== "string") return fail(INET_EXPECTED, value)
  const slash = value.indexOf("/")
  const host = (slash === -1 ? value : value.slice(0, slash)).trim()
  let bytes: Array<number>
  let family: number
  if (isIPv4(host)) {
    family = AF_INET
    bytes = host.split(".").map(Number)
  } else if (isIPv6(host)) {
    family = AF_INET6
    bytes = ipv6Bytes(host)
  } else {
    return fail(INET_EXPECTED, value)
  }
  const max = family === AF_INET ? 32 : 128
  const bits = slash === -1 ? max : Number(value.slice(slash + 1))
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return fail(INET_EXPECTED, value)
  return Uint8Array.of(family, bits, isCidr ? 1 : 0, bytes.length, ...bytes)
}

const ipv6Bytes = (host: string): Array<number> => {
  let h = host
  const tail: Array<number> = []
  const lastColon = h.lastIndexOf(":")
  if (h.includes(".", lastColon)) {
    const v4 = h.slice(lastColon + 1).split(".").map(Number)
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
    h = h.slice(0, lastColon + 1) + "0:0"
  }
  const [head, rest] = h.includes("::") ? (h.split("::") as [string, string]) : [h, undefined]
  const headWords = head === "" ? [] : head.split(":").map((w) => parseInt(w, 16))
  let words: Array<number>
  if (rest === undefined) {
    words = headWords
  } else {
    const restWords = rest === "" ? [] : rest.split(":").map((w) => parseInt(w, 16))
    words = [...headWords, ...new Array<number>(8 - headWords.length - restWords.length).fill(0), ...restWords]
  }
  if (tail.length === 2) words.splice(6, 2, tail[0]!, tail[1]!)
  const out: Array<number> = []
  for (const w of words) out.push(w >> 8, w & 0xff)
  return out
}

/** inet: text format (a string). */
export const inet = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, encodeString, { decodeBinary: decodeInetBinary, encodeBinary: (v) => parseInet(v, false) })

/** cidr: text format (a string). */
export const cidr = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, encodeString, { decodeBinary: decodeInetBinary, encodeBinary: (v) => parseInet(v, true) })

/** Formats `n` bytes at `start` as `aa:bb:...`. */
export const decodeMacBinary = (buf: Buffer, start: number, end: number): string => {
  const h = hex(buf, start, end)
  let out = h.slice(0, 2)
  for (let i = 2; i < h.length; i += 2) out += ":" + h.slice(i, i + 2)
  return out
}

const macEncoder = (n: number) => (value: unknown): Uint8Array => {
  const digits = typeof value === "string" ? value.replace(/[:.-]/g, "") : ""
  if (digits.length !== n * 2 || !/^[0-9a-f]+$/i.test(digits)) return fail(`a MAC address string of ${n} bytes`, value)
  return Buffer.from(digits, "hex")
}

/** macaddr: text format (a string). */
export const macaddr = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, encodeString, { decodeBinary: decodeMacBinary, encodeBinary: macEncoder(6) })

/** macaddr8: text format (a string). */
export const macaddr8 = (oid: number, name: string): TypeCodec =>
  text(oid, name, undefined, encodeString, { decodeBinary: decodeMacBinary, encodeBinary: macEncoder(8) })
