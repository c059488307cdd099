/**
 * The values and codec types of PostgreSQL's data types as effect-pg
 * exchanges them: `Range` and `Interval` (classes you construct and receive),
 * the geometric shapes, the decoding options of `ConnectOptions.types`, and
 * the codec contract of `setTypeCodec`.
 *
 * ```ts
 * import { Interval, Range } from "effect-pg/Types"
 *
 * yield* conn.fetchval("SELECT $1::int4range", [new Range(1, 10)])
 * ```
 *
 * @since 0.1.0
 */

export {
  /** A PostgreSQL range value: bounds, inclusivity, emptiness. */
  Range
} from "./types/Range.js"

export {
  /** A PostgreSQL `interval`: months, days and microseconds, kept apart. */
  Interval
} from "./types/Interval.js"

export {
  /** Thrown by an encoder when a value cannot be represented in the type. */
  EncodeError,
  /** A codec for one PostgreSQL type in one wire format. */
  type Codec,
  /** Wire format code: 0 = text, 1 = binary. */
  type FormatCode
} from "./types/Codec.js"

export {
  /** How some types are decoded (`ConnectOptions.types`). */
  type RegistryOptions,
  /** A user codec for `setTypeCodec`: text or binary encoder and decoder. */
  type UserCodec
} from "./types/Registry.js"

export type { Box, Circle, Line, LineSegment, Path, Point, Polygon } from "./types/geometric.js"
export type { Int8Mode, NumericMode } from "./types/numbers.js"
export type { TimestampMode } from "./types/datetime.js"
export type { JsonOptions } from "./types/text.js"

export type {
  /** Options of `conn.setTypeCodec`: a text or binary encoder and decoder, and the type's schema. */
  TypeCodecOptions,
  /** Options of `conn.setBuiltinTypeCodec`: which built-in codec a type uses. */
  BuiltinCodecOptions
} from "./connection/userCodecOptions.js"
