/**
 * The type registry: type OID → codec, for one connection.
 *
 * Lookups are an array index for system OIDs and a `Map` lookup for user
 * types. Built-in codecs are shared by every registry with the same options;
 * user codecs (`setTypeCodec`) and introspected types are per registry and
 * copied on write, so `clone()` is O(1).
 *
 * @since 0.1.0
 */
import type { Codec, IntrospectedType } from "./Codec.js"
import { utf8 } from "./internal/binary.js"
import { make, rename, type TypeCodec } from "./internal/kit.js"
import { arrayCodec } from "./array.js"
import { addContainers, builtinTable, FALLBACK, fallbackCodec, LOW_OID_LIMIT } from "./builtins.js"
import { compositeCodec } from "./composite.js"
import { hstore } from "./hstore.js"
import { multirangeCodec, rangeCodec } from "./ranges.js"
import type { TimestampMode } from "./datetime.js"
import type { Int8Mode, NumericMode } from "./numbers.js"
import { defaultJson, encodeString, textLike, type JsonOptions } from "./text.js"

/**
 * How built-in types are decoded.
 *
 * @since 0.1.0
 */
export interface RegistryOptions {
  /** numeric as an exact decimal `string` (default) or a rounded `number`. */
  readonly numeric?: NumericMode | undefined
  /** int8 as `bigint` (default), `number` (rounded beyond 2^53) or `string`. */
  readonly int8?: Int8Mode | undefined
  /**
   * date/timestamp/timestamptz as `Date` (default), the server's text
   * (`string`), or (`micros`) timestamps as a `bigint` of microseconds since
   * the Unix epoch. `±infinity` is `±Infinity` in every mode.
   */
  readonly timestamps?: TimestampMode | undefined
  /** JSON parser/serializer for json and jsonb (default: `JSON`). */
  readonly json?: JsonOptions | undefined
}

/**
 * A user codec for `setTypeCodec`: values in the declared format, `text`
 * (strings) or `binary` (Buffers; the decoder gets a copy it may keep).
 *
 * @since 0.1.0
 */
export type UserCodec<A> =
  | {
    readonly format: "text"
    readonly encoder: (value: A) => string
    readonly decoder: (text: string) => A
  }
  | {
    readonly format: "binary"
    readonly encoder: (value: A) => Uint8Array
    readonly decoder: (bytes: Buffer) => A
  }

type Resolved = Required<{ [K in keyof RegistryOptions]: NonNullable<RegistryOptions[K]> }>

const resolve = (options: RegistryOptions | undefined): Resolved => ({
  numeric: options?.numeric ?? "string",
  int8: options?.int8 ?? "bigint",
  timestamps: options?.timestamps ?? "date",
  json: options?.json ?? defaultJson
})

interface State {
  readonly builtins: ReadonlyArray<TypeCodec | undefined>
  readonly user: ReadonlyMap<number, TypeCodec>
  readonly introspected: ReadonlyMap<number, IntrospectedType>
  /** OIDs asked for and not found: decoded with the fallback codec. */
  readonly missing: ReadonlySet<number>
}

const EMPTY_USER: ReadonlyMap<number, TypeCodec> = new Map()
const EMPTY_INTROSPECTED: ReadonlyMap<number, IntrospectedType> = new Map()
const EMPTY_MISSING: ReadonlySet<number> = new Set()
const EMPTY_HIGH: ReadonlyMap<number, TypeCodec> = new Map()

/**
 * Type OID → codec for one connection.
 *
 * The engine calls `get(oid) ?? registry.fallback` for every parameter and
 * result column type, `needsIntrospection(oid)` first for OIDs it has not
 * seen, and when some need it runs `TypeRegistry.INTROSPECT_SQL` with those
 * OIDs and passes the rows to `addIntrospected`.
 *
 * @since 0.1.0
 */
