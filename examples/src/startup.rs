//! Start-up: the store (sled, Redis with `SESAME_REDIS_URL`, or PostgreSQL with
//! `SESAME_DATABASE_URL`), the key, the user table, and Sesame configured from the
//! [`Settings`].

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sesame::store::SessionStore;
use sesame::throttle::ThrottleConfig;
use sesame::{Config, ConfigError, PasswordHasher, Protection, Sesame};
use sesame_postgres::PostgresStore;
use sesame_redis::RedisStore;
use sesame_sled::SledStore;

use crate::Demo;
use crate::error::DemoError;
use crate::settings::{Secret, Settings};
use crate::users::{DemoBackend, PostgresUsers, RedisUsers, SledUsers, UserTable};

/// The key prefix of the sessions in Redis (with `SESAME_REDIS_URL`).
pub const REDIS_SESSION_PREFIX: &str = "sesame:";
/// The key prefix of the user table in Redis (with `SESAME_REDIS_URL`). Its hash tag
/// (`{users}`) puts every key of the table in one hash slot of a Redis Cluster, so that the
/// table's scripts (a registration claims the name, writes the user and adds its id in one
/// atomic step) and `MGET` run there as on one server, where the tag means nothing. The user
/// table is small beside the sessions, which the store spreads over the whole cluster; one slot
/// keeps its scripts atomic.
pub const REDIS_USERS_PREFIX: &str = "sesame-demo:{users}:";
/// The PostgreSQL schema of the sessions, the throttle state and the user table (with
/// `SESAME_DATABASE_URL`).
pub const POSTGRES_SCHEMA: &str = "sesame";

impl Demo {
    /// Opens the demo as [`Demo::open`] does, or, with [`Settings::redis_url`], on Redis:
    /// sessions in a [`RedisStore`] (keys under [`REDIS_SESSION_PREFIX`]) and the user table on
    /// the same server (under [`REDIS_USERS_PREFIX`]), so that several processes sharing the
    /// server and `SESAME_SECRET` serve one set of users and sessions. Several comma-separated
    /// URLs are the nodes of a Redis Cluster ([`RedisStore::cluster_builder`]): the sessions are
    /// spread over it, the user table is in one hash slot. [`Settings::redis_ca_file`] is the
    /// CA of `rediss://` URLs. Or, with
    /// [`Settings::database_url`], on PostgreSQL: sessions and throttle state in a
    /// [`PostgresStore`] (schema [`POSTGRES_SCHEMA`], migrated here) and the user table in the
    /// same schema ([`PostgresUsers`], created here). The data directory is not used then.
    ///
    /// # Errors
    ///
    /// As [`Demo::open`]; with Redis, [`DemoError::RedisNeedsSecret`] without
    /// `SESAME_SECRET`, and [`DemoError::Redis`] when the server cannot be reached; with
    /// PostgreSQL, [`DemoError::DatabaseNeedsSecret`], [`DemoError::Postgres`] when the
    /// database cannot be reached or migrated, [`DemoError::PostgresUsers`].
    pub async fn connect(settings: Settings) -> Result<Self, DemoError> {
        if let Some(url) = settings.database_url.clone() {
            return Self::connect_postgres(settings, &url).await;
        }
        let Some(url) = settings.redis_url.clone() else {
            return Self::open(settings);
        };
        let Secret::Key(secret) = &settings.secret else {
            return Err(DemoError::RedisNeedsSecret);
        };
        let urls = settings.redis_urls();
        let mut builder = if urls.len() > 1 {
            RedisStore::cluster_builder(&urls)
        } else {
            RedisStore::builder(&url)
        };
        if let Some(ca) = &settings.redis_ca_file {
            builder = builder.ca_file(ca);
        }
        let store = builder
            .prefix(REDIS_SESSION_PREFIX)
            .build()
            .await
            .map_err(DemoError::Redis)?;
        let users = Arc::new(RedisUsers::new(&store, REDIS_USERS_PREFIX));
        if store.is_cluster() {
            tracing::info!(
                seed_nodes = urls.len(),
                "demo: sessions and users are kept in a Redis Cluster"
            );
        } else {
            tracing::info!("demo: sessions and users are kept in Redis");
        }
        Self::assemble(&settings, secret, Arc::new(store), users)
    }

