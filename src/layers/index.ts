/**
 * Layers that provide the pool: `layer(options)` and `layerConfig(options)`
 * (DSN from `DATABASE_URL`, read as a secret, else the `PG*` variables).
 *
 * @since 0.1.0
 */
export { layer, layerConfig, PgPool } from "../Pool.js"
