/**
 * Test helpers: a `pg` client that returns raw wire values (Buffers for
 * binary results, strings for text) so codecs can be checked against the
 * server's real bytes.
 */
import pg from "pg"
import { TypeRegistry } from "../../src/types/Registry.js"
import type { Codec } from "../../src/types/Codec.js"

const RAW = { getTypeParser: () => (v: unknown) => v }

/** Connection settings: DATABASE_URL or the local trust-auth server. */
export const connectionConfig = (): pg.ClientConfig =>
  process.env.DATABASE_URL !== undefined
    ? { connectionString: process.env.DATABASE_URL }
    : { host: process.env.PGHOST ?? "127.0.0.1", port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? "root", database: process.env.PGDATABASE ?? "test" }

/** Opens a client with ISO dates and UTC. */
export const openClient = async (): Promise<pg.Client> => {
  const client = new pg.Client(connectionConfig())
  await client.connect()
  await client.query("SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1")
  return client
}

/** One result row's raw values and column type OIDs. */
export interface RawRow {
  readonly values: ReadonlyArray<Buffer | string | null>
  readonly oids: ReadonlyArray<number>
}

/** Runs a query and returns its rows raw (binary results when `binary`). */
export const rawRows = async (
  client: pg.Client,
  text: string,
  values: ReadonlyArray<unknown> = [],
  binary = true
): Promise<Array<RawRow>> => {
  // queryMode "extended" (missing from @types/pg) keeps pg on Parse/Bind even without parameters
  const config = { text, values: values as Array<unknown>, binary, types: RAW, rowMode: "array", queryMode: "extended" }
  const r: pg.QueryResult<Array<Buffer | string | null>> = await client.query(config as pg.QueryArrayConfig)
  const oids = r.fields.map((f) => f.dataTypeID)
  return r.rows.map((values) => ({ values, oids }))
}

/** Decodes one raw value with the registry's codec for its OID. */
export const decodeWith = (registry: TypeRegistry, oid: number, raw: Buffer | string | null): unknown => {
  if (raw === null) return null
  const codec = registry.get(oid)
  if (codec === undefined) throw new Error(`no codec for OID ${oid}`)
  const buf = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw
  // decode from an offset inside a larger buffer, as the engine does
  const big = Buffer.alloc(buf.length + 7, 0xee)
  buf.copy(big, 3)
  return codec.decode(big, 3, 3 + buf.length)
}

/**
 * `SELECT <expr>`: the value decoded from the wire in the codec's format
 * (binary or text), the column's OID and the server's text for it.
 */
export const selectDecoded = async (
  client: pg.Client,
  registry: TypeRegistry,
  expr: string,
  values: ReadonlyArray<unknown> = []
): Promise<{ value: unknown; oid: number; text: string | null }> => {
  const [row] = await rawRows(client, `SELECT format('%s', ${expr}), ${expr}`, values, false)
  const oid = row!.oids[1]!
  const text = row!.values[0] as string | null
  const codec = registry.get(oid)
  if (codec === undefined) throw new Error(`no codec for OID ${oid}`)
  let raw = row!.values[1]!
  if (codec.format === 1 && raw !== null) raw = await binaryOf(client, oid, expr, values)
  return { value: decodeWith(registry, oid, raw), oid, text }
}

const sendFunctions = new Map<number, string>()

/**
 * The binary wire form of `expr` (of type `oid`), through the type's send
 * function (`int4send`, `array_send`, `record_send`, ...): the exact bytes a
 * binary-format result column carries. (`pg` itself cannot return binary
 * results: its parser decodes every field as UTF-8.)
 */
export const binaryOf = async (
  client: pg.Client,
  oid: number,
  expr: string,
  values: ReadonlyArray<unknown> = []
): Promise<Buffer> => {
  let send = sendFunctions.get(oid)
  if (send === undefined) {
    const r = await client.query<{ f: string }>("SELECT typsend::regproc::text AS f FROM pg_type WHERE oid = $1", [oid])
    send = r.rows[0]!.f
    sendFunctions.set(oid, send)
  }
  const [row] = await rawRows(client, `SELECT encode(${send}(${expr}), 'hex')`, values, false)
  return Buffer.from(row!.values[0] as string, "hex")
}

/** A parameter as pg must send it: strings as text, bytes as binary. */
export const asParam = (encoded: string | Uint8Array): string | Buffer =>
  typeof encoded === "string" ? encoded : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)

/**
 * Encodes `value` with `codec`, sends it as `$1::<type>` (binary when the
 * encoder gave bytes), and returns the server's text for it and the value
 * decoded back from the server's binary output.
 */
export const roundTrip = async (
  client: pg.Client,
  registry: TypeRegistry,
  type: string,
  value: unknown,
  codec: Codec = registry.codecFor(oidOfParamType(type))
): Promise<{ value: unknown; text: string | null }> => {
  const param = asParam(codec.encode(value))
  return selectDecoded(client, registry, `$1::${type}`, [param]).then(({ value, text }) => ({ value, text }))
}

const oids: Record<string, number> = {}

/** Remembers a type name → OID mapping for `roundTrip`. */
export const registerOid = (type: string, oid: number): void => {
  oids[type] = oid
}

const oidOfParamType = (type: string): number => {
  const oid = oids[type]
  if (oid === undefined) throw new Error(`unknown type ${type}: call loadOids first`)
  return oid
}

/** Looks up OIDs of type names (e.g. `int4`, `int4[]`) through the server. */
export const loadOids = async (client: pg.Client, types: ReadonlyArray<string>): Promise<void> => {
  for (const t of types) {
    const r = await client.query<{ oid: string }>(`SELECT $1::regtype::oid AS oid`, [t])
    registerOid(t, Number(r.rows[0]!.oid))
  }
}
