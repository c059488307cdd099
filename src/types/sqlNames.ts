/**
 * SQL-standard spellings of built-in types (`integer`, `double precision`,
 * `character varying`, ...) and the `pg_type` names they stand for, as
 * asyncpg's `BUILTIN_TYPE_NAME_MAP` has them, so the codec methods accept
 * either. `char` is not one: in `pg_catalog` it names the one-byte `"char"`
 * type; `character` (or `bpchar`) is `char(n)`.
 *
 * Internal: not exported by the package.
 */

/** Lower-case SQL spelling → `pg_type.typname` (asyncpg's aliases, with "time zone" spelt both ways). */
export const SQL_TYPE_ALIASES: ReadonlyMap<string, string> = new Map([
  ["smallint", "int2"],
  ["int", "int4"],
  ["integer", "int4"],
  ["bigint", "int8"],
  ["decimal", "numeric"],
  ["real", "float4"],
  ["double precision", "float8"],
  ["float", "float8"],
  ["boolean", "bool"],
  ["timestamp with time zone", "timestamptz"],
  ["timestamp with timezone", "timestamptz"],
  ["timestamp without time zone", "timestamp"],
  ["timestamp without timezone", "timestamp"],
  ["time with time zone", "timetz"],
  ["time with timezone", "timetz"],
  ["time without time zone", "time"],
  ["time without timezone", "time"],
  ["character", "bpchar"],
  ["character varying", "varchar"],
  ["char varying", "varchar"],
  ["bit varying", "varbit"]
])

/**
 * The `pg_type` name for a type name given to a codec method in `schema`:
 * in `pg_catalog` an SQL spelling (any case, any run of spaces) becomes the
 * type's `typname`; any other name is returned as given.
 */
export const pgTypeName = (name: string, schema: string): string => {
  if (schema !== "pg_catalog") return name
  return SQL_TYPE_ALIASES.get(name.trim().replace(/\s+/g, " ").toLowerCase()) ?? name
}
