//! Criterion benchmarks of the core's hot path: cookie verification, and a whole authenticated
//! request (begin, current user, finish) on the in-memory store.

#![allow(missing_docs)]
// Benchmark setup: a failed unwrap is a broken benchmark, nothing to recover from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sesame::testing::{TestBackend, TestUser, login_cookie};
use sesame::{Config, CookieMode, LoginOptions, RequestInfo, Sesame};

fn cookies(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("cookie");
    for (name, mode) in [
        ("signed", CookieMode::Signed),
        ("private", CookieMode::Private),
    ] {
        let config = Config::builder(&[9; 64]).cookie_mode(mode).build().unwrap();
        let user = TestUser::new("1", "alice", "pw");
        let sesame = Sesame::builder(
            config.clone(),
            TestBackend::default().with_user(user.clone()),
        )
        .build();
        let header = rt
            .block_on(login_cookie(&sesame, &user, LoginOptions::default()))
            .unwrap();
        let header = format!("theme=dark; {header}; _ga=GA1.2.3");
        g.bench_function(format!("verify_{name}"), |b| {
            b.iter(|| {
                let found = sesame::cookies::read_cookies(&config, [black_box(header.as_bytes())]);
                assert!(found.session.is_some());
            })
        });
    }
    let config = Config::builder(&[9; 64]).build().unwrap();
    g.bench_function("reject_forged", |b| {
        let forged = format!("__Host-sesame={}", "A".repeat(87));
        b.iter(|| sesame::cookies::read_cookies(&config, [black_box(forged.as_bytes())]))
    });
    g.finish();
}

fn request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let user = TestUser::new("1", "alice", "pw");
    let config = Config::builder(&[9; 64]).build().unwrap();
    let sesame = Sesame::builder(config, TestBackend::default().with_user(user.clone())).build();
    let header = rt
        .block_on(login_cookie(&sesame, &user, LoginOptions::default()))
        .unwrap();
    let mut g = c.benchmark_group("request");
    g.bench_function("authenticated_get_memory", |b| {
        b.to_async(&rt).iter(|| async {
            let info = RequestInfo::new("GET", "/dashboard").user_agent(None);
            let (session, auth) = sesame.begin(info, [header.as_bytes()]);
            let u = auth.require_login().await.unwrap();
            black_box(u);
            let f = session.finish(200).await;
            assert!(f.set_cookies.is_empty());
        })
    });
    g.bench_function("anonymous_untouched", |b| {
        b.to_async(&rt).iter(|| async {
            let (session, _auth) = sesame.begin(RequestInfo::new("GET", "/"), []);
            black_box(session.finish(200).await);
        })
    });
    g.finish();
}

criterion_group!(benches, cookies, request);
criterion_main!(benches);
