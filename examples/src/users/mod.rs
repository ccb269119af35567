//! The demo's user table, behind one trait, [`UserTable`]: sled trees next to the session store
//! (the default, [`SledUsers`]), keys in the Redis server that holds the sessions (several
//! processes share one table, [`RedisUsers`]), or tables in the PostgreSQL database that holds
//! them ([`PostgresUsers`]); argon2id password hashes, and API tokens.
//!
//! A table stores three things: users by id (with a case-insensitive username index whose
//! claims are atomic, so that two concurrent registrations of one name cannot both succeed),
//! and API-token records by the SHA-256 of the token (the tokens themselves are never stored).
//! What the demo does with them (new users, password changes, tokens) is written once, over
//! any table, in the methods of `dyn UserTable`.
//!
//! A user's *credential stamp* is a random value renewed whenever the password changes. It is
//! what [`AuthUser::auth_hash`] returns, so a password change ends the user's other sessions,
//! remember-me tokens and API tokens, while a transparent rehash on login (same password, new
//! parameters) ends nothing.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sesame::passkey::{PasskeyLookup, StoredPasskey};
use sesame::password::PasswordError;
use sesame::recovery::StoredRecoveryCodes;
use sesame::totp::{AcceptedStep, EncryptedSecret};
use sesame::{
    AuthUser, AuthzBackend, Backend, Factor, PasswordHasher, RequestInfo, SecondFactors,
    Verification,
};
use sha2::{Digest, Sha256};

mod postgres;
mod redis;
mod sled;

pub use self::postgres::PostgresUsers;
pub use self::redis::RedisUsers;
pub use self::sled::SledUsers;

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
    /// The TOTP second factor, when enabled (records of before it decode without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) totp: Option<TotpState>,
    /// The user's passkeys (records of before them decode without them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) passkeys: Vec<StoredPasskey>,
}

/// A user's enabled TOTP second factor, as stored with the user: the secret encrypted under a
/// key derived from the application's secret key, the step of the last accepted code (codes of
/// that step and older are refused: no replay), and the hashes of the unused recovery codes.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct TotpState {
    /// The secret, encrypted for this user.
    pub(crate) secret: EncryptedSecret,
    /// The step of the last accepted code.
    #[serde(default)]
    pub(crate) last_step: Option<AcceptedStep>,
    /// The unused recovery codes, hashed.
    #[serde(default)]
    pub(crate) recovery: StoredRecoveryCodes,
}

impl fmt::Debug for DemoUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("active", &self.active)
            .field("created_at", &self.created_at)
            .field("totp", &self.totp.is_some())
            .field("passkeys", &self.passkeys.len())
            .finish_non_exhaustive()
    }
}

