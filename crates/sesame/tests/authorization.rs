//! Permissions (SECURITY.md's authorization requirements, issue 17 item 1): what a user of the
//! core sees from `has_perm` / `require_perm`, for anonymous, unprivileged, privileged and
//! token-authenticated requests, loaded once per request even under concurrent use.

// Test code: a failed unwrap is a failed test (clippy.toml's `allow-*-in-tests` covers only
// `#[test]` functions, not their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use async_trait::async_trait;
use sesame::testing::{TestBackend, TestUser, login_cookie};
use sesame::{
    AuthSession, AuthzBackend, Backend, Config, LoginOptions, RejectionKind, RequestInfo, Sesame,
};

fn perm(p: &str) -> String {
    p.to_owned()
}

fn setup() -> (Sesame<TestBackend>, TestBackend, TestUser, TestUser) {
    let admin = TestUser::new("1", "alice", "pw-alice")
        .with_permission("admin")
        .with_permission("reports");
    let mut bob = TestUser::new("2", "bob", "pw-bob").with_permission("reports");
    bob.token = Some("bob-token".into());
    let backend = TestBackend::default()
        .with_user(admin.clone())
        .with_user(bob.clone());
    let config = Config::builder(&[9u8; 64])
        .login_view("/login")
        .build()
        .unwrap();
    (
        Sesame::builder(config, backend.clone()).build(),
        backend,
        admin,
        bob,
    )
}

async fn as_user(
    sesame: &Sesame<TestBackend>,
    user: &TestUser,
    info: RequestInfo,
) -> AuthSession<TestBackend> {
    let cookie = login_cookie(sesame, user, LoginOptions::default())
        .await
        .unwrap();
    sesame.begin(info, [cookie.as_bytes()]).1
}

#[tokio::test]
async fn security_51_anonymous_requests_get_the_login_required_answer() {
    let (sesame, backend, ..) = setup();
    let (_, auth) = sesame.begin(RequestInfo::new("GET", "/admin"), []);
    assert!(!auth.has_perm(&perm("admin")).await.unwrap());
    assert!(!auth.has_perms([]).await.unwrap(), "anonymous has nothing");
    let refused = auth.require_perm(&perm("admin")).await.unwrap_err();
    assert_eq!(refused.status(), 303);
    assert_eq!(refused.location(), Some("/login?next=%2Fadmin"));
    assert_eq!(refused.kind(), RejectionKind::LoginRequired);

    let json = RequestInfo::new("GET", "/api/admin").accept(Some("application/json"));
    let (_, auth) = sesame.begin(json, []);
    let refused = auth.require_perm(&perm("admin")).await.unwrap_err();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.body(), r#"{"error":"unauthorized"}"#);
    assert_eq!(
        backend.permission_loads(),
        0,
        "nobody to load permissions for"
    );
}

#[tokio::test]
async fn security_51_a_user_without_the_permission_gets_403_never_a_redirect() {
    let (sesame, _, _, bob) = setup();
    let auth = as_user(&sesame, &bob, RequestInfo::new("GET", "/admin")).await;
    let refused = auth.require_perm(&perm("admin")).await.unwrap_err();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.kind(), RejectionKind::Forbidden);
    assert_eq!(refused.location(), None);
    assert!(refused.body().starts_with("Forbidden"));

    let json = RequestInfo::new("GET", "/api/admin").accept(Some("application/json"));
    let auth = as_user(&sesame, &bob, json).await;
    let refused = auth.require_perm(&perm("admin")).await.unwrap_err();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.body(), r#"{"error":"forbidden"}"#);
}

#[tokio::test]
async fn a_user_with_the_permissions_passes() {
    let (sesame, _, alice, _) = setup();
    let auth = as_user(&sesame, &alice, RequestInfo::new("GET", "/admin")).await;
    assert_eq!(auth.require_perm(&perm("admin")).await.unwrap().id, "1");
    let both = [perm("admin"), perm("reports")];
    assert_eq!(auth.require_perms(&both).await.unwrap().id, "1");
    assert!(auth.has_perms(&both).await.unwrap());
    assert!(
        auth.has_perms([]).await.unwrap(),
        "nothing asked, logged in"
    );
    let too_much = [perm("admin"), perm("superuser")];
    assert!(!auth.has_perms(&too_much).await.unwrap());
    assert_eq!(
        auth.require_perms(&too_much).await.unwrap_err().status(),
        403,
        "every permission is needed"
    );
}

