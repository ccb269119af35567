//! Session data under concurrency.

use std::collections::BTreeSet;

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