impl DemoUser {
    /// The stored argon2id PHC string.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    /// A user record for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(username: &str) -> Self {
        Self {
            id: "1".into(),
            username: username.into(),
            email: format!("{username}@example.com"),
            active: true,
            created_at: 0,
            password_hash: String::new(),
            stamp: "s".into(),
            totp: None,
            passkeys: Vec::new(),
        }
    }

    /// Whether the user has turned on the TOTP second factor: their password logins then wait
    /// for a code.
    pub fn totp_enabled(&self) -> bool {
        self.totp.is_some()
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

/// The user table failed (sled, Redis, PostgreSQL, or a record that does not decode).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserStoreError {
    /// sled failed.
    #[error("the user table failed")]
    Sled(#[from] sesame_sled::sled::Error),
    /// Making the user table's writes durable (flush and `fdatasync`) failed.
    #[error("the user table could not be written to disk")]
    Flush(#[source] sesame::StoreError),
    /// The Redis server failed or could not be reached.
    #[error("the user table's Redis server failed")]
    Redis(#[from] sesame_redis::redis::RedisError),
    /// The PostgreSQL server failed a statement, or the connection to it was lost.
    #[error("the user table's PostgreSQL statement failed")]
    Postgres(#[from] sesame_postgres::tokio_postgres::Error),
    /// No PostgreSQL connection could be had within the pool's bounds.
    #[error("no connection to the user table's PostgreSQL server")]
    Pool(#[from] sesame_postgres::deadpool_postgres::PoolError),
    /// A user id that the table cannot key (PostgreSQL's ids are numbers).
    #[error("the user id {0:?} is not a number")]
    BadId(String),
    /// The server (Redis or PostgreSQL) did not answer in time.
    #[error("the user table's server did not answer within {0:?}")]
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

/// What is stored of an API token, under the SHA-256 of the token ([`TokenHash`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The user it authenticates.
    pub user_id: String,
    /// The user's credential stamp when it was issued: a password change ends it.
    pub stamp: String,
    /// When it was issued, seconds since the epoch.
    pub created_at: i64,
}

/// The SHA-256 of an API token: the key of its [`TokenRecord`].
pub type TokenHash = [u8; 32];

fn now() -> i64 {
    use sesame::Clock as _;
    sesame::SystemClock.now()
}

fn random_string(bytes: usize) -> Result<String, UserStoreError> {
    let mut buf = vec![0_u8; bytes];
    getrandom::getrandom(&mut buf).map_err(UserStoreError::Rng)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn token_key(token: &str) -> TokenHash {
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

/// A change to a user record, for [`UserTable::update`].
pub type UserChange<'a> = dyn Fn(&mut DemoUser) + Send + Sync + 'a;

/// A user table: where the demo keeps its users and API-token records. Implementations:
/// [`SledUsers`], [`RedisUsers`], [`PostgresUsers`]. Object-safe; the demo holds one as
/// `Arc<dyn UserTable>`.
///
/// Every write must be atomic on its own (a username claim, a compare-and-swap of one user);
/// [`UserTable::flush`] makes the writes so far durable.
#[async_trait]
pub trait UserTable: fmt::Debug + Send + Sync + 'static {
    /// A user by id.
    async fn get(&self, id: &str) -> Result<Option<DemoUser>, UserStoreError>;

    /// A user by username, ignoring letter case.
    async fn find_by_username(&self, username: &str) -> Result<Option<DemoUser>, UserStoreError>;

    /// How many users there are.
    async fn count(&self) -> Result<usize, UserStoreError>;

    /// The first `limit` users in the order of their lower-case usernames (the admin page).
    async fn list(&self, limit: usize) -> Result<Vec<DemoUser>, UserStoreError>;

    /// A new, unused user id.
    async fn next_id(&self) -> Result<String, UserStoreError>;

    /// Stores a new user, claiming its username (in lower case) atomically: of concurrent
    /// inserts of one name, exactly one succeeds, the others get
    /// [`CreateError::UsernameTaken`].
    async fn insert(&self, user: &DemoUser) -> Result<(), CreateError>;

    /// Applies `change` to the stored user `id` atomically (compare-and-swap, retried on
    /// conflict, or a transaction): the updated user, `None` when there is no such user.
    async fn update(
        &self,
        id: &str,
        change: &UserChange<'_>,
    ) -> Result<Option<DemoUser>, UserStoreError>;

    /// Stores an API token's record.
    async fn insert_token(
        &self,
        hash: &TokenHash,
        record: &TokenRecord,
    ) -> Result<(), UserStoreError>;

    /// The record of an API token, if any.
    async fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, UserStoreError>;

    /// Forgets an API token.
    async fn remove_token(&self, hash: &TokenHash) -> Result<(), UserStoreError>;

    /// Claims the passkey credential id `credential_id` (base64url) for the user `user_id`,
    /// atomically: `false` when it is already claimed (by anyone). The index a discoverable
    /// passkey login resolves its user with.
    async fn claim_passkey(
        &self,
        credential_id: &str,
        user_id: &str,
    ) -> Result<bool, UserStoreError>;

    /// The id of the user who claimed the passkey credential id, if any.
    async fn passkey_owner(&self, credential_id: &str) -> Result<Option<String>, UserStoreError>;

    /// Forgets the claim of a passkey credential id.
    async fn release_passkey(&self, credential_id: &str) -> Result<(), UserStoreError>;

    /// Makes everything written so far durable (as durable as the store can: a Redis server's
    /// durability is its own configuration).
    async fn flush(&self) -> Result<(), UserStoreError>;
}

/// What the demo does with a user table, written once for every [`UserTable`].
impl dyn UserTable {
    /// Creates a user with an already computed password hash. The username is claimed
    /// atomically: of concurrent registrations of one name (in any letter case), exactly one
    /// succeeds. Durable when it returns.
    ///
    /// # Errors
    ///
    /// [`CreateError::UsernameTaken`], or the table's failure.
    pub async fn create(
        &self,
        username: &str,
        email: &str,
        password_hash: String,
    ) -> Result<DemoUser, CreateError> {
        let user = DemoUser {
            id: self.next_id().await?,
            username: username.to_owned(),
            email: email.to_owned(),
            active: true,
            created_at: now(),
            password_hash,
            stamp: random_string(16)?,
            totp: None,
            passkeys: Vec::new(),
        };
        self.insert(&user).await?;
        self.flush().await?;
        tracing::info!(user_id = %user.id, "demo: user registered");
        Ok(user)
    }

    /// Stores a new password hash and renews the credential stamp: every other session,
    /// remember-me token and API token of the user stops working. Durable when it returns.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub async fn set_password(
        &self,
        id: &str,
        password_hash: String,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let stamp = random_string(16)?;
        let user = self
            .update(id, &|u: &mut DemoUser| {
                u.password_hash.clone_from(&password_hash);
                u.stamp.clone_from(&stamp);
            })
            .await?;
        self.flush().await?;
        Ok(user)
    }

    /// Replaces the password hash with an upgraded one for the same password (rehash on
    /// login); the credential stamp is kept, so no session ends.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub async fn upgrade_hash(
        &self,
        id: &str,
        password_hash: String,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        self.update(id, &|u: &mut DemoUser| {
            u.password_hash.clone_from(&password_hash);
        })
        .await
    }

    /// Enables or disables a user. Disabling also renews the credential stamp, so that the
    /// user's API tokens end for good (enabling the user again brings none back). (A disabled
    /// user's sessions end on their next request; use [`sesame::Sesame::revoke_user`] to end
    /// them now.)
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub async fn set_active(
        &self,
        id: &str,
        active: bool,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let stamp = random_string(16)?;
        let user = self
            .update(id, &|u: &mut DemoUser| {
                u.active = active;
                if !active {
                    u.stamp.clone_from(&stamp);
                }
            })
            .await?;
        self.flush().await?;
        Ok(user)
    }

    /// Turns the user's TOTP second factor on (`Some`) or off (`None`). Durable when it
    /// returns.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub(crate) async fn set_totp(
        &self,
        id: &str,
        totp: Option<TotpState>,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let user = self
            .update(id, &|u: &mut DemoUser| {
                u.totp.clone_from(&totp);
            })
            .await?;
        self.flush().await?;
        Ok(user)
    }

    /// Adds a passkey to its user ([`StoredPasskey::user_id`]), claiming its credential id
    /// first: `false` (nothing stored) when the credential id is already someone's, or the
    /// user is gone. Durable when it returns.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub(crate) async fn add_passkey(
        &self,
        passkey: &StoredPasskey,
    ) -> Result<bool, UserStoreError> {
        let (cred, user_id) = (passkey.id(), passkey.user_id());
        if !self.claim_passkey(cred, user_id).await? {
            return Ok(false);
        }
        let added = self
            .update(user_id, &|u: &mut DemoUser| {
                u.passkeys.retain(|p| p.id() != cred);
                u.passkeys.push(passkey.clone());
            })
            .await;
        match added {
            Ok(Some(_)) => {}
            Ok(None) => {
                self.release_passkey(cred).await?;
                return Ok(false);
            }
            Err(e) => {
                let _ = self.release_passkey(cred).await;
                return Err(e);
            }
        }
        self.flush().await?;
        Ok(true)
    }

    /// Removes the passkey `credential_id` of the user `user_id`: `false` when the user has no
    /// such passkey. A login with it is refused from now on. Durable when it returns.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub(crate) async fn remove_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
    ) -> Result<bool, UserStoreError> {
        let had = std::sync::atomic::AtomicBool::new(false);
        self.update(user_id, &|u: &mut DemoUser| {
            let before = u.passkeys.len();
            u.passkeys.retain(|p| p.id() != credential_id);
            had.store(
                u.passkeys.len() != before,
                std::sync::atomic::Ordering::Relaxed,
            );
        })
        .await?;
        let had = had.load(std::sync::atomic::Ordering::Relaxed);
        if had && self.passkey_owner(credential_id).await?.as_deref() == Some(user_id) {
            self.release_passkey(credential_id).await?;
        }
        self.flush().await?;
        Ok(had)
    }

    /// The user and the stored passkey a discoverable login names (its credential id and user
    /// handle), if both are known and belong together.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub(crate) async fn find_passkey(
        &self,
        lookup: &PasskeyLookup,
    ) -> Result<Option<(DemoUser, StoredPasskey)>, UserStoreError> {
        let Some(owner) = self.passkey_owner(&lookup.credential_id).await? else {
            return Ok(None);
        };
        let Some(user) = self.get(&owner).await? else {
            return Ok(None);
        };
        let found = user
            .passkeys
            .iter()
            .find(|p| p.id() == lookup.credential_id && p.user_handle() == lookup.user_handle)
            .cloned();
        Ok(found.map(|p| (user, p)))
    }

    /// Stores a passkey again after a login (its signature counter moved), if the user still
    /// has it.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub(crate) async fn save_passkey(&self, passkey: &StoredPasskey) -> Result<(), UserStoreError> {
        self.update(passkey.user_id(), &|u: &mut DemoUser| {
            for p in &mut u.passkeys {
                if p.id() == passkey.id() {
                    *p = passkey.clone();
                }
            }
        })
        .await?;
        self.flush().await
    }

    /// Issues a new API token for `user`; only its SHA-256 is stored. Durable when it returns.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub async fn create_token(&self, user: &DemoUser) -> Result<String, UserStoreError> {
        let token = format!("{TOKEN_PREFIX}{}", random_string(TOKEN_BYTES)?);
        let record = TokenRecord {
            user_id: user.id.clone(),
            stamp: user.stamp.clone(),
            created_at: now(),
        };
        self.insert_token(&token_key(&token), &record).await?;
        self.flush().await?;
        tracing::info!(user_id = %user.id, "demo: API token issued");
        Ok(token)
    }

    /// The user an API token belongs to, if the token is known and was issued under the user's
    /// current credentials.
    ///
    /// # Errors
    ///
    /// The table's failure.
    pub async fn user_for_token(&self, token: &str) -> Result<Option<DemoUser>, UserStoreError> {
        if !well_formed_token(token) {
            return Ok(None);
        }
        let hash = token_key(token);
        let Some(record) = self.token(&hash).await? else {
            return Ok(None);
        };
        let Some(user) = self.get(&record.user_id).await? else {
            return Ok(None);
        };
        if user.stamp != record.stamp {
            // Issued before a password change: gone for good.
            let _ = self.remove_token(&hash).await;
            return Ok(None);
        }
        Ok(Some(user))
    }
}

