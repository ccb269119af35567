//! The demo's user table: sled trees next to the session store (the default), or keys in the
//! Redis server that holds the sessions (several processes share one table); argon2id password
//! hashes, and API tokens.
//!
//! Trees (in the same database as the sessions):
//!
//! * `demo/users`: user id → the user, as JSON;
//! * `demo/usernames`: lower-case username → user id. Claimed with compare-and-swap, so that two
//!   concurrent registrations of one name cannot both succeed;
//! * `demo/tokens`: SHA-256 of an API token → the token's user and the credential stamp it was
//!   issued under. The tokens themselves are never stored.
//!
//! In Redis, the same three tables are keys under a prefix (see [`Users::redis`]); a username is
//! claimed with `SET NX`, and updates are compare-and-swap scripts.
//!
//! A user's *credential stamp* is a random value renewed whenever the password changes. It is
//! what [`AuthUser::auth_hash`] returns, so a password change ends the user's other sessions,
//! remember-me tokens and API tokens, while a transparent rehash on login (same password, new
//! parameters) ends nothing.

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sesame::password::PasswordError;
use sesame::{AuthUser, Backend, PasswordHasher, RequestInfo, Verification};
use sesame_redis::Connection;
use sesame_redis::RedisStore;
use sesame_redis::redis;
use sesame_sled::{SledStore, sled};
use sha2::{Digest, Sha256};

/// Prefix of every API token, so that leaked tokens are easy to recognise (and scan for).
pub const TOKEN_PREFIX: &str = "sdt_";
/// Random bytes in an API token.
const TOKEN_BYTES: usize = 32;

/// A user of the demo.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoUser {
    /// The id (a decimal number).
    pub id: String,
    /// The username, as registered (lookups ignore case).
    pub username: String,
    /// The e-mail address.
    pub email: String,
    /// Whether the user may log in.
    pub active: bool,
    /// When the user registered, seconds since the epoch.
    pub created_at: i64,
    /// The argon2id PHC string.
    password_hash: String,
    /// Renewed with every password change; the auth hash.
    stamp: String,
}

impl fmt::Debug for DemoUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("active", &self.active)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl DemoUser {
    /// The stored argon2id PHC string.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }
}

impl AuthUser for DemoUser {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn is_active(&self) -> bool {
        self.active
    }
    fn auth_hash(&self) -> &[u8] {
        self.stamp.as_bytes()
    }
}

/// The user table failed (sled, Redis, or a record that does not decode).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserStoreError {
    /// sled failed.
    #[error("the user table failed")]
    Sled(#[from] sled::Error),
    /// Making the user table's writes durable (flush and `fdatasync`) failed.
    #[error("the user table could not be written to disk")]
    Flush(#[source] sesame::StoreError),
    /// The Redis server failed or could not be reached.
    #[error("the user table's Redis server failed")]
    Redis(#[from] redis::RedisError),
    /// The Redis server did not answer in time.
    #[error("the user table's Redis server did not answer within {0:?}")]
    Timeout(Duration),
    /// A stored user does not decode.
    #[error("a stored user record is corrupt")]
    Corrupt(#[from] serde_json::Error),
    /// Password hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The operating system's random number generator failed.
    #[error("the random number generator failed: {0}")]
    Rng(getrandom::Error),
}

/// Why a registration did not create a user.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Somebody has that username (in any letter case).
    #[error("that username is taken")]
    UsernameTaken,
    /// The user table failed.
    #[error(transparent)]
    Store(#[from] UserStoreError),
}

#[derive(Serialize, Deserialize)]
struct TokenRecord {
    user_id: String,
    stamp: String,
    created_at: i64,
}

/// The user table, in sled (next to the sessions) or in Redis (shared by several processes).
/// Cheap to clone (sled trees and the Redis connection are handles).
#[derive(Clone)]
pub struct Users {
    table: Table,
}

#[derive(Clone)]
enum Table {
    Sled(SledTable),
    Redis(RedisTable),
}

#[derive(Clone)]
struct SledTable {
    /// The session store on the same database: its flush makes the table's writes durable
    /// (sled's own `flush` stops short of the disk's stable storage).
    store: SledStore,
    users: sled::Tree,
    usernames: sled::Tree,
    tokens: sled::Tree,
}

/// Keys (after the prefix): `user:{id}` → the user as JSON; `name:{lower-case username}` → the
/// id, claimed with `SET NX`; `token:{hex SHA-256}` → a [`TokenRecord`]; `next-id`, the id
/// counter; `ids`, the set of user ids.
#[derive(Clone)]
struct RedisTable {
    store: RedisStore,
    prefix: String,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.table {
            Table::Sled(t) => f
                .debug_struct("Users")
                .field("sled_users", &t.users.len())
                .finish_non_exhaustive(),
            Table::Redis(t) => f
                .debug_struct("Users")
                .field("redis_prefix", &t.prefix)
                .finish_non_exhaustive(),
        }
    }
}

fn now() -> i64 {
    use sesame::Clock as _;
    sesame::SystemClock.now()
}

fn random_string(bytes: usize) -> Result<String, UserStoreError> {
    let mut buf = vec![0_u8; bytes];
    getrandom::getrandom(&mut buf).map_err(UserStoreError::Rng)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `token` has the shape of one of our API tokens (checked before any lookup).
fn well_formed_token(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == URL_SAFE_NO_PAD.encode([0_u8; TOKEN_BYTES]).len()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Claims the name (`SET NX`) and, only then, writes the user and adds its id: one atomic step.
/// KEYS: name, user, ids. ARGV: id, user JSON. Returns 1 when created, 0 when the name is taken.
static CREATE_USER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
",
    )
});

/// Compare-and-swap of a user record. KEYS: user. ARGV: expected, new. Returns 1 when swapped.
static SWAP_USER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
",
    )
});

