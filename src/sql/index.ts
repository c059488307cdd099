/**
 * `effect-pg/sql`: Effect's SQL layer (`effect/sql`) on an effect-pg pool.
 *
 * - {@link PgSqlClient}: `layer(options)`, `layerFromPool()`, `make`,
 *   `fromPool`: a `SqlClient.SqlClient` whose statements run on effect-pg.
 * - {@link PgMigrator}: `effect/sql`'s Migrator on that client.
 *
 * @since 0.1.0
 */

/** The `SqlClient` adapter: `layer`, `layerFromPool`, `make`, `fromPool`. */
export * as PgSqlClient from "./PgSqlClient.js"
/** `effect/sql`'s Migrator for PostgreSQL: `run`, `layer`, loaders. */
export * as PgMigrator from "./PgMigrator.js"
