//! The admin page: the permission `admin` (the users named in `SESAME_ADMINS`) in every
//! framework's permission-required idiom, and disabling and enabling users.

use reqwest::Method;

use super::{INVALID, PASSWORD};
use crate::harness::{Framework, REMEMBER, Server};

/// The demo's admin in these scenarios (`SESAME_ADMINS=rootadmin`).
const ADMIN: &str = "rootadmin";

async fn start(framework: Framework) -> Server {
    framework
        .start_with(|settings| settings.admins = vec![ADMIN.to_owned()])
        .await
}

/// SECURITY.md 51 through the demo: `/admin` sends an anonymous browser to the login page (and
/// back: `next`), answers an anonymous API client `401` JSON, a logged-in user without the
/// permission `403` (text, or JSON when asked; never a redirect, so never a loop), and an
/// admin (named in any letter case) `200` with the user list. A user without the permission
/// cannot disable anybody, even with a valid CSRF token.
pub(crate) async fn security_51_the_admin_page_requires_the_permission(framework: Framework) {
    let server = start(framework).await;
    let anon = server.browser();
    anon.get("/admin")
        .await
        .assert_redirect("/login?next=%2Fadmin");
    let page = anon.get_json("/admin").await;
    page.assert_status(401);
    assert_eq!(page.json(), serde_json::json!({"error": "unauthorized"}));

    let alice = server.register("alice", PASSWORD).await;
    let page = alice.get("/admin").await;
    page.assert_status(403)
        .assert_contains("Forbidden")
        .assert_lacks("alice@example.com");
    assert!(page.location().is_none(), "no redirect: {page:?}");
    let page = alice.get_json("/admin").await;
    page.assert_status(403);
    assert_eq!(page.json(), serde_json::json!({"error": "forbidden"}));
    alice
        .get("/dashboard")
        .await
        .assert_status(200)
        .assert_lacks("href=\"/admin\"");

    let root = server.register("RootAdmin", PASSWORD).await;
    let page = alice
        .submit("/dashboard", "/admin/users/RootAdmin/disable", &[])
        .await;
    page.assert_status(403);
    root.assert_logged_in_as("RootAdmin").await;

    // The admin: the link, the page, every user with a button; the permissions shown.
    root.get("/dashboard")
        .await
        .assert_contains("href=\"/admin\"");
    let page = root.get("/admin").await;
    page.assert_status(200)
        .assert_contains("alice@example.com")
        .assert_contains("action=\"/admin/users/alice/disable\"")
        .assert_contains("<code>admin</code>")
        // No button to disable oneself.
        .assert_lacks("action=\"/admin/users/RootAdmin/disable\"");
    // Nor does a hand-made post do it: the admin is told so, and stays logged in.
    root.submit("/admin", "/admin/users/RootAdmin/disable", &[])
        .await
        .assert_redirect("/admin");
    root.get("/admin")
        .await
        .assert_contains("You cannot disable your own account.");
    root.assert_logged_in_as("RootAdmin").await;
    // An unknown user is a 404; another method a 405.
    root.submit("/admin", "/admin/users/nobody/disable", &[])
        .await
        .assert_status(404);
    root.send(root.request(Method::GET, "/admin/users/alice/disable"))
        .await
        .assert_status(405);
    alice.assert_logged_in_as("alice").await;
}

/// SECURITY.md 44 through the demo's admin page: disabling a user ends every session and
/// remember-me token of theirs at once (the next request of each is anonymous, the remember
/// cookie restores nothing, the API token authenticates nothing), and the right password then
/// gets the one generic `401`; other users are untouched. Enabling the user again brings none
/// of it back; a new login works.
pub(crate) async fn security_44_disabling_from_the_admin_page_ends_everything_at_once(
    framework: Framework,
) {
    let server = start(framework).await;
    let root = server.register(ADMIN, PASSWORD).await;
    let first = server.login_new("alice", true).await;
    let remember = first
        .cookie(REMEMBER)
        .unwrap_or_else(|| panic!("{framework:?}: a remember-me cookie"));
    let second = server.login("alice", PASSWORD, false).await;
    let page = second.submit("/dashboard", "/api/tokens", &[]).await;
    let token = page.json()["token"].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty(), "{page:?}");
    let bob = server.login_new("bobby", false).await;

    let page = root
        .submit("/admin", "/admin/users/alice/disable", &[])
        .await;
    page.assert_redirect("/admin");
    let page = root.get("/admin").await;
    page.assert_contains("alice is disabled")
        .assert_contains("action=\"/admin/users/alice/enable\"");

    let bearer = |token: String| {
        let raw = server.raw();
        async move {
            raw.send(
                raw.request(Method::GET, "/api/me")
                    .header(reqwest::header::AUTHORIZATION, format!("Bearer {token}")),
            )
            .await
        }
    };
    let everything_ended = || async {
        first.assert_anonymous().await;
        second.assert_anonymous().await;
        let restored = server.browser();
        restored.set_cookie(REMEMBER, &remember);
        restored.assert_anonymous().await;
        bearer(token.clone()).await.assert_status(401);
    };
    everything_ended().await;
    server
        .browser()
        .login("alice", PASSWORD, false, None)
        .await
        .assert_status(401)
        .assert_contains(INVALID);
    bob.assert_logged_in_as("bobby").await;

    root.submit("/admin", "/admin/users/alice/enable", &[])
        .await
        .assert_redirect("/admin");
    root.get("/admin")
        .await
        .assert_contains("alice can log in again.");
    everything_ended().await;
    server
        .login("alice", PASSWORD, false)
        .await
        .assert_logged_in_as("alice")
        .await;
}
