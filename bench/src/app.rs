//! What every benchmarked server shares: a tiny in-memory user backend with real argon2id
//! hashes, the Sesame set-up on a sled store, and the login logic.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::Deserialize;
use sesame::password::{PasswordError, PasswordHasher, PasswordParams};
use sesame::store::MemoryStore;
use sesame::{AuthSession, AuthUser, Backend, Config, LoginOptions, Rejection, Sesame};
use sesame_postgres::PostgresStore;
use sesame_redis::RedisStore;
use sesame_sled::SledStore;

/// The body of `GET /` in bare mode; Sesame mode answers the same text for the user `alice`.
pub const HELLO: &str = "Hello, alice!";

/// Every user's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// The user the `GET /` load is logged in as.
pub const GET_USER: &str = "alice";

/// The login names of the login storm's clients: `storm-0`, `storm-1`... one account per client
/// (synthesised by [`BenchBackend::by_name`]), as a storm of real users would be: the core's
/// throttle lets one login per account run at a time, so clients sharing an account would
/// mostly measure its `429`. Their sessions (capped per user by the core) never push the GET
/// load's session out.
pub const STORM_USER_PREFIX: &str = "storm-";

/// The login name of storm client `n`.
pub fn storm_user(n: usize) -> String {
    format!("{STORM_USER_PREFIX}{n}")
}

/// The user `POST /session/same-user` logs in (durable session creations without a password
/// check, all for one user: each runs into the per-user session cap).
pub const WRITER_USER: &str = "writer";

/// Ids of the users `POST /session` logs in, one new user per request: `w-0`, `w-1`...
/// (synthesised by [`BenchBackend::by_id`], so that no user reaches the per-user session cap).
pub const FRESH_USER_PREFIX: &str = "w-";

/// A user of [`BenchBackend`]: its auth hash is its PHC string, as a real application's would be.
/// Cheap to clone (shared strings), as users an application keeps in memory usually are.
#[derive(Clone)]
pub struct BenchUser {
    /// The id.
    pub id: Arc<str>,
    /// The login name.
    pub username: Arc<str>,
    phc: Arc<str>,
}

impl BenchUser {
    /// The stored argon2id PHC string.
    pub fn phc(&self) -> &str {
        &self.phc
    }
}

impl fmt::Debug for BenchUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BenchUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl AuthUser for BenchUser {
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn auth_hash(&self) -> &[u8] {
        self.phc.as_bytes()
    }
}

/// Login form (or query) fields.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    /// The login name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl sesame::LoginCredentials for Credentials {
    fn account(&self) -> &str {
        &self.username
    }
}

impl Credentials {
    /// Reads `username` and `password` from a url-encoded form body, else from the query.
    pub fn parse(body: &[u8], query: Option<&str>) -> Option<Self> {
        serde_urlencoded::from_bytes(body)
            .ok()
            .or_else(|| query.and_then(|q| serde_urlencoded::from_str(q).ok()))
    }
}

/// Two users in memory (`alice`, `writer`), one password, hashed once at start-up
/// with argon2id and the default (OWASP) parameters; verification runs through
/// [`PasswordHasher::verify_user`], on the blocking pool, as in a real application. Users
/// `w-N` (for `POST /session`) and `storm-N` (for the login storm) also exist, same password.
#[derive(Clone, Debug)]
pub struct BenchBackend {
    users: Arc<[BenchUser]>,
    phc: Arc<str>,
    hasher: PasswordHasher,
    next_fresh: Arc<AtomicU64>,
}

impl BenchBackend {
    /// Hashes the password and builds the users. `hash_concurrency` bounds how many argon2
    /// computations run at once (default: the hasher's, half the CPUs).
    ///
    /// # Errors
    ///
    /// The hasher's.
    pub async fn new(hash_concurrency: Option<usize>) -> Result<Self, PasswordError> {
        let mut hasher = PasswordHasher::new(PasswordParams::default())?;
        if let Some(n) = hash_concurrency {
            hasher = hasher.with_max_concurrency(n);
        }
        let phc: Arc<str> = hasher.hash(PASSWORD).await?.into();
        let user = |id: &str, name: &str| BenchUser {
            id: id.into(),
            username: name.into(),
            phc: phc.clone(),
        };
        Ok(Self {
            users: vec![user("1", GET_USER), user("3", WRITER_USER)].into(),
            phc,
            hasher,
            next_fresh: Arc::default(),
        })
    }

    /// A user by login name (`storm-N` users are made up on the fly).
    pub fn by_name(&self, username: &str) -> Option<BenchUser> {
        self.made_up(username, STORM_USER_PREFIX).or_else(|| {
            self.users
                .iter()
                .find(|u| &*u.username == username)
                .cloned()
        })
    }

