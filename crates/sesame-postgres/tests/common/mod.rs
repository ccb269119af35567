//! Helpers shared by the PostgreSQL tests: the test server's URL, the loud skip (or the failure
//! under `CI=true`) when it cannot be reached, a fresh schema per test (dropped at the end, also
//! when the test fails), and a TCP proxy the fault tests stop and restart between the store and
//! the server.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesame_postgres::{PostgresStore, PostgresStoreBuilder};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The variable naming the test database.
pub const URL_VAR: &str = "SESAME_TEST_DATABASE_URL";
/// The database used when the variable is unset.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The test database's URL.
pub fn url() -> String {
    std::env::var(URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Writes a line to the process's stderr, past the test harness's capture of `eprintln!`.
pub fn loud(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Fails the test under CI; elsewhere prints a banner saying the test was skipped, and why.
pub fn skip(test: &str, why: &str) {
    sesame::store::suite::skip_or_fail(
        "sesame-postgres: PostgreSQL",
        test,
        why,
        &format!(
            "Start a server on 127.0.0.1:5432 (user postgres, trust authentication) or point {URL_VAR} at one"
        ),
    );
}

/// An error and its sources, on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// An SQL identifier, quoted.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A fresh schema name, unique to one test.
pub fn unique_schema() -> String {
    let hex = sesame::store::suite::key().to_hex();
    format!("sesame_test_{}", &hex[..16])
}

/// A raw connection to the test database, to look behind the store's back.
pub async fn raw() -> tokio_postgres::Client {
    raw_at(&url()).await
}

/// A raw connection to `url`.
pub async fn raw_at(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A migrated store in a fresh schema of its own, dropped with the schema.
pub struct TestStore {
    pub store: PostgresStore,
    pub schema: String,
}

/// A store on the test database in a fresh, migrated schema; `None` (after a loud skip
/// message) when the server cannot be reached outside CI. Under CI, an unreachable server
/// panics.
pub async fn test_store(test: &str) -> Option<TestStore> {
    test_store_with(test, |b| b).await
}

/// As [`test_store`], with settings.
pub async fn test_store_with(
    test: &str,
    settings: impl FnOnce(PostgresStoreBuilder) -> PostgresStoreBuilder,
) -> Option<TestStore> {
    test_store_in(test, unique_schema(), settings).await
}

/// As [`test_store_with`], in the schema `schema`.
pub async fn test_store_in(
    test: &str,
    schema: String,
    settings: impl FnOnce(PostgresStoreBuilder) -> PostgresStoreBuilder,
) -> Option<TestStore> {
    let url = url();
    // Small pools: many tests run at once, under the server's `max_connections` (100).
    let builder = PostgresStore::builder(&url)
        .schema(schema.clone())
        .pool_size(4);
    match settings(builder).build().await {
        Ok(store) => {
            // The guard first: a failed migration still drops what it created.
            let t = TestStore { store, schema };
            t.store.migrate().await.unwrap();
            Some(t)
        }
        Err(e) => {
            skip(
                test,
                &format!("no PostgreSQL at {url}: {}", error_chain(&e)),
            );
            None
        }
    }
}

impl TestStore {
    /// Another store (another pool, as another process would have) on the same schema.
    pub async fn another(&self) -> PostgresStore {
        PostgresStore::builder(url())
            .schema(self.schema.clone())
            .pool_size(4)
            .build()
            .await
            .unwrap()
    }

    /// The schema, quoted for SQL.
    pub fn quoted(&self) -> String {
        quote(&self.schema)
    }
}

impl Drop for TestStore {
    /// Drops the schema, on a thread of its own (a runtime cannot block inside another), also
    /// when the test panicked.
    fn drop(&mut self) {
        let schema = self.schema.clone();
        let done = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok((client, connection)) =
                    tokio_postgres::connect(&url(), tokio_postgres::NoTls).await
                else {
                    return;
                };
                tokio::spawn(connection);
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(&schema)))
                    .await;
            });
        });
        let _ = done.join();
    }
}

/// A TCP proxy on a loopback port to the test server, that a test stops (closing every
/// connection through it, as a server going away does) and starts again on the same port.
pub struct Proxy {
    pub port: u16,
    upstream: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Default)]
struct ProxyState {
    accept: Option<JoinHandle<()>>,
    connections: Vec<JoinHandle<()>>,
    /// While set, connections are accepted but nothing is forwarded (a server that hangs).
    frozen: bool,
}

impl Proxy {
    /// A proxy to the host and port of the test URL, on a free loopback port.
    pub async fn start() -> Self {
        let config: tokio_postgres::Config = url().parse().unwrap();
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            upstream,
            state: Arc::new(Mutex::new(ProxyState::default())),
        };
        proxy.serve(listener);
        proxy
    }

    /// The test URL, through the proxy.
    pub fn url(&self) -> String {
        let config: tokio_postgres::Config = url().parse().unwrap();
        let user = config.get_user().unwrap_or("postgres");
        let db = config.get_dbname().unwrap_or("postgres");
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    fn serve(&self, listener: TcpListener) {
        let state = self.state.clone();
        let upstream = self.upstream;
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let state2 = state.clone();
                let conn = tokio::spawn(async move {
                    let mut client = client;
                    if state2.lock().unwrap().frozen {
                        // Hold the connection open, answering nothing.
                        std::future::pending::<()>().await;
                    }
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                let mut s = state.lock().unwrap();
                s.connections.retain(|c| !c.is_finished());
                s.connections.push(conn);
            }
        });
        self.state.lock().unwrap().accept = Some(accept);
    }

    /// Stops listening and closes every connection through the proxy.
    pub fn stop(&self) {
        let mut s = self.state.lock().unwrap();
        if let Some(accept) = s.accept.take() {
            accept.abort();
        }
        for conn in s.connections.drain(..) {
            conn.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        self.stop();
        // The aborted accept task drops its listener asynchronously: retry the bind briefly.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("could not listen on port {} again: {e}", self.port),
            }
        };
        self.serve(listener);
    }

    /// New connections are accepted and held, answering nothing: a server that hangs. Existing
    /// connections are closed.
    pub fn freeze(&self) {
        let mut s = self.state.lock().unwrap();
        s.frozen = true;
        for conn in s.connections.drain(..) {
            conn.abort();
        }
    }

    /// Connections are forwarded again.
    pub fn thaw(&self) {
        self.state.lock().unwrap().frozen = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}
