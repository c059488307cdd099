/**
 * Codecs for the geometric types: binary, decoded to plain objects (the
 * shapes of asyncpg's `Point`, `Box`, ... records).
 *
 * @since 0.1.0
 */
import { fail, Writer } from "./internal/binary.js"
import { binary, type TypeCodec } from "./internal/kit.js"
import { parseFloatText } from "./numbers.js"

/** A point `(x,y)`. */
export interface Point {
  readonly x: number
  readonly y: number
}

/** A line `{a,b,c}`: ax + by + c = 0. */
export interface Line {
  readonly a: number
  readonly b: number
  readonly c: number
}

/** A line segment `[p1,p2]`. */
export interface LineSegment {
  readonly p1: Point
  readonly p2: Point
}

/** A box: its upper-right (`high`) and lower-left (`low`) corners, as the server stores them. */
export interface Box {
  readonly high: Point
  readonly low: Point
}

/** A path: open (`[...]`) or closed (`(...)`). */
export interface Path {
  readonly closed: boolean
  readonly points: ReadonlyArray<Point>
}

/** A polygon. */
export interface Polygon {
  readonly points: ReadonlyArray<Point>
}

/** A circle `<(x,y),r>`. */
export interface Circle {
  readonly center: Point
  readonly radius: number
}

const readPoint = (buf: Buffer, pos: number): Point => ({ x: buf.readDoubleBE(pos), y: buf.readDoubleBE(pos + 8) })

const readPoints = (buf: Buffer, pos: number, n: number): Array<Point> => {
  const out = new Array<Point>(n)
  for (let i = 0; i < n; i++) out[i] = readPoint(buf, pos + i * 16)
  return out
}

const num = (v: unknown, value: unknown, expected: string): number =>
  typeof v === "number" ? v : fail(expected, value)

const POINT = "a point { x, y } or [x, y]"

const toPoint = (v: unknown, value: unknown = v): Point => {
  if (Array.isArray(v) && v.length === 2) return { x: num(v[0], value, POINT), y: num(v[1], value, POINT) }
  if (typeof v === "object" && v !== null) {
    const p = v as { x?: unknown; y?: unknown }
    return { x: num(p.x, value, POINT), y: num(p.y, value, POINT) }
  }
  return fail(POINT, value)
}

const toPoints = (v: unknown, value: unknown, expected: string): Array<Point> =>
  Array.isArray(v) ? v.map((p) => toPoint(p, value)) : fail(expected, value)

const writePoint = (w: Writer, p: Point): void => {
  w.float64(p.x)
  w.float64(p.y)
}

// ---------------------------------------------------------------------------
// text forms (in text-format containers): the same JS values as the binary form
// ---------------------------------------------------------------------------

const FLOAT_TOKEN = /[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|infinity|inf|nan)/gi

/** The numbers of a geometric value's text, in order (`(1,2),(3,4)` → 1, 2, 3, 4). */
const numbersOf = (text: string, expected: number | undefined, type: string): Array<number> => {
  const tokens = text.match(FLOAT_TOKEN) ?? []
  if (expected !== undefined ? tokens.length !== expected : tokens.length % 2 !== 0) {
    throw new Error(`not the text form of a ${type}: ${JSON.stringify(text.slice(0, 80))}`)
  }
  return tokens.map(parseFloatText)
}

const pointsOf = (n: ReadonlyArray<number>, from: number): Array<Point> => {
  const out = new Array<Point>((n.length - from) >> 1)
  for (let i = 0; i < out.length; i++) out[i] = { x: n[from + 2 * i]!, y: n[from + 2 * i + 1]! }
  return out
}

/** Parses point text `(x,y)`. */
export const parsePointText = (s: string): Point => {
  const n = numbersOf(s, 2, "point")
  return { x: n[0]!, y: n[1]! }
}
/** Parses line text `{a,b,c}`. */
export const parseLineText = (s: string): Line => {
  const n = numbersOf(s, 3, "line")
  return { a: n[0]!, b: n[1]!, c: n[2]! }
}
/** Parses lseg text `[(x1,y1),(x2,y2)]`. */
export const parseLsegText = (s: string): LineSegment => {
  const [p1, p2] = pointsOf(numbersOf(s, 4, "lseg"), 0)
  return { p1: p1!, p2: p2! }
}
/** Parses box text `(x1,y1),(x2,y2)` (upper right, then lower left). */
export const parseBoxText = (s: string): Box => {
  const [high, low] = pointsOf(numbersOf(s, 4, "box"), 0)
  return { high: high!, low: low! }
}
/** Parses path text: `[...]` open, `(...)` closed. */
export const parsePathText = (s: string): Path => ({
  closed: s.trimStart().startsWith("("),
  points: pointsOf(numbersOf(s, undefined, "path"), 0)
})
/** Parses polygon text `((x,y),...)`. */
export const parsePolygonText = (s: string): Polygon => ({ points: pointsOf(numbersOf(s, undefined, "polygon"), 0) })
/** Parses circle text `<(x,y),r>`. */
export const parseCircleText = (s: string): Circle => {
  const n = numbersOf(s, 3, "circle")
  return { center: { x: n[0]!, y: n[1]! }, radius: n[2]! }
}

const pointText = (p: Point): string => `(${p.x},${p.y})`
const pointsText = (ps: ReadonlyArray<Point>): string => ps.map(pointText).join(",")

/** point: binary, `{ x, y }` (parameters may be `[x, y]`, so point arrays are one-dimensional). */
export const point = (oid: number, name: string): TypeCodec =>
  binary(oid, name, (buf, start) => readPoint(buf, start), (value) => {
    const p = toPoint(value)
    const w = new Writer(16)
    writePoint(w, p)
    return w.finish()
  }, { arrayValues: true, parseText: parsePointText, formatText: (v) => pointText(toPoint(v)) })

