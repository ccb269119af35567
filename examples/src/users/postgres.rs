//! The user table in the PostgreSQL database that holds the sessions, in the session store's
//! schema, shared by every process on it.
//!
//! Tables (created by [`PostgresUsers::open`], idempotently, after the store's `migrate()`):
//!
//! * `{schema}.demo_users`: `id bigint` primary key (from the sequence
//!   `{schema}.demo_user_ids`), `username_lower text` unique (the atomic claim of a name), and
//!   `record bytea`, the user as JSON;
//! * `{schema}.demo_tokens`: `hash bytea` primary key (the SHA-256 of an API token), and
//!   `record bytea`, its [`TokenRecord`] as JSON;
//! * `{schema}.demo_passkeys`: `credential_id text` primary key (a passkey's, base64url: the
//!   atomic claim), and `user_id text`, the id of its user.
//!
//! Updates are compare-and-swap on the record (`UPDATE ... WHERE id = $1 AND record = $2`),
//! retried on conflict. Every statement is a commit: durable when it returns.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use sesame_postgres::PostgresStore;
use sesame_postgres::deadpool_postgres::{Object, Pool};

use super::{
    CreateError, DemoUser, TokenHash, TokenRecord, UserChange, UserStoreError, UserTable, changed,
    decode_user,
};

/// The client-side bound on one statement of the user table (the server's own
/// `statement_timeout`, set by the store on its connections, is 5 s by default).
const STATEMENT_BOUND: Duration = Duration::from_secs(6);

/// The user table in PostgreSQL, on a session store's connection pool. Cheap to clone.
#[derive(Clone)]
pub struct PostgresUsers {
    pool: Pool,
    schema: String,
    sql: Sql,
}

#[derive(Clone)]
struct Sql {
    get: String,
    find: String,
    count: String,
    list: String,
    next_id: String,
    insert: String,
    swap: String,
    insert_token: String,
    token: String,
    remove_token: String,
    claim_passkey: String,
    passkey_owner: String,
    release_passkey: String,
}