    /// The demo on the PostgreSQL database at `url`.
    async fn connect_postgres(settings: Settings, url: &str) -> Result<Self, DemoError> {
        if settings.redis_url.is_some() {
            return Err(DemoError::TwoStores);
        }
        let Secret::Key(secret) = &settings.secret else {
            return Err(DemoError::DatabaseNeedsSecret);
        };
        let store = PostgresStore::builder(url)
            .schema(POSTGRES_SCHEMA)
            .build()
            .await
            .map_err(DemoError::Postgres)?;
        store.migrate().await.map_err(DemoError::Postgres)?;
        let users = Arc::new(
            PostgresUsers::open(&store)
                .await
                .map_err(DemoError::PostgresUsers)?,
        );
        tracing::info!("demo: sessions, throttle state and users are kept in PostgreSQL");
        Self::assemble(&settings, secret, Arc::new(store), users)
    }

    /// Opens the demo: the data directory, the key, the sled database (sessions and users), and
    /// Sesame configured as the design says (login view `/login`, basic session protection,
    /// 10 failures per account in 15 minutes before `429`, counted in the session store so that
    /// every process on one store shares the budget; clients that logged in as the user before
    /// keep their own budget through their device cookie).
    ///
    /// Inside a Tokio runtime, also starts purging expired sessions every
    /// [`Settings::purge_interval`].
    ///
    /// # Errors
    ///
    /// A [`DemoError`] saying what is wrong: never a panic. With [`Settings::redis_url`] set,
    /// [`DemoError::RedisNeedsConnect`], and with [`Settings::database_url`] set,
    /// [`DemoError::DatabaseNeedsConnect`]: use [`Demo::connect`].
    pub fn open(settings: Settings) -> Result<Self, DemoError> {
        if settings.redis_url.is_some() {
            return Err(DemoError::RedisNeedsConnect);
        }
        if settings.database_url.is_some() {
            return Err(DemoError::DatabaseNeedsConnect);
        }
        create_private_dir(&settings.data_dir).map_err(|source| DemoError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
        let secret = match &settings.secret {
            Secret::Key(k) => k.clone(),
            Secret::KeyFile => load_or_create_key(&settings.key_file())?,
        };
        let sled_store = SledStore::open(settings.db_dir())?;
        // The user table lives in the same database, made durable by the sled store's flush,
        // whichever store holds the sessions.
        let users = Arc::new(SledUsers::open(&sled_store).map_err(DemoError::Users)?);
        let store: Arc<dyn SessionStore> = match settings.session_store.clone() {
            Some(store) => store,
            None => Arc::new(sled_store),
        };
        Self::assemble(&settings, &secret, store, users)
    }

    /// Sesame on `store` and `users`, and the purge task.
    fn assemble(
        settings: &Settings,
        secret: &[u8],
        store: Arc<dyn SessionStore>,
        users: Arc<dyn UserTable>,
    ) -> Result<Self, DemoError> {
        let hasher = if settings.insecure_password_hashing {
            PasswordHasher::new_insecure_for_tests(settings.password_params)
        } else {
            PasswordHasher::new(settings.password_params)
        }
        .map_err(DemoError::Password)?;

        let mut config = Config::builder(secret)
            .login_view("/login")
            .second_factor_view("/login/2fa")
            .protection(Protection::Basic)
            .secure(settings.secure_cookies)
            .password_hasher(hasher)
            // API clients may send their token as `X-Api-Key` instead of a bearer token.
            .request_headers(["X-Api-Key"]);
        if let Some(d) = settings.idle_timeout {
            config = config.idle_timeout(d);
        }
        if let Some(d) = settings.absolute_timeout {
            config = config.absolute_timeout(d);
        }
        if let Some(d) = settings.remember_grace {
            config = config.remember_grace(d);
        }
        if !settings.trusted_proxies.is_empty() {
            config =
                config.trusted_proxies(settings.trusted_proxies.iter().map(ToString::to_string));
        }
        if let Some(clock) = settings.clock.clone() {
            config = config.clock(clock);
        }
        let config = config.build().map_err(|e| match e {
            ConfigError::AbsoluteShorterThanIdle { absolute, idle } => DemoError::Timeouts {
                absolute,
                idle,
                idle_is_default: settings.idle_timeout.is_none(),
            },
            e => DemoError::Config(e),
        })?;
        if !settings.secure_cookies {
            tracing::warn!(
                "demo: cookies are sent without Secure (fine on plain-http loopback); set \
                 SESAME_SECURE_COOKIES=true behind HTTPS"
            );
        }
        let hasher = config.password_hasher().clone();
        let backend = DemoBackend::new(users, hasher).with_admins(&settings.admins);
        let sesame = Sesame::builder(config, backend)
            .store(store)
            .throttle(ThrottleConfig {
                max_failures: 10,
                window: Duration::from_secs(15 * 60),
                ..ThrottleConfig::default()
            })
            .build();
        let purge = match (
            settings.purge_interval,
            tokio::runtime::Handle::try_current(),
        ) {
            (Some(every), Ok(_)) => Some(Arc::new(sesame.spawn_purger(every))),
            _ => None,
        };
        let factors = crate::handlers::SecondFactorKeys::new(secret).map_err(DemoError::Config)?;
        let passkeys = sesame::passkey::Passkeys::new(
            &settings.webauthn_rp_id,
            &settings.webauthn_origin,
            "Sesame Demo",
        )
        .map_err(DemoError::Passkeys)?;
        tracing::info!(
            origin = %settings.webauthn_origin,
            rp_id = %settings.webauthn_rp_id,
            "demo: passkeys work on pages opened at this origin (SESAME_WEBAUTHN_ORIGIN), not on an IP address"
        );
        Ok(Self::new(sesame, factors, passkeys, purge))
    }
}

/// Creates a directory (and its parents) readable by the owner only.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Reads the hex key in `path`, or creates it: 64 random bytes, mode 0600, written to a
/// temporary file and linked into place, so that a concurrent start never sees half a key.
fn load_or_create_key(path: &Path) -> Result<Vec<u8>, DemoError> {
    let io_err = |source| DemoError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let read = |path: &Path| -> Result<Vec<u8>, DemoError> {
        let text = fs::read_to_string(path).map_err(io_err)?;
        warn_if_readable_by_others(path);
        crate::settings::decode_key(&text).map_err(|source| DemoError::BadKeyFile {
            path: path.to_path_buf(),
            source,
        })
    };
    match fs::metadata(path) {
        Ok(_) => return read(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let key = Config::generate_secret();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(hex.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    let _ = fs::remove_file(&tmp);
    let linked = write().and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "demo: generated a new secret key");
            Ok(key.to_vec())
        }
        // Another process won the race: use its key.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(io_err(e)),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "demo: the key file is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = load_or_create_key(&path).unwrap();
        assert_eq!(a.len(), 64);
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(DemoError::BadKeyFile { .. })
        ));
    }

    #[tokio::test]
    async fn redis_needs_a_shared_secret_and_a_live_server() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::for_tests(dir.path());
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"));
        assert!(matches!(
            Demo::open(s.clone()),
            Err(DemoError::RedisNeedsConnect)
        ));
        let e = Demo::connect(s.clone()).await.unwrap_err();
        assert!(matches!(e, DemoError::Redis(_)), "{e}");
        assert!(e.to_string().contains("SESAME_REDIS_URL"), "{e}");
        s.secret = Secret::KeyFile;
        let e = Demo::connect(s).await.unwrap_err();
        assert!(matches!(e, DemoError::RedisNeedsSecret), "{e}");
        assert!(e.to_string().contains("SESAME_SECRET"), "{e}");
    }

    #[tokio::test]
    async fn postgres_needs_a_shared_secret_a_live_server_and_one_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::for_tests(dir.path());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        s.database_url = Some(format!("postgres://postgres@127.0.0.1:{port}/postgres"));
        assert!(matches!(
            Demo::open(s.clone()),
            Err(DemoError::DatabaseNeedsConnect)
        ));
        let e = Demo::connect(s.clone()).await.unwrap_err();
        assert!(matches!(e, DemoError::Postgres(_)), "{e}");
        assert!(e.to_string().contains("SESAME_DATABASE_URL"), "{e}");
        let mut both = s.clone();
        both.redis_url = Some("redis://127.0.0.1:6379".to_owned());
        let e = Demo::connect(both).await.unwrap_err();
        assert!(e.to_string().contains("SESAME_REDIS_URL"), "{e}");
        s.secret = Secret::KeyFile;
        let e = Demo::connect(s).await.unwrap_err();
        assert!(matches!(e, DemoError::DatabaseNeedsSecret), "{e}");
        assert!(e.to_string().contains("SESAME_SECRET"), "{e}");
    }

    #[test]
    fn a_locked_database_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::for_tests(dir.path());
        let _first = Demo::open(s.clone()).unwrap();
        let e = Demo::open(s).unwrap_err();
        assert!(matches!(e, DemoError::Store(_)), "{e}");
    }
}