export class TypeRegistry {
  /**
   * Fetches the `IntrospectedType` rows for the OIDs in `$1::oid[]` and,
   * recursively, the types they are built from (array elements, domain
   * bases, range subtypes, composite attributes).
   *
   * Result columns, in order: `oid` (oid), `name` (text), `schema` (text),
   * `kind` (text), `elemOid` (oid), `baseOid` (oid), `rangeSubtypeOid`
   * (oid), `attrNames` (text[]), `attrOids` (oid[]); decoded by this
   * registry's own codecs, a row keyed by column name is an
   * `IntrospectedType`. Needs PostgreSQL 14+ (multiranges).
   */
  static readonly INTROSPECT_SQL: string = `WITH RECURSIVE wanted(oid) AS (
  SELECT unnest($1::oid[])
  UNION
  SELECT dep.oid
  FROM wanted w
  JOIN pg_catalog.pg_type t ON t.oid = w.oid
  CROSS JOIN LATERAL (
    SELECT t.typelem WHERE t.typcategory = 'A' AND t.typelem <> 0
    UNION ALL SELECT t.typbasetype WHERE t.typbasetype <> 0
    UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid
    UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngmultitypid = t.oid
    UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a
      WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
  ) AS dep(oid)
)
SELECT
  t.oid AS "oid",
  t.typname::text AS "name",
  n.nspname::text AS "schema",
  t.typtype::text AS "kind",
  (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END)::oid AS "elemOid",
  t.typbasetype AS "baseOid",
  COALESCE(r.rngsubtype, mr.rngsubtype, 0)::oid AS "rangeSubtypeOid",
  COALESCE((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
    WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '{}'::text[]) AS "attrNames",
  COALESCE((SELECT array_agg(a.atttypid ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
    WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '{}'::oid[]) AS "attrOids"
FROM wanted w
JOIN pg_catalog.pg_type t ON t.oid = w.oid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_catalog.pg_range mr ON mr.rngmultitypid = t.oid`

  /** The resolved options. */
  readonly options: Readonly<Resolved>

  /**
   * The codec for OIDs without one (and parameters of OID 0): text format;
   * decodes to the UTF-8 string; encodes strings, numbers, bigints,
   * booleans (`true`/`false`) and Dates (ISO 8601), else `EncodeError`.
   */
  readonly fallback: Codec = FALLBACK

  private state: State
  /** OID < LOW_OID_LIMIT → codec; the shared built-in table until something overrides it. */
  private low: ReadonlyArray<TypeCodec | undefined>
  /** OID >= LOW_OID_LIMIT → codec. */
  private high: ReadonlyMap<number, TypeCodec>

  constructor(options?: RegistryOptions) {
    this.options = resolve(options)
    const builtins = builtinTable(this.options)
    this.state = { builtins, user: EMPTY_USER, introspected: EMPTY_INTROSPECTED, missing: EMPTY_MISSING }
    this.low = builtins
    this.high = EMPTY_HIGH
  }

  /** The codec for a type OID (user, introspected or built-in), or `undefined`. */
  get(oid: number): Codec | undefined {
    return oid < LOW_OID_LIMIT ? this.low[oid] : this.high.get(oid)
  }

  /** `get(oid)`, or the fallback codec. */
  codecFor(oid: number): Codec {
    return (oid < LOW_OID_LIMIT ? this.low[oid] : this.high.get(oid)) ?? FALLBACK
  }

  /**
   * True for an OID (not 0) that has no codec and has not been introspected
   * yet: the engine should run `INTROSPECT_SQL` for it before binding or
   * decoding.
   */
  needsIntrospection(oid: number): boolean {
    return oid !== 0 && this.get(oid) === undefined && !this.state.missing.has(oid)
  }

  /**
   * Builds codecs from introspection rows: enums (text), domains (the base
   * type's codec), arrays, composites (binary records → plain objects),
   * ranges and multiranges, and by name `citext` (text) and `hstore`;
   * other types get a text fallback codec. OIDs in `requested` that no row
   * describes are marked so they are not introspected again.
   *
   * Row fields may be numbers, bigints or numeric strings (they are
   * converted), so any decoding of the query's OID columns works.
   */
  addIntrospected(types: ReadonlyArray<IntrospectedType>, requested?: ReadonlyArray<number>): void {
    const introspected = new Map(this.state.introspected)
    for (const row of types) {
      const t = normalizeRow(row)
      introspected.set(t.oid, t)
    }
    let missing = this.state.missing
    if (requested !== undefined) {
      const m = new Set(missing)
      for (const oid of requested) if (!introspected.has(Number(oid))) m.add(Number(oid))
      missing = m
    }
    this.update({ ...this.state, introspected, missing })
  }

