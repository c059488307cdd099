/**
 * Node's Buffer has fast, argument-check-free UTF-8 primitives that its
 * typings do not declare. They have been stable since Node 0.x and are what
 * `toString`/`write` call underneath; the hot path uses them directly.
 *
 * @internal
 */
declare global {
  interface Buffer {
    utf8Write(value: string, offset: number, length?: number): number
    utf8Slice(start: number, end: number): string
    latin1Slice(start: number, end: number): string
  }
}

export {}