const LINE = "a line { a, b, c }"

/** line: binary, `{ a, b, c }`. */
export const line = (oid: number, name: string): TypeCodec =>
  binary(
    oid,
    name,
    (buf, start) => ({ a: buf.readDoubleBE(start), b: buf.readDoubleBE(start + 8), c: buf.readDoubleBE(start + 16) }),
    (value) => {
      if (typeof value !== "object" || value === null) return fail(LINE, value)
      const l = value as { a?: unknown; b?: unknown; c?: unknown }
      const w = new Writer(24)
      w.float64(num(l.a, value, LINE))
      w.float64(num(l.b, value, LINE))
      w.float64(num(l.c, value, LINE))
      return w.finish()
    },
    {
      parseText: parseLineText,
      formatText: (value) => {
        const l = (typeof value === "object" && value !== null ? value : fail(LINE, value)) as { a?: unknown; b?: unknown; c?: unknown }
        return `{${num(l.a, value, LINE)},${num(l.b, value, LINE)},${num(l.c, value, LINE)}}`
      }
    }
  )

const pairText = (expected: string, first: string, second: string, open: string, close: string) => (value: unknown): string => {
  if (typeof value !== "object" || value === null) return fail(expected, value)
  const v = value as Record<string, unknown>
  return `${open}${pointText(toPoint(v[first], value))},${pointText(toPoint(v[second], value))}${close}`
}

const pair = (expected: string, first: string, second: string) => (value: unknown): Uint8Array => {
  if (typeof value !== "object" || value === null) return fail(expected, value)
  const v = value as Record<string, unknown>
  const w = new Writer(32)
  writePoint(w, toPoint(v[first], value))
  writePoint(w, toPoint(v[second], value))
  return w.finish()
}

/** lseg: binary, `{ p1, p2 }`. */
export const lseg = (oid: number, name: string): TypeCodec =>
  binary(oid, name, (buf, start) => ({ p1: readPoint(buf, start), p2: readPoint(buf, start + 16) }), pair("a line segment { p1, p2 }", "p1", "p2"), {
    parseText: parseLsegText,
    formatText: pairText("a line segment { p1, p2 }", "p1", "p2", "[", "]")
  })

/** box: binary, `{ high, low }` (the server normalizes the corners). */
export const box = (oid: number, name: string): TypeCodec =>
  binary(oid, name, (buf, start) => ({ high: readPoint(buf, start), low: readPoint(buf, start + 16) }), pair("a box { high, low }", "high", "low"), {
    delimiter: ";",
    parseText: parseBoxText,
    formatText: pairText("a box { high, low }", "high", "low", "", "")
  })

const PATH = "a path { closed, points }"

/** path: binary, `{ closed, points }`. */
export const path = (oid: number, name: string): TypeCodec =>
  binary(
    oid,
    name,
    (buf, start) => ({ closed: buf[start] !== 0, points: readPoints(buf, start + 5, buf.readInt32BE(start + 1)) }),
    (value) => {
      if (typeof value !== "object" || value === null) return fail(PATH, value)
      const p = value as { closed?: unknown; points?: unknown }
      const points = toPoints(p.points, value, PATH)
      const w = new Writer(5 + points.length * 16)
      w.uint8(p.closed === false ? 0 : 1)
      w.int32(points.length)
      for (const pt of points) writePoint(w, pt)
      return w.finish()
    },
    {
      parseText: parsePathText,
      formatText: (value) => {
        if (typeof value !== "object" || value === null) return fail(PATH, value)
        const p = value as { closed?: unknown; points?: unknown }
        const body = pointsText(toPoints(p.points, value, PATH))
        return p.closed === false ? `[${body}]` : `(${body})`
      }
    }
  )

const POLYGON = "a polygon { points }"

/** polygon: binary, `{ points }`. */
export const polygon = (oid: number, name: string): TypeCodec =>
  binary(
    oid,
    name,
    (buf, start) => ({ points: readPoints(buf, start + 4, buf.readInt32BE(start)) }),
    (value) => {
      if (typeof value !== "object" || value === null) return fail(POLYGON, value)
      const points = toPoints((value as { points?: unknown }).points, value, POLYGON)
      const w = new Writer(4 + points.length * 16)
      w.int32(points.length)
      for (const pt of points) writePoint(w, pt)
      return w.finish()
    },
    {
      parseText: parsePolygonText,
      formatText: (value) => {
        if (typeof value !== "object" || value === null) return fail(POLYGON, value)
        return `(${pointsText(toPoints((value as { points?: unknown }).points, value, POLYGON))})`
      }
    }
  )

const CIRCLE = "a circle { center, radius }"

/** circle: binary, `{ center, radius }`. */
export const circle = (oid: number, name: string): TypeCodec =>
  binary(
    oid,
    name,
    (buf, start) => ({ center: readPoint(buf, start), radius: buf.readDoubleBE(start + 16) }),
    (value) => {
      if (typeof value !== "object" || value === null) return fail(CIRCLE, value)
      const c = value as { center?: unknown; radius?: unknown }
      const w = new Writer(24)
      writePoint(w, toPoint(c.center, value))
      w.float64(num(c.radius, value, CIRCLE))
      return w.finish()
    },
    {
      parseText: parseCircleText,
      formatText: (value) => {
        if (typeof value !== "object" || value === null) return fail(CIRCLE, value)
        const c = value as { center?: unknown; radius?: unknown }
        return `<${pointText(toPoint(c.center, value))},${num(c.radius, value, CIRCLE)}>`
      }
    }
  )