#[tokio::test]
async fn token_users_have_their_permissions_too() {
    let (sesame, ..) = setup();
    let info = RequestInfo::new("GET", "/api/reports").authorization(Some("Bearer bob-token"));
    let (_, auth) = sesame.begin(info, []);
    assert!(auth.has_perm(&perm("reports")).await.unwrap());
    assert_eq!(
        auth.require_perm(&perm("admin"))
            .await
            .unwrap_err()
            .status(),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_51_permissions_load_once_per_request_even_under_concurrent_checks() {
    let (sesame, backend, alice, _) = setup();
    let auth = as_user(&sesame, &alice, RequestInfo::new("GET", "/admin")).await;
    let checks: Vec<_> = (0..32)
        .map(|i| {
            let auth = auth.clone();
            tokio::spawn(async move {
                let p = if i % 2 == 0 { "admin" } else { "nope" };
                auth.has_perm(&perm(p)).await.unwrap() == (i % 2 == 0)
            })
        })
        .collect();
    for check in checks {
        assert!(check.await.unwrap());
    }
    auth.require_perm(&perm("reports")).await.unwrap();
    assert_eq!(backend.permission_loads(), 1);

    // The next request loads them again: a revoked permission takes effect at once.
    let mut demoted = backend.user("1").unwrap();
    demoted.permissions.clear();
    backend.put(demoted.clone());
    let cookie = login_cookie(&sesame, &demoted, LoginOptions::default())
        .await
        .unwrap();
    let (_, next) = sesame.begin(RequestInfo::new("GET", "/admin"), [cookie.as_bytes()]);
    assert_eq!(
        next.require_perm(&perm("admin"))
            .await
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(backend.permission_loads(), 2);
}

#[tokio::test]
async fn security_51_logging_in_and_out_within_a_request_never_keeps_stale_permissions() {
    let (sesame, _, alice, bob) = setup();
    let auth = as_user(&sesame, &bob, RequestInfo::new("POST", "/login")).await;
    assert!(!auth.has_perm(&perm("admin")).await.unwrap());
    auth.login(&alice, LoginOptions::default()).await.unwrap();
    assert!(
        auth.has_perm(&perm("admin")).await.unwrap(),
        "alice's, not bob's"
    );
    auth.logout().await.unwrap();
    assert!(
        !auth.has_perm(&perm("admin")).await.unwrap(),
        "nobody's after logout"
    );
}

/// Group permissions merge with the user's own; a backend failure is the core's 503.
struct Groups {
    inner: TestBackend,
    fail: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("directory unreachable")]
struct Unreachable;

#[async_trait]
impl Backend for Groups {
    type User = TestUser;
    type Credentials = (String, String);
    type Error = Unreachable;

    async fn get_user(&self, id: &str) -> Result<Option<TestUser>, Unreachable> {
        let Ok(user) = self.inner.get_user(id).await;
        Ok(user)
    }
}

#[async_trait]
impl AuthzBackend for Groups {
    type Permission = String;

    async fn user_permissions(&self, user: &TestUser) -> Result<HashSet<String>, Unreachable> {
        let Ok(own) = self.inner.user_permissions(user).await;
        Ok(own)
    }

    async fn group_permissions(&self, _user: &TestUser) -> Result<HashSet<String>, Unreachable> {
        if self.fail {
            return Err(Unreachable);
        }
        Ok(HashSet::from([perm("staff-wiki")]))
    }
}

#[tokio::test]
async fn group_permissions_count_and_a_failing_backend_is_503() {
    for fail in [false, true] {
        let bob = TestUser::new("2", "bob", "pw-bob").with_permission("reports");
        let backend = Groups {
            inner: TestBackend::default().with_user(bob.clone()),
            fail,
        };
        let config = Config::builder(&[9u8; 64]).build().unwrap();
        let sesame = Sesame::builder(config, backend).build();
        let cookie = login_cookie(&sesame, &bob, LoginOptions::default())
            .await
            .unwrap();
        let (_, auth) = sesame.begin(RequestInfo::new("GET", "/wiki"), [cookie.as_bytes()]);
        let outcome = auth
            .require_perms(&[perm("reports"), perm("staff-wiki")])
            .await;
        if fail {
            assert_eq!(outcome.unwrap_err().status(), 503);
        } else {
            assert_eq!(outcome.unwrap().id, "2");
        }
    }
}
