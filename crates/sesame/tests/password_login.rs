//! Password logins through a backend that stores argon2id hashes: the paths a user cannot
//! tell apart must do the same work (SECURITY.md 26), counted rather than timed.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;

use async_trait::async_trait;
use sesame::{AuthUser, Backend, Config, PasswordHasher, PasswordParams, RequestInfo, Sesame};

#[derive(Clone, Debug)]
struct User {
    id: String,
    hash: String,
    active: bool,
}

impl AuthUser for User {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn is_active(&self) -> bool {
        self.active
    }
    fn auth_hash(&self) -> &[u8] {
        self.hash.as_bytes()
    }
}

struct Hashed {
    users: HashMap<String, User>,
    hasher: PasswordHasher,
}

#[async_trait]
impl Backend for Hashed {
    type User = User;
    type Credentials = (String, String);
    type Error = Infallible;

    async fn get_user(&self, id: &str) -> Result<Option<User>, Infallible> {
        Ok(self.users.get(id).cloned())
    }

    async fn authenticate(
        &self,
        (name, password): (String, String),
    ) -> Result<Option<User>, Infallible> {
        let user = self.users.get(&name);
        let ok = self
            .hasher
            .verify_user(user.map(|u| u.hash.as_str()), &password)
            .await
            .map(|v| v.is_valid())
            .unwrap_or(false);
        Ok(user.filter(|_| ok).cloned())
    }
}

async fn setup() -> (Sesame<Hashed>, PasswordHasher) {
    let hasher =
        PasswordHasher::new_insecure_for_tests(PasswordParams::insecure_for_tests()).unwrap();
    let mut users = HashMap::new();
    for (name, active) in [("alice", true), ("disabled", false)] {
        let hash = hasher.hash("right-password").await.unwrap();
        users.insert(
            name.to_owned(),
            User {
                id: name.to_owned(),
                hash,
                active,
            },
        );
    }
    let backend = Hashed {
        users,
        hasher: hasher.clone(),
    };
    let sesame = Sesame::builder(Config::builder(&[4; 64]).build().unwrap(), backend).build();
    (sesame, hasher)
}

/// SECURITY.md 26 and 27: unknown user, wrong password and disabled user do the same argon2 work
/// and get the same answer.
#[tokio::test]
async fn security_26_unknown_wrong_and_disabled_do_the_same_work() {
    let (sesame, hasher) = setup().await;
    let mut costs = Vec::new();
    for (name, password) in [
        ("alice", "wrong-password"),
        ("nobody", "wrong-password"),
        ("disabled", "right-password"),
        ("alice", &"x".repeat(2000)),
    ] {
        let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
        let before = hasher.computations();
        let outcome = auth
            .authenticate((name.to_owned(), password.to_owned()))
            .await
            .unwrap();
        assert!(outcome.is_none(), "{name} must not log in");
        costs.push(hasher.computations() - before);
    }
    assert_eq!(
        costs,
        vec![1, 1, 1, 1],
        "every failing path runs exactly one argon2 verification"
    );
    let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
    assert!(
        auth.authenticate(("alice".into(), "right-password".into()))
            .await
            .unwrap()
            .is_some()
    );
}

/// SECURITY.md 28: throttling is per account, for unknown accounts too, and answers 429.
#[tokio::test]
async fn security_28_unknown_accounts_are_throttled_too() {
    let (sesame, _) = setup().await;
    let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
    for _ in 0..10 {
        assert!(
            auth.authenticate(("ghost".into(), "x".into()))
                .await
                .unwrap()
                .is_none()
        );
    }
    let r = auth
        .authenticate(("ghost".into(), "x".into()))
        .await
        .unwrap_err();
    assert_eq!(r.status(), 429);
    assert!(
        auth.authenticate(("alice".into(), "right-password".into()))
            .await
            .unwrap()
            .is_some()
    );
}

/// SECURITY.md 28: a `429` costs no argon2 computation. Forty wrong guesses released at once
/// run at most ten verifications (the throttle's limit), and once the account is locked the
/// right password is refused without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_28_parallel_guesses_cost_at_most_ten_argon2_verifications() {
    let (sesame, hasher) = setup().await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(40));
    let before = hasher.computations();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (sesame, barrier) = (sesame.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
                match auth
                    .authenticate(("alice".into(), format!("guess-{i}")))
                    .await
                {
                    Ok(None) => 401,
                    Ok(Some(_)) => 200,
                    Err(r) => r.status(),
                }
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    assert_eq!(checked + statuses.iter().filter(|&&s| s == 429).count(), 40);
    assert!(checked <= 10, "{checked} guesses checked: {statuses:?}");
    assert_eq!(hasher.computations() - before, checked as u64);
    let before = hasher.computations();
    let (_, auth) = sesame.begin(RequestInfo::new("POST", "/login"), []);
    let r = auth
        .authenticate(("alice".into(), "right-password".into()))
        .await
        .unwrap_err();
    assert_eq!(r.status(), 429);
    assert_eq!(hasher.computations(), before, "a 429 ran argon2");
}
