//! The `tls` feature, against the test server's TLS (Debian's PostgreSQL has `ssl = on` with a
//! self-signed certificate): connections go encrypted, and a certificate the client does not
//! trust is refused. Run by `cargo xtask ci` as `cargo test -p sesame-postgres --features tls`.

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{TestStore, error_chain, skip};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sesame::store::suite::{key, record};
use sesame::store::{Durability, SessionStore};
use sesame_postgres::{PostgresStore, PostgresStoreError};

/// Accepts the server's certificate whatever it is (the test server's is self-signed), but
/// checks the handshake's signatures with it: the connection is encrypted, not authenticated.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The test URL, requiring TLS.
fn tls_url() -> String {
    let url = common::url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=require")
}

/// Whether the test server has TLS on; skips (fails under CI) when it cannot be reached or
/// has TLS off.
async fn server_has_tls(test: &str) -> bool {
    let url = common::url();
    let Ok((client, connection)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await
    else {
        skip(test, &format!("no PostgreSQL at {url}"));
        return false;
    };
    tokio::spawn(connection);
    let on: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if on != "on" {
        skip(test, "the test server has ssl = off");
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_are_encrypted() {
    if !server_has_tls("tls_connections_are_encrypted").await {
        return;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
        .with_no_client_auth();
    let schema = common::unique_schema();
    let store = PostgresStore::builder(tls_url())
        .schema(schema.clone())
        .tls(config)
        .build()
        .await
        .unwrap();
    let t = TestStore { store, schema };
    t.store.migrate().await.unwrap();
    let k = key();
    let r = record(None, 4_000_000_000);
    assert!(t.store.create(&k, &r, Durability::Flush).await.unwrap());
    assert_eq!(t.store.load(&k).await.unwrap(), Some(r));
    let conn = t.store.pool().get().await.unwrap();
    let encrypted: bool = conn
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "the store's connection is not encrypted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused() {
    if !server_has_tls("an_untrusted_certificate_is_refused").await {
        return;
    }
    // The Mozilla roots do not include the test server's self-signed certificate.
    let built = PostgresStore::builder(tls_url())
        .tls_webpki_roots()
        .build()
        .await;
    match built {
        Err(e @ PostgresStoreError::Connect(_)) => {
            let chain = error_chain(&e).to_lowercase();
            assert!(chain.contains("certificate"), "{chain}");
        }
        other => panic!("connected without a trusted certificate: {other:?}"),
    }
}