  /**
   * Sets a codec for a type OID on this registry only; it wins over the
   * built-in or introspected codec, and arrays/domains/composites built on
   * the type use it. `name` is the type name used in messages.
   */
  setTypeCodec<A>(oid: number, name: string, codec: UserCodec<A>): void {
    const user = new Map(this.state.user)
    user.set(oid, userCodec(oid, name, codec as UserCodec<unknown>))
    this.update({ ...this.state, user })
  }

  /** Removes a codec set by `setTypeCodec`, restoring the built-in or introspected one. */
  resetTypeCodec(oid: number): void {
    if (!this.state.user.has(oid)) return
    const user = new Map(this.state.user)
    user.delete(oid)
    this.update({ ...this.state, user })
  }

  /** A registry with the same codecs that can be changed independently (O(1), copy on write). */
  clone(): TypeRegistry {
    const copy: TypeRegistry = Object.create(TypeRegistry.prototype)
    Object.assign(copy, { options: this.options, fallback: this.fallback, state: this.state, low: this.low, high: this.high })
    return copy
  }

  /**
   * A registry with the same options and user codecs that has forgotten
   * every introspected type (and every OID found missing): the next lookup
   * of such a type introspects it again (after DDL changed it).
   */
  withoutIntrospected(): TypeRegistry {
    const copy = this.clone()
    copy.update({ ...this.state, introspected: EMPTY_INTROSPECTED, missing: EMPTY_MISSING })
    return copy
  }

  /** Whether `oid` was introspected (its codec comes from catalog rows that DDL may have changed). */
  isIntrospected(oid: number): boolean {
    return this.state.introspected.has(oid)
  }

  /**
   * Whether catalog rows fetched now (`INTROSPECT_SQL` for `requested`)
   * describe the types this registry introspected as it knows them: false
   * when a type changed (attributes, element or base type), or is gone.
   */
  isCurrent(types: ReadonlyArray<IntrospectedType>, requested: ReadonlyArray<number>): boolean {
    const known = this.state.introspected
    const fresh = new Map<number, IntrospectedType>()
    for (const row of types) {
      const t = normalizeRow(row)
      fresh.set(t.oid, t)
    }
    for (const oid of requested) if (known.has(oid) && !fresh.has(oid)) return false
    for (const t of fresh.values()) {
      const k = known.get(t.oid)
      if (k !== undefined && !sameType(k, t)) return false
    }
    return true
  }

  /** A registry with other options, keeping user codecs and introspected types. */
  withOptions(options: RegistryOptions): TypeRegistry {
    const r = new TypeRegistry({ ...this.options, ...options })
    r.update({ ...this.state, builtins: r.state.builtins })
    return r
  }

  private update(state: State): void {
    this.state = state
    const built = buildTables(state)
    this.low = built.low
    this.high = built.high
  }
}

// ---------------------------------------------------------------------------
// building
// ---------------------------------------------------------------------------

const toOid = (v: unknown): number => (typeof v === "number" ? v : Number(v))

const normalizeRow = (row: IntrospectedType): IntrospectedType => ({
  oid: toOid(row.oid),
  name: String(row.name),
  schema: String(row.schema),
  kind: String(row.kind),
  elemOid: toOid(row.elemOid ?? 0),
  baseOid: toOid(row.baseOid ?? 0),
  rangeSubtypeOid: toOid(row.rangeSubtypeOid ?? 0),
  attrNames: (row.attrNames ?? []).map(String),
  attrOids: (row.attrOids ?? []).map(toOid)
})

const sameList = <A>(a: ReadonlyArray<A>, b: ReadonlyArray<A>): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/** Two catalog rows of one type describe the same codec. */
const sameType = (a: IntrospectedType, b: IntrospectedType): boolean =>
  a.kind === b.kind &&
  a.elemOid === b.elemOid &&
  a.baseOid === b.baseOid &&
  a.rangeSubtypeOid === b.rangeSubtypeOid &&
  sameList(a.attrNames, b.attrNames) &&
  sameList(a.attrOids, b.attrOids)

