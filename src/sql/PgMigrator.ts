/**
 * `effect/sql`'s Migrator for PostgreSQL, on any `SqlClient` (effect-pg's
 * {@link PgSqlClient.layer} or another): migrations run in one transaction
 * that holds `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE`, so two processes
 * migrating at once do not run a migration twice.
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { SqlClient } from "effect/sql"
 * import { PgMigrator, PgSqlClient } from "effect-pg/sql"
 *
 * const SqlLive = PgSqlClient.layer({ dsn: process.env.DATABASE_URL })
 * const MigratorLive = PgMigrator.layer({
 *   loader: PgMigrator.fromRecord({
 *     "1_create_users": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE users (...)`)
 *   })
 * }).pipe(Layer.provide(SqlLive))
 * ```
 *
 * Loaders: `fromRecord` (effects by `"<id>_<name>"`), `fromGlob` /
 * `fromBabelGlob` (a bundler's `import.meta.glob`), `fromFileSystem(dir)`
 * (files `<id>_<name>.ts|js` whose default export is the effect; needs
 * `FileSystem` and `Path`).
 *
 * Not done: `@effect/sql-pg`'s `pg_dump` schema dump. With
 * `schemaDirectory` set, the dump is reported (logged at info level by the
 * Migrator) as not supported, and the migrations still run.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Migrator from "effect/sql/Migrator"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import type { FileSystem } from "effect/FileSystem"
import type { Path } from "effect/Path"

export {
  /** A migration failed, could not be loaded, or ids were duplicated. */
  MigrationError,
  /** A loader from `import.meta.glob`-style records of `() => import(...)`. */
  fromGlob,
  /** A loader from records of already-imported modules. */
  fromBabelGlob,
  /** A loader from records of effects keyed `"<id>_<name>"`. */
  fromRecord,
  type Loader,
  type Migration,
  type MigratorOptions,
  type ResolvedMigration
} from "effect/sql/Migrator"

/** The module that holds effect's `fromFileSystem`: `effect/sql/MigratorFileSystem` from effect 4.1, `effect/sql/Migrator` in 4.0. */
interface FileSystemLoaders {
  readonly fromFileSystem: (directory: string) => Migrator.Loader<FileSystem | Path>
}

/**
 * A loader reading `<id>_<name>.(ts|js)` files of `directory` (needs
 * `FileSystem` and `Path`). Works with every effect 4.x the package accepts
 * as its peer: the loader moved out of `Migrator` in effect 4.1.
 */
export const fromFileSystem = (directory: string): Migrator.Loader<FileSystem | Path> =>
  Effect.flatMap(
    Effect.promise(
      (): Promise<FileSystemLoaders> =>
        import("effect/sql/MigratorFileSystem").catch(() => Migrator as unknown as FileSystemLoaders)
    ),
    (m) => m.fromFileSystem(directory)
  )

/**
 * Runs the migrations the loader gives that are newer than the latest one
 * recorded in `table` (default `effect_sql_migrations`); returns the
 * `[id, name]` of those it ran.
 */
export const run: <R = never>(
  options: Migrator.MigratorOptions<R>
) => Effect.Effect<ReadonlyArray<readonly [id: number, name: string]>, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient | R> =
  Migrator.make({
    dumpSchema: (path) =>
      Effect.fail(
        new Migrator.MigrationError({
          kind: "Failed",
          message: `effect-pg/sql does not dump schemas (pg_dump); ${path} was not written. Run pg_dump --schema-only yourself if you need it`
        })
      )
  })

/** {@link run} as a Layer: the migrations run when the layer is built. */
export const layer = <R = never>(
  options: Migrator.MigratorOptions<R>
): Layer.Layer<never, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient | R> => Layer.effectDiscard(run(options))