impl fmt::Debug for PostgresUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresUsers")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Quotes an SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PostgresUsers {
    /// The user table in `store`'s schema, on its pool: creates the tables and the id
    /// sequence if they do not exist (idempotent, and safe when several processes start at
    /// once: under an advisory lock, in one transaction). Call it after the store's
    /// `migrate()`, which creates the schema.
    ///
    /// # Errors
    ///
    /// [`UserStoreError::Pool`] when no connection can be had, [`UserStoreError::Postgres`]
    /// when a statement fails.
    pub async fn open(store: &PostgresStore) -> Result<Self, UserStoreError> {
        let schema = store.schema().to_owned();
        let s = quote(&schema);
        let users = Self {
            pool: store.pool(),
            sql: Sql {
                get: format!("SELECT record FROM {s}.demo_users WHERE id = $1"),
                find: format!("SELECT record FROM {s}.demo_users WHERE username_lower = $1"),
                count: format!("SELECT count(*) FROM {s}.demo_users"),
                list: format!("SELECT record FROM {s}.demo_users ORDER BY username_lower LIMIT $1"),
                next_id: format!(
                    "SELECT nextval('{}')",
                    format!("{s}.demo_user_ids").replace('\'', "''")
                ),
                insert: format!(
                    "INSERT INTO {s}.demo_users (id, username_lower, record) VALUES ($1, $2, $3) \
                     ON CONFLICT (username_lower) DO NOTHING"
                ),
                swap: format!(
                    "UPDATE {s}.demo_users SET record = $3 WHERE id = $1 AND record = $2"
                ),
                insert_token: format!(
                    "INSERT INTO {s}.demo_tokens (hash, record) VALUES ($1, $2) \
                     ON CONFLICT (hash) DO UPDATE SET record = EXCLUDED.record"
                ),
                token: format!("SELECT record FROM {s}.demo_tokens WHERE hash = $1"),
                remove_token: format!("DELETE FROM {s}.demo_tokens WHERE hash = $1"),
                claim_passkey: format!(
                    "INSERT INTO {s}.demo_passkeys (credential_id, user_id) VALUES ($1, $2) \
                     ON CONFLICT (credential_id) DO NOTHING"
                ),
                passkey_owner: format!(
                    "SELECT user_id FROM {s}.demo_passkeys WHERE credential_id = $1"
                ),
                release_passkey: format!("DELETE FROM {s}.demo_passkeys WHERE credential_id = $1"),
            },
            schema,
        };
        let ddl = format!(
            "CREATE SEQUENCE IF NOT EXISTS {s}.demo_user_ids;
             CREATE TABLE IF NOT EXISTS {s}.demo_users (
                 id bigint PRIMARY KEY,
                 username_lower text NOT NULL UNIQUE,
                 record bytea NOT NULL
             );
             CREATE TABLE IF NOT EXISTS {s}.demo_tokens (
                 hash bytea PRIMARY KEY,
                 record bytea NOT NULL
             );
             CREATE TABLE IF NOT EXISTS {s}.demo_passkeys (
                 credential_id text PRIMARY KEY,
                 user_id text NOT NULL
             );"
        );
        let mut conn = users.conn().await?;
        bounded(async {
            let tx = conn.transaction().await?;
            // Concurrent `CREATE ... IF NOT EXISTS` may still collide in the catalog: one
            // process at a time.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&format!("sesame-demo-users:{}", users.schema)],
            )
            .await?;
            tx.batch_execute(&ddl).await?;
            tx.commit().await
        })
        .await?;
        Ok(users)
    }

    async fn conn(&self) -> Result<Object, UserStoreError> {
        // The store's pool bounds the wait (and the connect) itself.
        Ok(self.pool.get().await?)
    }

    /// One row's `record` column, from `sql` with `params`.
    async fn record(
        &self,
        sql: &str,
        params: &[&(dyn sesame_postgres::tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<Vec<u8>>, UserStoreError> {
        let conn = self.conn().await?;
        let row = bounded(conn.query_opt(sql, params)).await?;
        Ok(row.map(|r| r.try_get::<_, Vec<u8>>(0)).transpose()?)
    }
}

/// `f`, bounded by [`STATEMENT_BOUND`].
async fn bounded<T>(
    f: impl Future<Output = Result<T, sesame_postgres::tokio_postgres::Error>>,
) -> Result<T, UserStoreError> {
    match tokio::time::timeout(STATEMENT_BOUND, f).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(UserStoreError::Timeout(STATEMENT_BOUND)),
    }
}

/// A user id as the table's key: ids are decimal numbers; anything else names no user.
fn numeric_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

#[async_trait]
impl UserTable for PostgresUsers {
    async fn get(&self, id: &str) -> Result<Option<DemoUser>, UserStoreError> {
        let Some(id) = numeric_id(id) else {
            return Ok(None);
        };
        self.record(&self.sql.get, &[&id])
            .await?
            .map(|bytes| decode_user(&bytes))
            .transpose()
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<DemoUser>, UserStoreError> {
        self.record(&self.sql.find, &[&username.to_lowercase()])
            .await?
            .map(|bytes| decode_user(&bytes))
            .transpose()
    }

    async fn count(&self) -> Result<usize, UserStoreError> {
        let conn = self.conn().await?;
        let row = bounded(conn.query_one(&self.sql.count, &[])).await?;
        let n: i64 = row.try_get(0)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn list(&self, limit: usize) -> Result<Vec<DemoUser>, UserStoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.conn().await?;
        let rows = bounded(conn.query(&self.sql.list, &[&limit])).await?;
        rows.iter()
            .map(|row| decode_user(&row.try_get::<_, Vec<u8>>(0)?))
            .collect()
    }

    async fn next_id(&self) -> Result<String, UserStoreError> {
        let conn = self.conn().await?;
        let row = bounded(conn.query_one(&self.sql.next_id, &[])).await?;
        let id: i64 = row.try_get(0)?;
        Ok(id.to_string())
    }

    async fn insert(&self, user: &DemoUser) -> Result<(), CreateError> {
        let Some(id) = numeric_id(&user.id) else {
            return Err(UserStoreError::BadId(user.id.clone()).into());
        };
        let bytes = serde_json::to_vec(user).map_err(UserStoreError::from)?;
        let conn = self.conn().await?;
        let inserted = bounded(conn.execute(
            &self.sql.insert,
            &[&id, &user.username.to_lowercase(), &bytes],
        ))
        .await?;
        if inserted != 1 {
            return Err(CreateError::UsernameTaken);
        }
        Ok(())
    }

    async fn update(
        &self,
        id: &str,
        change: &UserChange<'_>,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let Some(key) = numeric_id(id) else {
            return Ok(None);
        };
        loop {
            let Some(old) = self.record(&self.sql.get, &[&key]).await? else {
                return Ok(None);
            };
            let (user, new) = changed(&old, change)?;
            let conn = self.conn().await?;
            let swapped = bounded(conn.execute(&self.sql.swap, &[&key, &old, &new])).await?;
            if swapped == 1 {
                return Ok(Some(user));
            }
        }
    }

    async fn insert_token(
        &self,
        hash: &TokenHash,
        record: &TokenRecord,
    ) -> Result<(), UserStoreError> {
        let record = serde_json::to_vec(record)?;
        let conn = self.conn().await?;
        bounded(conn.execute(&self.sql.insert_token, &[&&hash[..], &record])).await?;
        Ok(())
    }

    async fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, UserStoreError> {
        Ok(self
            .record(&self.sql.token, &[&&hash[..]])
            .await?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()?)
    }

    async fn remove_token(&self, hash: &TokenHash) -> Result<(), UserStoreError> {
        let conn = self.conn().await?;
        bounded(conn.execute(&self.sql.remove_token, &[&&hash[..]])).await?;
        Ok(())
    }

    async fn claim_passkey(
        &self,
        credential_id: &str,
        user_id: &str,
    ) -> Result<bool, UserStoreError> {
        let conn = self.conn().await?;
        let inserted =
            bounded(conn.execute(&self.sql.claim_passkey, &[&credential_id, &user_id])).await?;
        Ok(inserted == 1)
    }

    async fn passkey_owner(&self, credential_id: &str) -> Result<Option<String>, UserStoreError> {
        let conn = self.conn().await?;
        let row = bounded(conn.query_opt(&self.sql.passkey_owner, &[&credential_id])).await?;
        Ok(row.map(|r| r.try_get::<_, String>(0)).transpose()?)
    }

    async fn release_passkey(&self, credential_id: &str) -> Result<(), UserStoreError> {
        let conn = self.conn().await?;
        bounded(conn.execute(&self.sql.release_passkey, &[&credential_id])).await?;
        Ok(())
    }

    /// Every statement is a commit (in the write-ahead log on disk with PostgreSQL's default
    /// `synchronous_commit = on`): nothing to do.
    async fn flush(&self) -> Result<(), UserStoreError> {
        Ok(())
    }
}