const userCodec = (oid: number, name: string, codec: UserCodec<unknown>): TypeCodec => {
  if (codec.format === "text") {
    const { decoder, encoder } = codec
    const encode = (value: unknown): string => encodeString(encoder(value))
    return make(oid, name, 0, (buf, start, end) => decoder(utf8(buf, start, end)), encode, {
      parseText: decoder,
      formatText: encode
    })
  }
  const { decoder, encoder } = codec
  return make(
    oid,
    name,
    1,
    (buf, start, end) => {
      const copy = Buffer.allocUnsafe(end - start)
      buf.copy(copy, 0, start, end)
      return decoder(copy)
    },
    (value) => encoder(value)
  )
}

/** Computes the lookup tables: built-ins, then user codecs, then introspected types and their dependents. */
const buildTables = (
  state: State
): { low: ReadonlyArray<TypeCodec | undefined>; high: ReadonlyMap<number, TypeCodec> } => {
  if (state.user.size === 0 && state.introspected.size === 0 && state.missing.size === 0) {
    return { low: state.builtins, high: EMPTY_HIGH }
  }
  const low = state.builtins.slice()
  const high = new Map<number, TypeCodec>()
  const set = (codec: TypeCodec): void => {
    if (codec.oid < LOW_OID_LIMIT) low[codec.oid] = codec
    else high.set(codec.oid, codec)
  }
  const lookup = (oid: number): TypeCodec | undefined => (oid < LOW_OID_LIMIT ? low[oid] : high.get(oid))
  for (const codec of state.user.values()) set(codec)
  // built-in containers (arrays, ranges, record) over the user codecs, and a
  // record codec that sees this registry's types
  addContainers(low, lookup, (oid) => state.user.has(oid))
  for (const oid of state.missing) if (lookup(oid) === undefined) set(fallbackCodec(oid, "unknown"))
  // introspected types, dependencies first (built-ins and user codecs win over rows)
  const done = new Map<number, TypeCodec>()
  const building = new Set<number>()
  const build = (oid: number): TypeCodec => {
    const user = state.user.get(oid)
    if (user !== undefined) return user
    if (oid < LOW_OID_LIMIT && state.builtins[oid] !== undefined) return low[oid]!
    const t = state.introspected.get(oid)
    if (t === undefined) return lookup(oid) ?? fallbackCodec(oid, "unknown")
    const previous = done.get(oid)
    if (previous !== undefined) return previous
    if (building.has(oid)) return fallbackCodec(oid, t.name)
    building.add(oid)
    const codec = introspectedCodec(t, build)
    building.delete(oid)
    done.set(oid, codec)
    set(codec)
    return codec
  }
  for (const oid of state.introspected.keys()) build(oid)
  return { low, high }
}

/** The codec for one introspected type, given a resolver for the types it depends on. */
const introspectedCodec = (t: IntrospectedType, build: (oid: number) => TypeCodec): TypeCodec => {
  if (t.elemOid !== 0) return arrayCodec(t.oid, t.name, build(t.elemOid))
  switch (t.kind) {
    case "e":
      return textLike(t.oid, t.name)
    case "d":
      return rename(build(t.baseOid), t.oid, t.name)
    case "r":
      return rangeCodec(t.oid, t.name, build(t.rangeSubtypeOid))
    case "m":
      return multirangeCodec(t.oid, t.name, build(t.rangeSubtypeOid))
    case "c":
      return compositeCodec(t.oid, t.name, t.attrNames, t.attrOids.map(build))
    case "b":
      return baseByName(t)
    default:
      return fallbackCodec(t.oid, t.name)
  }
}

/** Extension base types recognised by name. */
const baseByName = (t: IntrospectedType): TypeCodec => {
  switch (t.name) {
    case "citext":
      return textLike(t.oid, t.name)
    case "hstore":
      return hstore(t.oid, t.name)
    default:
      return fallbackCodec(t.oid, t.name)
  }
}