impl RedisTable {
    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}{name}", self.prefix)
    }

    /// Runs one command or script on the store's connection, bounded by the store's timeout.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, UserStoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let timeout = self.store.timeout();
        match tokio::time::timeout(timeout, f(self.store.connection())).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(UserStoreError::Timeout(timeout)),
        }
    }

    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, UserStoreError> {
        self.run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await
    }
}

impl Users {
    /// Opens (creating if needed) the trees in `store`'s database. Writes are made durable
    /// with the store's flush, shared with its session writes.
    ///
    /// # Errors
    ///
    /// sled's, when the trees cannot be opened.
    pub fn open(store: &SledStore) -> Result<Self, UserStoreError> {
        let db = store.db();
        Ok(Self {
            table: Table::Sled(SledTable {
                store: store.clone(),
                users: db.open_tree("demo/users")?,
                usernames: db.open_tree("demo/usernames")?,
                tokens: db.open_tree("demo/tokens")?,
            }),
        })
    }

    /// The user table in Redis, on `store`'s connection and bounded by its timeout, under keys
    /// starting with `prefix` (which must not start the store's prefix, nor the other way round).
    pub fn redis(store: &RedisStore, prefix: impl Into<String>) -> Self {
        Self {
            table: Table::Redis(RedisTable {
                store: store.clone(),
                prefix: prefix.into(),
            }),
        }
    }

    async fn user_bytes(&self, id: &str) -> Result<Option<Vec<u8>>, UserStoreError> {
        match &self.table {
            Table::Sled(t) => Ok(t.users.get(id.as_bytes())?.map(|v| v.to_vec())),
            Table::Redis(t) => t.get(t.key("user:", id)).await,
        }
    }

