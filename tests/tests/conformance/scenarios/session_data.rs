//! Session data under concurrency.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::Method;
use sesame::store::MemoryStore;
use sesame::testing::{FlakyStore, StoreOp};

use super::PASSWORD;
use crate::harness::{Framework, SESSION};

/// Forty concurrent `POST /cart` on one session, each with another item: the cart has all forty,
/// and the session cookie did not change under them.
pub(crate) async fn concurrent_cart_posts_lose_nothing(framework: Framework) {
    const N: usize = 40;
    let server = framework.start().await;
    let b = server.register("alice", PASSWORD).await;
    let token = b.csrf_token("/dashboard").await;
    let session = b.cookie(SESSION).expect("a session cookie");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let b = b.clone();
        let token = token.clone();
        tasks.spawn(async move {
            let item = format!("item-{i:02}");
            let page = b
                .post_form("/cart", &[("item", &item), ("csrf_token", &token)])
                .await;
            page.assert_redirect("/cart");
            page.assert_no_cookie(SESSION);
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    assert_eq!(b.cookie(SESSION).as_deref(), Some(session.as_str()));
    let cart = b.get("/cart").await;
    cart.assert_status(200);
    let json = cart.json();
    let items: Vec<&str> = json["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items array:\n{cart:?}"))
        .iter()
        .map(|v| v.as_str().expect("items are strings"))
        .collect();
    let expected: BTreeSet<String> = (0..N).map(|i| format!("item-{i:02}")).collect();
    let got: BTreeSet<String> = items.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(got, expected, "every item, once: {items:?}");
    assert_eq!(items.len(), N, "no duplicates: {items:?}");

    // The cart is the session's: another session of the same user has its own, empty one.
    let other = server.login("alice", PASSWORD, false).await;
    let cart = other.get("/cart").await;
    assert_eq!(cart.json(), serde_json::json!({"items": []}));
}

/// SECURITY.md 50: which cookies a failed finish still sends is the core's decision, the same
/// in every framework. A registration logs in (durable: a new session) and then flashes a
/// welcome message; when saving that message fails, the answer is the core's `503`, and it
/// still carries the new session's cookie, so the browser is logged in as the store says.
pub(crate) async fn security_50_a_failed_save_still_sends_the_durable_login_cookie(
    framework: Framework,
) {
    let store = Arc::new(FlakyStore::new(MemoryStore::new()));
    let server = framework
        .start_with(|s| s.session_store = Some(store.clone()))
        .await;
    let b = server.browser();
    let token = b.csrf_token("/register").await;
    store.fail_next(StoreOp::Update);
    let page = b
        .send_expecting_503(b.request(Method::POST, "/register").form(&[
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ]))
        .await;
    page.expect_cookie(SESSION);
    assert!(page.cache_control_no_store(), "{page:?}");
    b.assert_logged_in_as("alice").await;
}
