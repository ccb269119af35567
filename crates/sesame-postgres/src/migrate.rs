//! The schema migrations, shipped with the crate and run by
//! [`PostgresStore::migrate`](crate::PostgresStore::migrate).

use deadpool_postgres::Object;

use crate::error::PostgresStoreError;
use crate::store::quote_ident;

/// The migrations, in order: (version, SQL with `{schema}` for the quoted schema).
pub(crate) const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("../migrations/0001_init.sql"))];

/// The latest schema version this build knows.
pub const SCHEMA_VERSION: i32 = 1;

fn failed(e: tokio_postgres::Error) -> PostgresStoreError {
    PostgresStoreError::Query("migration", e)
}

/// Applies the migrations the schema lacks, in one transaction under an advisory lock on the
/// schema's name (two processes migrating at once: the second waits, then finds nothing to do).
pub(crate) async fn run(conn: &mut Object, schema: &str) -> Result<(), PostgresStoreError> {
    let s = quote_ident(schema);
    let tx = conn.transaction().await.map_err(failed)?;
    // Transaction-scoped: released by the commit or the rollback, also if the connection dies.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("sesame-postgres migrate {schema}")],
    )
    .await
    .map_err(failed)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_version (
             version    integer     PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(failed)?;
    let row = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {s}.schema_version"),
            &[],
        )
        .await
        .map_err(failed)?;
    let current: i32 = row.try_get(0).map_err(failed)?;
    if current > SCHEMA_VERSION {
        return Err(PostgresStoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(&sql.replace("{schema}", &s))
            .await
            .map_err(failed)?;
        tx.execute(
            &format!("INSERT INTO {s}.schema_version (version) VALUES ($1)"),
            &[&version],
        )
        .await
        .map_err(failed)?;
        tracing::info!(schema, version, "applied a sesame-postgres migration");
    }
    tx.commit().await.map_err(failed)
}

/// The schema's version: `0` when it has not been migrated.
pub(crate) async fn current(conn: &Object, schema: &str) -> Result<i32, PostgresStoreError> {
    let s = quote_ident(schema);
    let table = format!("{s}.schema_version");
    let row = conn
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .map_err(failed)?;
    let exists: bool = row.try_get(0).map_err(failed)?;
    if !exists {
        return Ok(0);
    }
    let row = conn
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {table}"),
            &[],
        )
        .await
        .map_err(failed)?;
    row.try_get(0).map_err(failed)
}