/// A stored user record, decoded.
fn decode_user(bytes: &[u8]) -> Result<DemoUser, UserStoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

/// The stored record `old` with `change` applied: the user, and the new record.
fn changed(old: &[u8], change: &UserChange<'_>) -> Result<(DemoUser, Vec<u8>), UserStoreError> {
    let mut user = decode_user(old)?;
    change(&mut user);
    let new = serde_json::to_vec(&user)?;
    Ok((user, new))
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

/// What a demo user may do beyond their own account: the demo's
/// [`AuthzBackend::Permission`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    /// The `/admin` page: list the users, disable and enable them. Held by the users named in
    /// `SESAME_ADMINS`.
    Admin,
}

impl Permission {
    /// The permission's name: `admin`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
        }
    }
}

/// The demo's [`Backend`]: users from a [`UserTable`], passwords verified with argon2id, API
/// tokens as bearer credentials; the [`Permission::Admin`] of the users named in
/// `SESAME_ADMINS`.
#[derive(Clone, Debug)]
pub struct DemoBackend {
    users: Arc<dyn UserTable>,
    hasher: PasswordHasher,
    /// Lower-case usernames holding [`Permission::Admin`].
    admins: Arc<HashSet<String>>,
}

impl DemoBackend {
    /// A backend on `users`, hashing with `hasher`, with no admins.
    pub fn new(users: Arc<dyn UserTable>, hasher: PasswordHasher) -> Self {
        Self {
            users,
            hasher,
            admins: Arc::default(),
        }
    }

