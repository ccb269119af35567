//! PostgreSQL for the multi-process test: the server's URL, a fresh database per test (dropped
//! at the end, also when the test fails), the loud skip (or the failure under `CI=true`) when no
//! server answers, and a TCP proxy between the demo processes and the server that the test stops
//! and restarts, as a database restart looks to its clients, without touching the server.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sesame_postgres::tokio_postgres::{self, NoTls};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The variable naming the test server (as in sesame-postgres's tests).
pub(crate) const URL_VAR: &str = "SESAME_TEST_DATABASE_URL";
/// The server used when the variable is unset.
pub(crate) const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The test server's URL: a role that may create databases.
pub(crate) fn url() -> String {
    std::env::var(URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Whether we run under CI (`CI=true`), where a missing server fails the test.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !v.is_empty() && v != "false" && v != "0"
    })
}

/// Writes to the process's stderr, past the test harness's capture.
fn loud(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A connection to `url`, bounded by 5 s.
async fn connect(url: &str) -> Result<tokio_postgres::Client, Error> {
    let (client, connection) =
        tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(url, NoTls))
            .await
            .map_err(|_| format!("no answer from PostgreSQL at {url} within 5 s"))??;
    tokio::spawn(connection);
    Ok(client)
}

/// A database created for one test, on the test server; dropped (`WITH (FORCE)`) on drop.
pub(crate) struct TestDatabase {
    /// Its name.
    pub(crate) name: String,
    admin_url: String,
    dropped: bool,
}

impl TestDatabase {
    /// A fresh database on the server at `admin_url`; `None` after a loud skip when no server
    /// answers (under `CI=true`, an error instead).
    pub(crate) async fn create(admin_url: &str) -> Result<Option<Self>, Error> {
        let admin = match connect(admin_url).await {
            Ok(c) => c,
            Err(e) => {
                let why = format!("no PostgreSQL at {admin_url}: {e}");
                if in_ci() {
                    return Err(format!("{why} (CI=true: the test must not be skipped)").into());
                }
                let bar = "*".repeat(78);
                loud(&format!(
                    "\n{bar}\n*  SKIPPED multiprocess test on PostgreSQL: {why}\n*  Start a \
                     server on 127.0.0.1:5432 (user postgres, trust authentication) or point \
                     {URL_VAR} at one\n*  (under CI=true, this is a failure).\n{bar}\n"
                ));
                return Ok(None);
            }
        };
        let mut bytes = [0_u8; 8];
        getrandom::getrandom(&mut bytes)?;
        let name = format!(
            "sesame_demo_mp_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        Ok(Some(Self {
            name,
            admin_url: admin_url.to_owned(),
            dropped: false,
        }))
    }

    /// The URL of this database, directly (not through the proxy).
    pub(crate) fn direct_url(&self) -> Result<String, Error> {
        with_database(&self.admin_url, 0, &self.name)
    }

    /// The one `bigint` that `sql` returns, run directly on the database.
    pub(crate) async fn count(&self, sql: &str) -> Result<i64, Error> {
        let client = connect(&self.direct_url()?).await?;
        Ok(client.query_one(sql, &[]).await?.try_get(0)?)
    }

    /// Drops the database now (the drop guard does it otherwise, on a thread of its own).
    pub(crate) async fn drop_now(mut self) {
        drop_database(&self.admin_url, &self.name).await;
        self.dropped = true;
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(admin) = connect(admin_url).await {
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // A runtime cannot block inside another: a thread with its own.
        let done = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&url, &name));
            }
        });
        let _ = done.join();
    }
}

/// `url` with the database `db`, and the port `port` on 127.0.0.1 unless `port` is 0.
fn with_database(url: &str, port: u16, db: &str) -> Result<String, Error> {
    let config: tokio_postgres::Config = url.parse()?;
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let (host, port) = if port == 0 {
        (
            host_of(&config),
            config.get_ports().first().copied().unwrap_or(5432),
        )
    } else {
        ("127.0.0.1".to_owned(), port)
    };
    Ok(format!("postgres://{user}{password}@{host}:{port}/{db}"))
}

fn host_of(config: &tokio_postgres::Config) -> String {
    match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    }
}

/// A TCP proxy on a loopback port to the test server, that the test stops (closing every
/// connection through it, as a server going away does) and starts again on the same port.
pub(crate) struct Proxy {
    port: u16,
    upstream: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Default)]
struct ProxyState {
    accept: Option<JoinHandle<()>>,
    connections: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy to the server of `url`, on a free loopback port.
    pub(crate) async fn start(url: &str) -> Result<Self, Error> {
        let config: tokio_postgres::Config = url.parse()?;
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host_of(&config).as_str(), port))
            .await?
            .next()
            .ok_or("the test server's host has no address")?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = Self {
            port: listener.local_addr()?.port(),
            upstream,
            state: Arc::default(),
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    /// The URL of database `db` through the proxy, with the credentials of `url`.
    pub(crate) fn url_to(&self, url: &str, db: &str) -> Result<String, Error> {
        with_database(url, self.port, db)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn serve(&self, listener: TcpListener) {
        let state = self.state.clone();
        let upstream = self.upstream;
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                s.connections.retain(|c| !c.is_finished());
                s.connections.push(conn);
            }
        });
        self.state().accept = Some(accept);
    }

    /// Stops listening and closes every connection through the proxy.
    pub(crate) fn stop(&self) {
        let mut s = self.state();
        if let Some(accept) = s.accept.take() {
            accept.abort();
        }
        for conn in s.connections.drain(..) {
            conn.abort();
        }
    }

    /// Listens again on the same port.
    pub(crate) async fn restart(&self) -> Result<(), Error> {
        self.stop();
        // The aborted accept task drops its listener asynchronously: retry the bind briefly.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(format!("cannot listen on {} again: {e}", self.port).into()),
            }
        };
        self.serve(listener);
        Ok(())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}