    /// A user by id (`w-N` and `storm-N` users are made up on the fly: their id is their name).
    pub fn by_id(&self, id: &str) -> Option<BenchUser> {
        self.made_up(id, FRESH_USER_PREFIX)
            .or_else(|| self.made_up(id, STORM_USER_PREFIX))
            .or_else(|| self.users.iter().find(|u| &*u.id == id).cloned())
    }

    /// The made-up user `name` when it is `prefix` and a number.
    fn made_up(&self, name: &str, prefix: &str) -> Option<BenchUser> {
        let n = name.strip_prefix(prefix)?;
        n.parse::<u64>().ok()?;
        let name: Arc<str> = name.into();
        Some(BenchUser {
            id: name.clone(),
            username: name,
            phc: self.phc.clone(),
        })
    }

    /// A user who has never logged in yet (`w-0`, `w-1`...).
    pub fn fresh_user(&self) -> BenchUser {
        let n = self.next_fresh.fetch_add(1, Ordering::Relaxed);
        let id: Arc<str> = format!("{FRESH_USER_PREFIX}{n}").into();
        BenchUser {
            username: id.clone(),
            id,
            phc: self.phc.clone(),
        }
    }

    /// Checks a password with argon2id (against a dummy hash for unknown users).
    ///
    /// # Errors
    ///
    /// The hasher's.
    pub async fn check(
        &self,
        credentials: &Credentials,
    ) -> Result<Option<BenchUser>, PasswordError> {
        let user = self.by_name(&credentials.username);
        let verdict = self
            .hasher
            .verify_user(user.as_ref().map(BenchUser::phc), &credentials.password)
            .await?;
        Ok(user.filter(|_| verdict.is_valid()))
    }
}

#[async_trait]
impl Backend for BenchBackend {
    type User = BenchUser;
    type Credentials = Credentials;
    type Error = PasswordError;

    async fn get_user(&self, id: &str) -> Result<Option<BenchUser>, PasswordError> {
        Ok(self.by_id(id))
    }

    async fn authenticate(
        &self,
        credentials: Credentials,
    ) -> Result<Option<BenchUser>, PasswordError> {
        self.check(&credentials).await
    }
}

/// Where Sesame keeps its sessions in a benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A [`SledStore`] in a new temporary directory on the disk (the default).
    Sled,
    /// The core's in-memory store (to separate the store's cost from the core's).
    Memory,
    /// A [`PostgresStore`] on `SESAME_BENCH_DATABASE_URL` (default
    /// [`DEFAULT_BENCH_DATABASE_URL`]), in the schema [`BENCH_POSTGRES_SCHEMA`], migrated and
    /// emptied at start (so one benchmark server at a time).
    Postgres,
    /// A [`RedisStore`] on `SESAME_BENCH_REDIS_URL` (default [`DEFAULT_BENCH_REDIS_URL`]),
    /// under a key prefix of its own (the keys expire with their sessions).
    Redis,
}

/// The PostgreSQL server of [`StoreKind::Postgres`] when `SESAME_BENCH_DATABASE_URL` is unset.
pub const DEFAULT_BENCH_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The schema [`StoreKind::Postgres`] uses (emptied when a benchmark server starts).
pub const BENCH_POSTGRES_SCHEMA: &str = "sesame_bench";
/// The Redis server of [`StoreKind::Redis`] when `SESAME_BENCH_REDIS_URL` is unset.
pub const DEFAULT_BENCH_REDIS_URL: &str = "redis://127.0.0.1:6379";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

impl StoreKind {
    /// The name `--store` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sled => "sled",
            Self::Memory => "memory",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
        }
    }
}

impl std::str::FromStr for StoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sled" => Ok(Self::Sled),
            "memory" => Ok(Self::Memory),
            "postgres" => Ok(Self::Postgres),
            "redis" => Ok(Self::Redis),
            other => Err(format!(
                "unknown store {other:?} (sled|memory|postgres|redis)"
            )),
        }
    }
}

/// A Sesame over [`BenchBackend`], and the temporary directory its sled database lives in
/// (deleted on drop).
#[derive(Debug)]
pub struct SesameApp {
    /// The shared state the adapters take.
    pub sesame: Sesame<BenchBackend>,
    _dir: Option<tempfile::TempDir>,
}