    /// The same backend, granting [`Permission::Admin`] to the users named `admins` (in any
    /// letter case).
    #[must_use]
    pub fn with_admins(mut self, admins: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.admins = Arc::new(
            admins
                .into_iter()
                .map(|name| name.as_ref().to_lowercase())
                .collect(),
        );
        self
    }
    /// The user table.
    pub fn users(&self) -> &Arc<dyn UserTable> {
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

    /// [`Factor::Totp`] once the user has turned it on (`/settings/2fa`).
    async fn second_factors(&self, user: &DemoUser) -> Result<SecondFactors, UserStoreError> {
        let mut factors = SecondFactors::none();
        if user.totp_enabled() {
            factors = factors.with(Factor::Totp);
        }
        Ok(factors)
    }

    async fn user_from_request(
        &self,
        request: &RequestInfo,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        // `Authorization: Bearer <token>`, or the same token as `X-Api-Key: <token>` (a header
        // the configuration keeps for this loader).
        match request
            .bearer_token()
            .or_else(|| request.header("x-api-key"))
        {
            Some(token) => self.users.user_for_token(token).await,
            None => Ok(None),
        }
    }
}

/// Permissions come from the user's name: `SESAME_ADMINS` holds [`Permission::Admin`]. (A real
/// application would keep them in its tables, per user or per group; the core asks once per
/// request.)
#[async_trait]
impl AuthzBackend for DemoBackend {
    type Permission = Permission;

