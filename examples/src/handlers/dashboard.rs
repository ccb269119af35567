//! The dashboard, the cart kept in the session, and the JSON API.

use sesame::Rejection;

use crate::app::{Demo, DemoAuth, Outcome, cart_items, frame, parse_form, unavailable};
use crate::forms::{self, MAX_CART_ITEMS};
use crate::pages::{self, Errors};
use crate::reply::Reply;
use crate::users::DemoUser;

impl Demo {
    /// `GET /dashboard` (login required: the framework's current-user extractor, guard or
    /// filter hands over `user`): the username, the session, the cart, API tokens.
    pub async fn dashboard(&self, auth: &DemoAuth, user: &DemoUser) -> Reply {
        self.run(self.dashboard_page(auth, user, 200, "", &Errors::default()))
            .await
    }

    async fn dashboard_page(
        &self,
        auth: &DemoAuth,
        user: &DemoUser,
        status: u16,
        item: &str,
        errors: &Errors,
    ) -> Outcome {
        let (frame, _) = frame(auth).await?;
        let csrf = auth.session().csrf_token().await?;
        let info = pages::DashboardInfo {
            user,
            csrf: &csrf,
            cart_items: cart_items(auth).await?.len(),
            fresh: auth.is_fresh().await?,
            remembered: auth.is_remembered().await?,
            item,
        };
        Ok(Reply::html(status, pages::dashboard(&frame, &info, errors)))
    }

    /// `POST /cart` (login required, `user`): appends `item` to the cart in the session
    /// (concurrent posts lose none); `303` to `/cart`, or `422` (the dashboard with the
    /// message, or JSON for JSON clients).
    pub async fn add_to_cart(&self, auth: &DemoAuth, user: &DemoUser, body: &[u8]) -> Reply {
        self.run(async {
            let form: forms::AddToCart = match parse_form(body) {
                Ok(f) => f,
                Err(reply) => return Ok(reply),
            };
            let item = form.item.as_str();
            let problem = match forms::check_item(item) {
                Some(p) => Some(p),
                None if cart_items(auth).await?.len() >= MAX_CART_ITEMS => {
                    Some("Your cart is full (100 items).")
                }
                None => None,
            };
            if let Some(message) = problem {
                if auth.session().request().wants_json() {
                    return Ok(Reply::json(
                        422,
                        serde_json::json!({ "error": "invalid item", "field": "item", "message": message }),
                    ));
                }
                let mut errors = Errors::default();
                errors.add("item", message);
                return self.dashboard_page(auth, user, 422, item, &errors).await;
            }
            auth.session().push("cart", item).await?;
            Ok(Reply::Redirect("/cart".into()))
        })
        .await
    }

    /// `GET /cart` (login required, by the framework's login-required layer, middleware,
    /// guard or filter): `{"items": [...]}`.
    pub async fn cart(&self, auth: &DemoAuth) -> Reply {
        self.run(async {
            let items = cart_items(auth).await?;
            Ok(Reply::json(200, serde_json::json!({ "items": items })))
        })
        .await
    }

    /// `GET /api/me`, given the current user if any (the framework's optional-user extractor,
    /// guard or filter): `{"username": ...}` for a session or a bearer token, else `401`
    /// `{"error": "unauthorized"}` (never a redirect).
    pub fn api_me(user: Option<&DemoUser>) -> Reply {
        match user {
            Some(u) => Reply::json(200, serde_json::json!({ "username": u.username })),
            None => Reply::Reject(Rejection::unauthorized_json()),
        }
    }

    /// `POST /api/tokens` (login required, `user`): a new API token, `{"token": ...}`.
    ///
    /// A request the request loader authenticated (a bearer token, no cookie session) needs no
    /// CSRF token (a cross-site form cannot set that header); a cookie-authenticated request is
    /// a form post like any other and must carry `csrf_token`, whatever `Authorization` header
    /// comes with it (SECURITY.md 49). Sesame's glue decides both before this runs, and answers
    /// a wrong bearer token `401`.
    pub async fn create_token(&self, user: &DemoUser) -> Reply {
        match self.users().create_token(user).await {
            Ok(token) => Reply::json(200, serde_json::json!({ "token": token })),
            Err(e) => Reply::Reject(unavailable(&e)),
        }
    }
}
