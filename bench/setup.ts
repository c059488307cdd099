/**
 * Idempotent setup of the benchmark tables (database `test` by default), through `pg`.
 *
 * - bench_users   100,000 rows (W2)
 * - bench_wide    1,000 rows × (int4, text, float8, timestamptz, bool, jsonb) (W3)
 * - bench_scratch the W4 target, same columns as bench_wide, no index (truncated around every load)
 *
 * Each table carries a version comment; a table whose comment or row count is off is rebuilt.
 */
import pg from "pg"
import { type ConnInfo, SCRATCH, USERS_ROWS, WIDE_ROWS } from "./common.js"

const VERSION = "effect-pg bench v1"

const TABLES: ReadonlyArray<{ name: string; rows: number; ddl: string; fill: string }> = [
  {
    name: "bench_users",
    rows: USERS_ROWS,
    ddl: `CREATE TABLE bench_users (
      id int4 PRIMARY KEY, name text NOT NULL, email text NOT NULL, age int4 NOT NULL,
      created_at timestamptz NOT NULL, active bool NOT NULL)`,
    fill: `INSERT INTO bench_users
      SELECT i, 'user ' || i, 'user' || i || '@example.com', 18 + i % 60,
             timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute', i % 3 <> 0
      FROM generate_series(1, ${USERS_ROWS}) AS i`
  },
  {
    name: "bench_wide",
    rows: WIDE_ROWS,
    ddl: `CREATE TABLE bench_wide (
      id int4 PRIMARY KEY, name text NOT NULL, score float8 NOT NULL, created_at timestamptz NOT NULL,
      active bool NOT NULL, data jsonb NOT NULL)`,
    fill: `INSERT INTO bench_wide
      SELECT i, 'row ' || i || ' ' || md5(i::text), i * 1.5 + 0.25,
             timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour', i % 2 = 0,
             jsonb_build_object('k', i, 'tags', jsonb_build_array('a', 'b', 'c'), 'nested', jsonb_build_object('x', i / 4.0))
      FROM generate_series(1, ${WIDE_ROWS}) AS i`
  },
  {
    name: SCRATCH,
    rows: 0,
    ddl: `CREATE TABLE ${SCRATCH} (
      id int4, name text, score float8, created_at timestamptz, active bool, data jsonb)`,
    fill: ""
  }
]

export const setupTables = async (conn: ConnInfo, log: (s: string) => void): Promise<string> => {
  const client = new pg.Client({ host: conn.host, port: conn.port, database: conn.database, user: conn.user })
  await client.connect()
  try {
    for (const t of TABLES) {
      const meta = await client.query<{ comment: string | null }>(
        `SELECT obj_description(to_regclass($1), 'pg_class') AS comment`,
        [t.name]
      )
      let ok = meta.rows[0]?.comment === VERSION
      if (ok) {
        const n = await client.query<{ n: number }>(`SELECT count(*)::int4 AS n FROM ${t.name}`)
        ok = t.rows === 0 || n.rows[0]?.n === t.rows
      }
      if (ok) {
        if (t.rows === 0) await client.query(`TRUNCATE ${t.name}`)
        continue
      }
      log(`setup: (re)creating ${t.name}`)
      await client.query(`DROP TABLE IF EXISTS ${t.name}`)
      await client.query(t.ddl)
      if (t.fill) await client.query(t.fill)
      await client.query(`COMMENT ON TABLE ${t.name} IS '${VERSION}'`)
      await client.query(`VACUUM ANALYZE ${t.name}`)
    }
    const v = await client.query<{ server_version: string }>("SHOW server_version")
    return v.rows[0]!.server_version
  } finally {
    await client.end()
  }
}