    async fn user_permissions(
        &self,
        user: &DemoUser,
    ) -> Result<HashSet<Permission>, UserStoreError> {
        let mut held = HashSet::new();
        if self.admins.contains(&user.username.to_lowercase()) {
            held.insert(Permission::Admin);
        }
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use sesame::PasswordParams;
    use sesame_sled::SledStore;

    use super::*;

    fn backend() -> DemoBackend {
        let store = SledStore::temporary().unwrap();
        let hasher =
            PasswordHasher::new_insecure_for_tests(PasswordParams::insecure_for_tests()).unwrap();
        DemoBackend::new(Arc::new(SledUsers::open(&store).unwrap()), hasher)
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

    #[test]
    fn records_of_before_the_second_factor_decode() {
        let old = br#"{"id":"1","username":"ann","email":"a@example.com","active":true,
            "created_at":0,"password_hash":"x","stamp":"s"}"#;
        let user = decode_user(old).unwrap();
        assert!(!user.totp_enabled());
        let again = serde_json::to_string(&user).unwrap();
        assert!(!again.contains("totp"), "nothing stored while TOTP is off");
    }

    #[tokio::test]
    async fn second_factors_follow_the_record() {
        let b = backend();
        let hash = b.hasher().hash("password123").await.unwrap();
        let gus = b
            .users()
            .create("gus1", "g@example.com", hash)
            .await
            .unwrap();
        assert!(b.second_factors(&gus).await.unwrap().is_empty());
        let totp = sesame::totp::Totp::new(&[7u8; 64]).unwrap();
        let enrollment = sesame::totp::TotpEnrollment::new("Demo", "gus1").unwrap();
        let confirmed = totp
            .confirm(&enrollment, &gus.id, &enrollment.code_at(1000), 1000)
            .unwrap();
        let state = TotpState {
            secret: confirmed.secret,
            last_step: Some(confirmed.step),
            recovery: StoredRecoveryCodes::default(),
        };
        let on = b
            .users()
            .set_totp(&gus.id, Some(state))
            .await
            .unwrap()
            .unwrap();
        assert!(b.second_factors(&on).await.unwrap().contains(Factor::Totp));
        let stored = b.users().get(&gus.id).await.unwrap().unwrap();
        assert!(stored.totp_enabled(), "stored, and decoded again");
        assert_eq!(stored.auth_hash(), gus.auth_hash(), "no session ends");
        let off = b.users().set_totp(&gus.id, None).await.unwrap().unwrap();
        assert!(b.second_factors(&off).await.unwrap().is_empty());
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
        let users: Arc<dyn UserTable> = Arc::new(SledUsers::open(&store).unwrap());
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