/// Builds the Sesame of a benchmark server: the library's defaults (basic session protection,
/// signed cookies, 60 s touch interval...) except `Secure` cookies, which plain-http loopback
/// does not need (the load generators send the cookie themselves either way).
///
/// # Errors
///
/// The temporary directory, the sled database, the configuration or the hasher failing.
pub async fn sesame_app(
    store: StoreKind,
    data_dir: Option<&Path>,
    hash_concurrency: Option<usize>,
) -> io::Result<SesameApp> {
    let backend = BenchBackend::new(hash_concurrency)
        .await
        .map_err(io::Error::other)?;
    let config = Config::builder(&Config::generate_secret())
        .secure(false)
        .build()
        .map_err(io::Error::other)?;
    let builder = Sesame::builder(config, backend);
    let (builder, dir) = match store {
        StoreKind::Memory => (builder.store(Arc::new(MemoryStore::new())), None),
        StoreKind::Sled => {
            let base = data_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
            let dir = tempfile::Builder::new()
                .prefix("sesame-bench-")
                .tempdir_in(base)?;
            let store = SledStore::open(dir.path().join("sled")).map_err(io::Error::other)?;
            (builder.store(Arc::new(store)), Some(dir))
        }
        StoreKind::Postgres => {
            let url = env_or("SESAME_BENCH_DATABASE_URL", DEFAULT_BENCH_DATABASE_URL);
            let store = PostgresStore::builder(url.as_str())
                .schema(BENCH_POSTGRES_SCHEMA)
                .build()
                .await
                .map_err(io::Error::other)?;
            store.migrate().await.map_err(io::Error::other)?;
            let conn = store.pool().get().await.map_err(io::Error::other)?;
            conn.batch_execute(&format!(
                "TRUNCATE {BENCH_POSTGRES_SCHEMA}.sessions,                  {BENCH_POSTGRES_SCHEMA}.remember_tokens, {BENCH_POSTGRES_SCHEMA}.throttle"
            ))
            .await
            .map_err(io::Error::other)?;
            drop(conn);
            (builder.store(Arc::new(store)), None)
        }
        StoreKind::Redis => {
            let url = env_or("SESAME_BENCH_REDIS_URL", DEFAULT_BENCH_REDIS_URL);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let store = RedisStore::builder(&url)
                .prefix(format!("sesame-bench:{}-{nanos}:", std::process::id()))
                .build()
                .await
                .map_err(io::Error::other)?;
            (builder.store(Arc::new(store)), None)
        }
    };
    Ok(SesameApp {
        sesame: builder.build(),
        _dir: dir,
    })
}

/// `POST /login`: the core's throttled [`AuthSession::authenticate`] (argon2id), then
/// [`AuthSession::login`] (a new session id, durable). `Ok(true)` when logged in, `Ok(false)` for
/// wrong or missing credentials (answer `401`), `Err` with the core's response otherwise.
///
/// # Errors
///
/// The core's rejection (`429` when throttled, `503` when the store fails).
pub async fn login(
    auth: &AuthSession<BenchBackend>,
    body: &[u8],
    query: Option<&str>,
) -> Result<bool, Rejection> {
    let Some(credentials) = Credentials::parse(body, query) else {
        return Ok(false);
    };
    let Some(user) = auth.authenticate(credentials).await? else {
        return Ok(false);
    };
    auth.login(&user, LoginOptions::default()).await?;
    Ok(true)
}

/// `POST /session` (`same_user` false) and `POST /session/same-user` (true): logs a user in
/// without checking a password, so that each request is one durable session creation through
/// the core and the store (a new record flushed to disk, the per-user index, the per-user
/// session cap), with no argon2 in the way. Each `POST /session` logs in a user who has no
/// session yet; every `POST /session/same-user` logs in [`WRITER_USER`], who is soon at the
/// cap, so that each login also lists the user's sessions and deletes the oldest.
///
/// # Errors
///
/// The core's rejection (`503` when the store fails).
pub async fn write_session(
    auth: &AuthSession<BenchBackend>,
    same_user: bool,
) -> Result<(), Rejection> {
    let backend = auth.sesame().backend();
    let user = if same_user {
        backend
            .by_name(WRITER_USER)
            .ok_or_else(Rejection::internal)?
    } else {
        backend.fresh_user()
    };
    auth.login(&user, LoginOptions::default()).await?;
    Ok(())
}

/// `GET /csrf`: the anonymous (double-submit) CSRF token, whose cookie the response sets: what
/// the client sends with its posts (`X-CSRF-Token`), since every adapter enforces CSRF on them.
///
/// # Errors
///
/// The core's rejection.
pub async fn csrf(auth: &AuthSession<BenchBackend>) -> Result<String, Rejection> {
    Ok(auth.csrf_token().await?)
}

/// The body of `GET /`: [`HELLO`] for `name` (`alice`). Every handler, bare or not, formats it,
/// so that the bare handler does the same work as the others but for the login.
pub fn greeting(name: &str) -> String {
    format!("Hello, {name}!")
}
