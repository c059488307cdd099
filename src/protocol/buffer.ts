/**
 * Node's Buffer has fast, argument-check-free string primitives that its
 * typings do not declare. They have been stable since Node 0.x and are what
 * `toString`/`write` call underneath; the hot path calls them through these
 * helpers (a local cast, no global augmentation of `Buffer`).
 *
 * Internal: not exported by the package.
 */

/** Node's unchecked string methods (present on every Buffer, absent from @types/node). */
interface RawBuffer {
  utf8Write(value: string, offset: number, length?: number): number
  utf8Slice(start: number, end: number): string
  latin1Slice(start: number, end: number): string
  hexSlice(start: number, end: number): string
}

/** Writes `s` as UTF-8 at `offset`; returns the bytes written. */
export const utf8Write = (buf: Buffer, s: string, offset: number): number => (buf as unknown as RawBuffer).utf8Write(s, offset)

/** UTF-8 text of `buf[start..end)` without the encoding switch of `toString`. */
export const utf8Slice = (buf: Buffer, start: number, end: number): string => (buf as unknown as RawBuffer).utf8Slice(start, end)

/** Latin-1 (one char per byte) text of `buf[start..end)`: for ASCII-only payloads. */
export const latin1Slice = (buf: Buffer, start: number, end: number): string =>
  (buf as unknown as RawBuffer).latin1Slice(start, end)

/** Lower-case hex of `buf[start..end)`. */
export const hexSlice = (buf: Buffer, start: number, end: number): string => (buf as unknown as RawBuffer).hexSlice(start, end)
