//! `rediss://` against a private `redis-server --tls-port` whose certificate is signed by a CA
//! this test generates (rcgen): store operations work with that CA given to the builder, and a
//! server signed by another CA is refused with an error that names the certificate.
//!
//! Skipped loudly when `redis-server` is missing or built without TLS; under `CI=true` those
//! fail instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use sesame::StoreError;
use sesame::store::{Durability, SessionStore, Update};
use sesame_redis::{RedisStore, RedisStoreError};

use common::{SpawnError, Spawned};

/// A certificate authority generated for the test.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    /// A server certificate and key (PEM) for 127.0.0.1 and localhost.
    fn server(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "sesame test redis");
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Starts a TLS-only server whose certificate `ca` signed; `None` after a loud skip when it
/// cannot run (outside CI).
fn tls_server(test: &str, dir: &Path, ca: &Ca) -> Option<Spawned> {
    let (cert, key) = ca.server();
    let (cert_file, key_file, ca_file) = (
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("server-ca.pem"),
    );
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let port = common::free_port();
    let args: Vec<String> = [
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &cert_file.to_string_lossy(),
        "--tls-key-file",
        &key_file.to_string_lossy(),
        "--tls-ca-cert-file",
        &ca_file.to_string_lossy(),
        "--tls-auth-clients",
        "no",
        "--dir",
        &dir.to_string_lossy(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    match Spawned::start(&args, port, dir.join("redis.log")) {
        Ok(server) => Some(server),
        Err(SpawnError::Missing) => {
            common::skip(test, "redis-server is not installed");
            None
        }
        Err(SpawnError::Exited(log)) if log.to_ascii_lowercase().contains("tls") => {
            common::skip(
                test,
                &format!("redis-server was built without TLS support: {}", log.trim()),
            );
            None
        }
        Err(SpawnError::Exited(log)) => panic!("redis-server --tls-port exited: {log}"),
    }
}

/// Builds a store on `url` trusting `ca_pem`, retrying while the server finishes starting.
async fn store_on(url: &str, ca_file: &Path) -> Result<RedisStore, RedisStoreError> {
    let mut last = None;
    for _ in 0..20 {
        match RedisStore::builder(url)
            .ca_file(ca_file)
            .prefix(common::unique_prefix())
            .timeout(Duration::from_secs(3))
            .build()
            .await
        {
            Ok(store) => return Ok(store),
            Err(e @ RedisStoreError::TlsHandshake(..)) => return Err(e),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_57_rediss_with_a_private_ca() {
    let test = "rediss_with_a_private_ca";
    let dir = common::temp_dir(test);
    let ca = Ca::new("sesame test CA");
    let Some(server) = tls_server(test, &dir, &ca) else {
        return;
    };
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let url = format!("rediss://127.0.0.1:{}", server.port);

    let store = store_on(&url, &ca_file)
        .await
        .unwrap_or_else(|e| panic!("{}", common::error_chain(&e)));
    store.ping().await.unwrap();

    // A few operations over TLS: the whole session lifecycle.
    let key = sesame::store::suite::key();
    let user = "tls-user";
    let mut record = sesame::store::suite::record(Some(user), common::now() + 600);
    assert!(store.create(&key, &record, Durability::Lazy).await.unwrap());
    assert_eq!(store.load(&key).await.unwrap(), Some(record.clone()));
    let expected = record.version;
    record.version += 1;
    assert!(matches!(
        store
            .update(&key, &record, expected, Durability::Lazy)
            .await
            .unwrap(),
        Update::Saved
    ));
    assert_eq!(
        store
            .user_sessions(user, common::now())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.delete_user_sessions(user, None).await.unwrap(), 1);
    assert_eq!(store.load(&key).await.unwrap(), None);

    // The suite's remember-me lifecycle over TLS too.
    sesame::store::suite::remember_tokens_lifecycle(Arc::new(store.clone())).await;

    // The same CA as PEM text works as the file does.
    let from_pem = RedisStore::builder(&url)
        .root_certificates(ca.cert.pem())
        .build()
        .await
        .unwrap();
    from_pem.ping().await.unwrap();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_57_a_server_signed_by_another_ca_is_refused() {
    let test = "a_server_signed_by_another_ca_is_refused";
    let dir = common::temp_dir(test);
    let theirs = Ca::new("some other CA");
    let Some(server) = tls_server(test, &dir, &theirs) else {
        return;
    };
    let ours = Ca::new("sesame test CA");
    let ca_file = dir.join("ours.pem");
    std::fs::write(&ca_file, ours.cert.pem()).unwrap();
    let url = format!("rediss://127.0.0.1:{}", server.port);

    // Building (which connects) says the certificate was refused.
    let err = store_on(&url, &ca_file).await.unwrap_err();
    let shown = common::error_chain(&err);
    assert!(
        matches!(err, RedisStoreError::TlsHandshake(..)),
        "expected a TLS handshake error, got: {shown}"
    );
    assert!(
        shown.contains("TLS") && shown.contains("certificate"),
        "the error should name TLS and the certificate: {shown}"
    );

    // A lazily built store reports it on every operation, as Unavailable, naming it.
    let lazy = RedisStore::builder(&url)
        .ca_file(&ca_file)
        .timeout(Duration::from_secs(2))
        .build_lazy()
        .unwrap();
    let started = std::time::Instant::now();
    let err = lazy.load(&sesame::store::suite::key()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let shown = common::error_chain(&err);
    assert!(shown.contains("certificate"), "{shown}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_settings_are_checked() {
    // A CA with a plain redis:// URL is a configuration error.
    assert!(matches!(
        RedisStore::builder("redis://127.0.0.1:6379")
            .root_certificates(Ca::new("x").cert.pem())
            .build_lazy(),
        Err(RedisStoreError::Config(_))
    ));
    // A missing CA file, or one without a certificate, is a TLS setup error naming it.
    let missing = RedisStore::builder("rediss://127.0.0.1:6379")
        .ca_file("/nonexistent/ca.pem")
        .build_lazy()
        .unwrap_err();
    assert!(matches!(missing, RedisStoreError::Tls(_)), "{missing:?}");
    assert!(missing.to_string().contains("/nonexistent/ca.pem"));
    let empty = RedisStore::builder("rediss://127.0.0.1:6379")
        .root_certificates("not a certificate")
        .build_lazy()
        .unwrap_err();
    assert!(matches!(empty, RedisStoreError::Tls(_)), "{empty:?}");
    // rediss:// without a CA of our own uses the system's trust store: builds lazily.
    RedisStore::builder("rediss://127.0.0.1:6379")
        .build_lazy()
        .unwrap();
}