    /// A user by id.
    pub async fn get(&self, id: &str) -> Result<Option<DemoUser>, UserStoreError> {
        match self.user_bytes(id).await? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// A user by username, ignoring letter case.
    pub async fn find_by_username(
        &self,
        username: &str,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let key = username.to_lowercase();
        let id = match &self.table {
            Table::Sled(t) => t.usernames.get(key.as_bytes())?.map(|v| v.to_vec()),
            Table::Redis(t) => t.get(t.key("name:", &key)).await?,
        };
        match id {
            Some(id) => self.get(&String::from_utf8_lossy(&id)).await,
            None => Ok(None),
        }
    }

    /// How many users there are.
    pub async fn count(&self) -> Result<usize, UserStoreError> {
        match &self.table {
            Table::Sled(t) => Ok(t.users.len()),
            Table::Redis(t) => {
                let ids = t.key("ids", "");
                t.run(|mut c| async move { redis::cmd("SCARD").arg(ids).query_async(&mut c).await })
                    .await
            }
        }
    }

    /// Creates a user with an already computed password hash. The username is claimed
    /// atomically (compare-and-swap in sled, `SET NX` in Redis): of concurrent registrations of
    /// one name (in any letter case), exactly one succeeds. Durable when it returns (in Redis:
    /// as durable as the server is configured to be).
    ///
    /// # Errors
    ///
    /// [`CreateError::UsernameTaken`], or the store's failure.
    pub async fn create(
        &self,
        username: &str,
        email: &str,
        password_hash: String,
    ) -> Result<DemoUser, CreateError> {
        let id = match &self.table {
            Table::Sled(t) => t.store.db().generate_id().map_err(UserStoreError::from)?,
            Table::Redis(t) => {
                let counter = t.key("next-id", "");
                t.run(|mut c| async move {
                    redis::cmd("INCR")
                        .arg(counter)
                        .query_async::<u64>(&mut c)
                        .await
                })
                .await?
            }
        }
        .to_string();
        let key = username.to_lowercase();
        let user = DemoUser {
            id: id.clone(),
            username: username.to_owned(),
            email: email.to_owned(),
            active: true,
            created_at: now(),
            password_hash,
            stamp: random_string(16)?,
        };
        let bytes = serde_json::to_vec(&user).map_err(UserStoreError::from)?;
        match &self.table {
            Table::Sled(t) => {
                let claimed = t
                    .usernames
                    .compare_and_swap(key.as_bytes(), None::<&[u8]>, Some(id.as_bytes()))
                    .map_err(UserStoreError::from)?;
                if claimed.is_err() {
                    return Err(CreateError::UsernameTaken);
                }
                if let Err(e) = t.users.insert(id.as_bytes(), bytes) {
                    // Give the name back.
                    let _ = t.usernames.compare_and_swap(
                        key.as_bytes(),
                        Some(id.as_bytes()),
                        None::<&[u8]>,
                    );
                    return Err(UserStoreError::from(e).into());
                }
            }
            Table::Redis(t) => {
                let keys = [t.key("name:", &key), t.key("user:", &id), t.key("ids", "")];
                let created: i64 = t
                    .run(|mut c| async move {
                        CREATE_USER
                            .key(&keys[..])
                            .arg(&id)
                            .arg(bytes)
                            .invoke_async(&mut c)
                            .await
                    })
                    .await?;
                if created != 1 {
                    return Err(CreateError::UsernameTaken);
                }
            }
        }
        self.flush().await?;
        tracing::info!(user_id = %user.id, "demo: user registered");
        Ok(user)
    }

    /// Replaces the record `old` of user `id` with `new`, unless it changed meanwhile.
    async fn swap_user(&self, id: &str, old: &[u8], new: Vec<u8>) -> Result<bool, UserStoreError> {
        match &self.table {
            Table::Sled(t) => Ok(t
                .users
                .compare_and_swap(id.as_bytes(), Some(old), Some(new))?
                .is_ok()),
            Table::Redis(t) => {
                let key = t.key("user:", id);
                let old = old.to_vec();
                let swapped: i64 = t
                    .run(|mut c| async move {
                        SWAP_USER
                            .key(key)
                            .arg(old)
                            .arg(new)
                            .invoke_async(&mut c)
                            .await
                    })
                    .await?;
                Ok(swapped == 1)
            }
        }
    }

    /// Updates a user in place (compare-and-swap on the stored record, retried on conflict).
    /// Returns the updated user, `None` when there is no such user.
    async fn update(
        &self,
        id: &str,
        change: impl Fn(&mut DemoUser),
    ) -> Result<Option<DemoUser>, UserStoreError> {
        loop {
            let Some(old) = self.user_bytes(id).await? else {
                return Ok(None);
            };
            let mut user: DemoUser = serde_json::from_slice(&old)?;
            change(&mut user);
            let new = serde_json::to_vec(&user)?;
            if self.swap_user(id, &old, new).await? {
                return Ok(Some(user));
            }
        }
    }

    /// Stores a new password hash and renews the credential stamp: every other session,
    /// remember-me token and API token of the user stops working. Durable when it returns.
    pub async fn set_password(
        &self,
        id: &str,
        password_hash: String,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let stamp = random_string(16)?;
        let user = self
            .update(id, |u| {
                u.password_hash.clone_from(&password_hash);
                u.stamp.clone_from(&stamp);
            })
            .await?;
        self.flush().await?;
        Ok(user)
    }

    /// Replaces the password hash with an upgraded one for the same password (rehash on
    /// login); the credential stamp is kept, so no session ends.
    pub async fn upgrade_hash(
        &self,
        id: &str,
        password_hash: String,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        self.update(id, |u| u.password_hash.clone_from(&password_hash))
            .await
    }

    /// Enables or disables a user. (A disabled user's sessions end on their next request; use
    /// [`sesame::Sesame::revoke_user`] to end them now.)
    pub async fn set_active(
        &self,
        id: &str,
        active: bool,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let user = self.update(id, |u| u.active = active).await?;
        self.flush().await?;
        Ok(user)
    }

    /// Issues a new API token for `user`; only its SHA-256 is stored. Durable when it returns.
    pub async fn create_token(&self, user: &DemoUser) -> Result<String, UserStoreError> {
        let token = format!("{TOKEN_PREFIX}{}", random_string(TOKEN_BYTES)?);
        let record = serde_json::to_vec(&TokenRecord {
            user_id: user.id.clone(),
            stamp: user.stamp.clone(),
            created_at: now(),
        })?;
        match &self.table {
            Table::Sled(t) => {
                t.tokens.insert(token_key(&token), record)?;
            }
            Table::Redis(t) => {
                let key = t.key("token:", &hex::encode(token_key(&token)));
                t.run(|mut c| async move {
                    redis::cmd("SET")
                        .arg(key)
                        .arg(record)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await?;
            }
        }
        self.flush().await?;
        tracing::info!(user_id = %user.id, "demo: API token issued");
        Ok(token)
    }

    /// The user an API token belongs to, if the token is known and was issued under the user's
    /// current credentials.
    pub async fn user_for_token(&self, token: &str) -> Result<Option<DemoUser>, UserStoreError> {
        if !well_formed_token(token) {
            return Ok(None);
        }
        let key = token_key(token);
        let bytes = match &self.table {
            Table::Sled(t) => t.tokens.get(key)?.map(|v| v.to_vec()),
            Table::Redis(t) => t.get(t.key("token:", &hex::encode(key))).await?,
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let record: TokenRecord = serde_json::from_slice(&bytes)?;
        let Some(user) = self.get(&record.user_id).await? else {
            return Ok(None);
        };
        if user.stamp != record.stamp {
            // Issued before a password change: gone for good.
            match &self.table {
                Table::Sled(t) => {
                    let _ = t.tokens.remove(key);
                }
                Table::Redis(t) => {
                    let k = t.key("token:", &hex::encode(key));
                    let _ = t
                        .run(|mut c| async move {
                            redis::cmd("DEL").arg(k).query_async::<()>(&mut c).await
                        })
                        .await;
                }
            }
            return Ok(None);
        }
        Ok(Some(user))
    }

    /// Makes everything written so far durable (sled: on stable storage; in Redis, durability
    /// is the server's configuration, and this does nothing).
    pub async fn flush(&self) -> Result<(), UserStoreError> {
        if let Table::Sled(t) = &self.table {
            t.store.flush().await.map_err(UserStoreError::Flush)?;
        }
        Ok(())
    }
}

/// What a login form submits.
#[derive(Clone)]
pub struct Credentials {
    /// The username (any letter case).
    pub username: String,
    /// The password.
    pub password: String,
}

impl sesame::LoginCredentials for Credentials {
    /// The username: the throttle counts failures per account, in any letter case.
    fn account(&self) -> &str {
        &self.username
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The demo's [`Backend`]: users from [`Users`], passwords verified with argon2id, API tokens
/// as bearer credentials.
#[derive(Clone, Debug)]
pub struct DemoBackend {
    users: Users,
    hasher: PasswordHasher,
}

impl DemoBackend {
    /// A backend on `users`, hashing with `hasher`.
    pub fn new(users: Users, hasher: PasswordHasher) -> Self {
        Self { users, hasher }
    }
    /// The user table.
    pub fn users(&self) -> &Users {
        &self.users
    }
    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }
}

#[async_trait]
impl Backend for DemoBackend {
    type User = DemoUser;
    type Credentials = Credentials;
    type Error = UserStoreError;

    async fn get_user(&self, id: &str) -> Result<Option<DemoUser>, UserStoreError> {
        self.users.get(id).await
    }

    /// Unknown users, wrong passwords and disabled users all cost one argon2 verification.
    /// A disabled user with the right password is returned: the core refuses inactive users
    /// (and counts the attempt as a failure), so the answer is the same as for a wrong password.
    async fn authenticate(
        &self,
        credentials: Credentials,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let user = self.users.find_by_username(&credentials.username).await?;
        let phc = user.as_ref().map(DemoUser::password_hash);
        let verdict = match self.hasher.verify_user(phc, &credentials.password).await {
            Ok(v) => v,
            Err(
                e
                @ (PasswordError::MalformedHash(_) | PasswordError::StoredHashTooExpensive { .. }),
            ) => {
                tracing::error!(error = %e, "demo: a stored password hash is unusable");
                Verification::Invalid
            }
            Err(e) => return Err(e.into()),
        };
        let Some(user) = user.filter(|_| verdict.is_valid()) else {
            return Ok(None);
        };
        if verdict.needs_rehash() && user.active {
            match self.hasher.hash(&credentials.password).await {
                Ok(phc) => match self.users.upgrade_hash(&user.id, phc).await {
                    Ok(Some(updated)) => {
                        tracing::info!(user_id = %user.id, "demo: password hash upgraded");
                        return Ok(Some(updated));
                    }
                    Ok(None) => return Ok(None),
                    Err(e) => tracing::warn!(error = %e, "demo: password rehash not stored"),
                },
                Err(e) => tracing::warn!(error = %e, "demo: password rehash failed"),
            }
        }
        Ok(Some(user))
    }

    async fn user_from_request(
        &self,
        request: &RequestInfo,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        match request.bearer_token() {
            Some(token) => self.users.user_for_token(token).await,
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use sesame::PasswordParams;

    use super::*;

    fn backend() -> DemoBackend {
        let store = SledStore::temporary().unwrap();
        let hasher =
            PasswordHasher::new_insecure_for_tests(PasswordParams::insecure_for_tests()).unwrap();
        DemoBackend::new(Users::open(&store).unwrap(), hasher)
    }

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[tokio::test]
    async fn register_login_and_case_insensitive_names() {
        let b = backend();
        let hash = b.hasher().hash("password123").await.unwrap();
        let alice = b
            .users()
            .create("Alice", "a@example.com", hash)
            .await
            .unwrap();
        let again = b.hasher().hash("x").await.unwrap();
        assert!(matches!(
            b.users().create("aLICE", "b@example.com", again).await,
            Err(CreateError::UsernameTaken)
        ));
        let got = b.authenticate(creds("alice", "password123")).await.unwrap();
        assert_eq!(got.unwrap().id, alice.id);
        assert!(
            b.authenticate(creds("alice", "nope-nope"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            b.authenticate(creds("bob", "password123"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(!format!("{alice:?}").contains("argon2"), "no hash in Debug");
    }

    #[tokio::test]
    async fn concurrent_registrations_of_one_name_have_one_winner() {
        let b = backend();
        let hash = b.hasher().hash("password123").await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let users = b.users().clone();
                let hash = hash.clone();
                tokio::spawn(async move {
                    let name = if i % 2 == 0 { "Carol" } else { "carol" };
                    users.create(name, "c@example.com", hash).await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 1);
        assert_eq!(b.users().count().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn tokens_follow_the_credential_stamp() {
        let b = backend();
        let hash = b.hasher().hash("password123").await.unwrap();
        let dave = b
            .users()
            .create("dave", "d@example.com", hash)
            .await
            .unwrap();
        let token = b.users().create_token(&dave).await.unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        let req =
            RequestInfo::new("GET", "/api/me").authorization(Some(&format!("Bearer {token}")));
        assert_eq!(
            b.user_from_request(&req).await.unwrap().unwrap().id,
            dave.id
        );
        let bad = RequestInfo::new("GET", "/").authorization(Some("Bearer sdt_nope"));
        assert!(b.user_from_request(&bad).await.unwrap().is_none());

        // A rehash keeps sessions and tokens; a password change ends them.
        let upgraded = b
            .users()
            .upgrade_hash(&dave.id, "x".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(upgraded.auth_hash(), dave.auth_hash());
        let h2 = b.hasher().hash("another-password").await.unwrap();
        let changed = b.users().set_password(&dave.id, h2).await.unwrap().unwrap();
        assert_ne!(changed.auth_hash(), dave.auth_hash());
        assert!(b.user_from_request(&req).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn disabled_users_authenticate_but_are_inactive() {
        let b = backend();
        let hash = b.hasher().hash("password123").await.unwrap();
        let erin = b
            .users()
            .create("erin", "e@example.com", hash)
            .await
            .unwrap();
        b.users().set_active(&erin.id, false).await.unwrap();
        let got = b
            .authenticate(creds("erin", "password123"))
            .await
            .unwrap()
            .unwrap();
        assert!(!got.is_active());
    }

    #[tokio::test]
    async fn weak_hashes_are_upgraded_without_ending_sessions() {
        let store = SledStore::temporary().unwrap();
        let weak =
            PasswordHasher::new_insecure_for_tests(PasswordParams::insecure_for_tests()).unwrap();
        let strong = PasswordHasher::new_insecure_for_tests(PasswordParams {
            memory_kib: 16,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let users = Users::open(&store).unwrap();
        let hash = weak.hash("password123").await.unwrap();
        let frank = users
            .create("frank", "f@example.com", hash.clone())
            .await
            .unwrap();
        let b = DemoBackend::new(users.clone(), strong);
        let got = b
            .authenticate(creds("frank", "password123"))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(got.password_hash(), hash);
        assert_eq!(got.auth_hash(), frank.auth_hash());
        assert!(got.password_hash().contains("m=16"));
    }
}
