//! Public pages, and the cache headers of every kind of page.

use super::PASSWORD;
use crate::harness::{CSRF, Framework, Page, SESSION};

/// Anonymous `GET /` greets a guest and sets no cookie; the login and register forms set only the
/// CSRF cookie: merely visiting creates no session.
pub(crate) async fn anonymous_pages_create_no_session(framework: Framework) {
    let server = framework.start().await;
    let b = server.browser();

    let home = b.get("/").await;
    home.assert_status(200).assert_contains("Hello, guest!");
    assert!(
        home.set_cookies().is_empty(),
        "anonymous GET / sets no cookie:\n{home:?}"
    );

    for path in ["/login", "/register"] {
        let b = server.browser();
        let page = b.get(path).await;
        page.assert_status(200);
        assert!(
            page.body.contains("<form"),
            "{path} shows a form:\n{page:?}"
        );
        let token = page.csrf_token();
        assert!(!token.is_empty(), "{path}: an empty CSRF token");
        let names: Vec<String> = page.set_cookies().into_iter().map(|c| c.name).collect();
        assert_eq!(names, [CSRF], "{path} sets only the CSRF cookie:\n{page:?}");
        page.expect_cookie(CSRF).assert_default_attributes();
        assert!(b.cookie(SESSION).is_none(), "no session cookie");
        // The second visit keeps the token and sets nothing.
        let again = b.get(path).await;
        again.assert_status(200);
        assert_eq!(
            again.csrf_token(),
            token,
            "{path}: the CSRF token is stable"
        );
        assert!(
            again.set_cookies().is_empty(),
            "{path}: nothing to set:\n{again:?}"
        );
        // Still a guest, and nothing set.
        let home = b.get("/").await;
        home.assert_status(200).assert_contains("Hello, guest!");
        assert!(home.set_cookies().is_empty(), "{home:?}");
    }
}

/// Responses that set a cookie carry `Cache-Control: no-store` (checked on every response by the
/// harness); responses that read the session carry `Vary: Cookie`.
pub(crate) async fn responses_carry_cache_and_vary_headers(framework: Framework) {
    let server = framework.start().await;
    let anon = server.browser();
    let assert_vary = |page: &Page| {
        assert!(page.varies_on_cookie(), "Vary: Cookie expected:\n{page:?}");
    };

    for path in ["/", "/login", "/register", "/dashboard", "/api/me"] {
        assert_vary(&anon.get(path).await);
    }
    assert_vary(&anon.get_json("/dashboard").await);

    let b = server.register("alice", PASSWORD).await;
    for path in [
        "/",
        "/dashboard",
        "/settings",
        "/sessions",
        "/cart",
        "/api/me",
    ] {
        let page = b.get(path).await;
        page.assert_status(200);
        assert_vary(&page);
    }

    // The login response sets cookies: no-store (also enforced by the harness on every page).
    let c = server.browser();
    let login = c.login("alice", PASSWORD, true, None).await;
    login.assert_redirect("/dashboard");
    assert!(login.cache_control_no_store(), "{login:?}");
    assert_vary(&login);
    let logout = c.logout().await;
    assert!(logout.cache_control_no_store(), "{logout:?}");
}
