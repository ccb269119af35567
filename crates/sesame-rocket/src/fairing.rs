//! The fairing: steps 1 and 4 of the request lifecycle, once per request.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rocket::catcher::Catcher;
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::figment::Figment;
use rocket::serde::Deserialize;
use rocket::{Build, Data, Request, Response, Rocket};
use sesame::{
    AuthSession, Backend, Config, ConfigBuilder, ConfigError, Finish, Protection, RequestInfo,
    SameSite, Sesame, Session,
};

use crate::catcher::{CAUGHT, catcher};
use crate::response::rejection_response;

/// Installs Sesame on a Rocket application. Attach it once:
/// `rocket::build().attach(SesameFairing::new(sesame))` (or [`crate::fairing`]), or, to read
/// Sesame's settings from Rocket's configuration, [`SesameFairing::from_figment`].
///
/// * On ignite, it manages the [`Sesame<B>`] as state (unless the application already manages
///   one), so that handlers can take `&State<Sesame<B>>`, and marks itself attached for the
///   guards' [`Sentinel`](rocket::Sentinel)s. It registers Sesame's catchers at the root for
///   those of `401`, `403`, `429`, `500` and `503` that the application has no root catcher
///   for; see [Catchers](crate#catchers).
/// * On every request, it reads what the core needs (method, path and query, client IP,
///   `User-Agent`, `Accept`, `Content-Type`, `Authorization`, the raw `Cookie` headers) and
///   begins the request with [`Sesame::begin`], which does no I/O: sessions are lazy. The
///   handles are cached in the request for the guards.
/// * On every response, error responses and catchers' included, it finishes the session with
///   [`Session::finish`] and writes what the core decided: each `Set-Cookie` (appended, as
///   Rocket's cookie jar has already been written by then), `Vary: Cookie`, and
///   `Cache-Control: no-store`. When finishing fails (the store is down), the response is
///   replaced by the core's rejection (`503`), with no `Set-Cookie`.
///
/// The fairing is a singleton per backend type: attaching a second `SesameFairing<B>` replaces
/// the first.
///
/// See the [crate docs](crate) for an example.
#[must_use]
pub struct SesameFairing<B: Backend> {
    inner: Arc<Inner<B>>,
    csrf_exempt: Arc<Vec<String>>,
    csrf_form_posts: Arc<Vec<String>>,
}

struct Inner<B: Backend> {
    /// Set by the constructor, or at ignite from Rocket's configuration.
    sesame: OnceLock<Sesame<B>>,
    /// What [`SesameFairing::from_figment`] builds the [`Sesame<B>`] with, at ignite.
    pending: Mutex<Option<Pending<B>>>,
    /// Made by [`SesameFairing::from_figment`]: the `sesame` table is read, not ignored.
    from_figment: bool,
}

type Make<B> = Box<dyn FnOnce(ConfigBuilder) -> Result<Sesame<B>, ConfigError> + Send>;

struct Pending<B: Backend> {
    secret: Option<Vec<u8>>,
    make: Make<B>,
}

impl<B: Backend> SesameFairing<B> {
    /// Opts the requests to `path` out of the CSRF check the fairing makes on every unsafe
    /// method (SECURITY.md 52): an exact path, or a prefix ending in `/*` (`/webhooks/*`),
    /// without the query. Take [`CsrfData`](crate::CsrfData) as such a route's data to check
    /// its form (multipart, or large) in the handler's guards instead; a route that does
    /// neither gets no CSRF protection from Sesame. See [`crate::csrf`].
    pub fn csrf_exempt(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.csrf_exempt).push(path.into());
        self
    }

    /// Declares that the `POST` routes at `path` (exact, or a prefix ending in `/*`) take
    /// [`CsrfData`](crate::CsrfData) as their data, which checks their CSRF token (wherever it
    /// lies in the form, multipart included): the fairing leaves those `POST`s to the guard,
    /// and still checks every other unsafe method there. A `POST` route at such a path that
    /// does not use `CsrfData` gets no CSRF protection. See [`crate::csrf`].
    pub fn csrf_form_posts(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.csrf_form_posts).push(path.into());
        self
    }

    /// A fairing that runs every request through `sesame`.
    pub fn new(sesame: Sesame<B>) -> Self {
        Self {
            inner: Arc::new(Inner {
                sesame: OnceLock::from(sesame),
                pending: Mutex::new(None),
                from_figment: false,
            }),
            csrf_exempt: Arc::default(),
            csrf_form_posts: Arc::default(),
        }
    }

    /// A fairing that builds its [`Sesame<B>`] at ignite, from the `sesame` table of Rocket's
    /// configuration ([`Rocket::figment`]: `Rocket.toml`, `ROCKET_SESAME`, or the figment given
    /// to [`rocket::custom`]).
    ///
    /// `make` receives a [`ConfigBuilder`] with the table's values applied, sets in code what
    /// the configuration file should not decide (anything it sets wins over the file), and
    /// builds the [`Sesame<B>`] with the backend and the store. The secret key is `secret`, or
    /// the table's `secret_key` (hex, at least 64 bytes) which takes precedence; keep it out of
    /// `Rocket.toml` unless that file is as secret as the key.
    ///
    /// | key | type | [`ConfigBuilder`] method |
    /// | --- | --- | --- |
    /// | `secret_key` | hex string | the secret, instead of `secret` |
    /// | `idle_timeout`, `absolute_timeout`, `remember_duration` | seconds | same name |
    /// | `login_view`, `refresh_view` | path | same name |
    /// | `secure` | bool | [`secure`](ConfigBuilder::secure) |
    /// | `same_site` | `"strict"`, `"lax"`, `"none"` | [`same_site`](ConfigBuilder::same_site) |
    /// | `protection` | `"off"`, `"basic"`, `"strong"` | [`protection`](ConfigBuilder::protection) |
    /// | `cookie_name` | string | [`cookie_name`](ConfigBuilder::cookie_name) |
    /// | `trusted_proxies` | list of addresses or CIDR ranges | [`trusted_proxies`](ConfigBuilder::trusted_proxies) |
    ///
    /// ```toml
    /// [default.sesame]
    /// idle_timeout = 900
    /// login_view = "/login"
    /// protection = "strong"
    ///
    /// [debug.sesame]
    /// secure = false # plain-HTTP development server; logged as a warning
    /// ```
    ///
    /// An unknown key, a value of the wrong type, a missing secret key, or a configuration the
    /// core refuses ([`ConfigError`]) stops the launch, with the reason in the log.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use rocket::figment::Figment;
    /// use sesame::{Config, Sesame, testing::TestBackend};
    ///
    /// let secret = Config::generate_secret(); // read from your secret store
    /// let fairing = sesame_rocket::SesameFairing::from_figment(Some(&secret), |config| {
    ///     Ok(Sesame::builder(config.build()?, TestBackend::default()).build())
    /// });
    /// // In an application, Rocket.toml; here, the same values merged in.
    /// let figment = rocket::Config::figment()
    ///     .merge(("sesame.idle_timeout", 900))
    ///     .merge(("sesame.login_view", "/login"));
    /// let rocket = rocket::custom(figment).attach(fairing.clone()).ignite().await?;
    /// let sesame = fairing.sesame().expect("built at ignite");
    /// assert_eq!(sesame.config().idle_timeout().as_secs(), 900);
    /// assert_eq!(sesame.config().login_view(), Some("/login"));
    /// # let _ = rocket;
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    pub fn from_figment<F>(secret: Option<&[u8]>, make: F) -> Self
    where
        F: FnOnce(ConfigBuilder) -> Result<Sesame<B>, ConfigError> + Send + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                sesame: OnceLock::new(),
                pending: Mutex::new(Some(Pending {
                    secret: secret.map(<[u8]>::to_vec),
                    make: Box::new(make),
                })),
                from_figment: true,
            }),
            csrf_exempt: Arc::default(),
            csrf_form_posts: Arc::default(),
        }
    }

    /// The shared Sesame state; for a fairing made by [`SesameFairing::from_figment`], only
    /// once Rocket has ignited.
    pub fn sesame(&self) -> Option<&Sesame<B>> {
        self.inner.sesame.get()
    }

    /// The [`Sesame<B>`], built from `figment` if the constructor did not give it.
    fn ready(&self, figment: &Figment) -> Result<&Sesame<B>, String> {
        if let Some(sesame) = self.inner.sesame.get() {
            if !self.inner.from_figment && figment.contains(SETTINGS) {
                tracing::warn!(
                    "sesame-rocket: the `{SETTINGS}` table of Rocket's configuration is ignored: \
                     the fairing was given a built Sesame (use `SesameFairing::from_figment` to \
                     read it)"
                );
            }
            return Ok(sesame);
        }
        let pending = self.inner.pending.lock().ok().and_then(|mut p| p.take());
        let Some(Pending { secret, make }) = pending else {
            return Err("the fairing's configuration was already consumed".to_owned());
        };
        let settings = Settings::from_figment(figment)?;
        let sesame = settings.builder(secret).and_then(|builder| {
            make(builder).map_err(|error| format!("invalid Sesame configuration: {error}"))
        })?;
        Ok(self.inner.sesame.get_or_init(|| sesame))
    }
}

/// Shorthand for [`SesameFairing::new`].
///
/// ```
/// use sesame::{Config, Sesame, testing::TestBackend};
///
/// # fn main() -> Result<(), sesame::ConfigError> {
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let rocket = rocket::build().attach(sesame_rocket::fairing(sesame));
/// # let _ = rocket;
/// # Ok(())
/// # }
/// ```
pub fn fairing<B: Backend>(sesame: Sesame<B>) -> SesameFairing<B> {
    SesameFairing::new(sesame)
}

/// Shorthand for [`SesameFairing::from_figment`].
pub fn fairing_from_figment<B, F>(secret: Option<&[u8]>, make: F) -> SesameFairing<B>
where
    B: Backend,
    F: FnOnce(ConfigBuilder) -> Result<Sesame<B>, ConfigError> + Send + 'static,
{
    SesameFairing::from_figment(secret, make)
}

impl<B: Backend> Clone for SesameFairing<B> {
    /// Another handle on the same fairing: a clone sees the [`Sesame<B>`] built at ignite.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            csrf_exempt: self.csrf_exempt.clone(),
            csrf_form_posts: self.csrf_form_posts.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for SesameFairing<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesameFairing")
            .field("sesame", &self.inner.sesame.get())
            .finish_non_exhaustive()
    }
}

/// The key of Sesame's table in Rocket's configuration.
const SETTINGS: &str = "sesame";

/// Sesame's table in Rocket's configuration; see [`SesameFairing::from_figment`].
#[derive(Debug, Default, Deserialize)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
struct Settings {
    secret_key: Option<String>,
    idle_timeout: Option<u64>,
    absolute_timeout: Option<u64>,
    remember_duration: Option<u64>,
    login_view: Option<String>,
    refresh_view: Option<String>,
    secure: Option<bool>,
    same_site: Option<SameSiteName>,
    protection: Option<ProtectionName>,
    cookie_name: Option<String>,
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
enum SameSiteName {
    Strict,
    Lax,
    None,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(crate = "rocket::serde", rename_all = "lowercase")]
enum ProtectionName {
    Off,
    Basic,
    Strong,
}

impl Settings {
    fn from_figment(figment: &Figment) -> Result<Self, String> {
        if !figment.contains(SETTINGS) {
            return Ok(Self::default());
        }
        figment
            .extract_inner(SETTINGS)
            .map_err(|error| format!("invalid `{SETTINGS}` configuration: {error}"))
    }

    /// A builder with the secret key and these settings applied.
    fn builder(self, secret: Option<Vec<u8>>) -> Result<ConfigBuilder, String> {
        let secret = match (&self.secret_key, secret) {
            (Some(hex), _) => sesame::decode_hex_secret(hex)
                .map_err(|error| format!("invalid `{SETTINGS}.secret_key`: {error}"))?,
            (None, Some(secret)) => secret,
            (None, None) => {
                return Err(format!(
                    "no secret key: pass one to `SesameFairing::from_figment`, or set \
                     `{SETTINGS}.secret_key` (hex) in Rocket's configuration"
                ));
            }
        };
        let secs = Duration::from_secs;
        let mut builder = Config::builder(&secret);
        if let Some(s) = self.idle_timeout {
            builder = builder.idle_timeout(secs(s));
        }
        if let Some(s) = self.absolute_timeout {
            builder = builder.absolute_timeout(secs(s));
        }
        if let Some(s) = self.remember_duration {
            builder = builder.remember_duration(secs(s));
        }
        if let Some(path) = self.login_view {
            builder = builder.login_view(path);
        }
        if let Some(path) = self.refresh_view {
            builder = builder.refresh_view(path);
        }
        if let Some(secure) = self.secure {
            builder = builder.secure(secure);
        }
        if let Some(same_site) = self.same_site {
            builder = builder.same_site(match same_site {
                SameSiteName::Strict => SameSite::Strict,
                SameSiteName::Lax => SameSite::Lax,
                SameSiteName::None => SameSite::None,
            });
        }
        if let Some(protection) = self.protection {
            builder = builder.protection(match protection {
                ProtectionName::Off => Protection::Off,
                ProtectionName::Basic => Protection::Basic,
                ProtectionName::Strong => Protection::Strong,
            });
        }
        if let Some(name) = self.cookie_name {
            builder = builder.cookie_name(name);
        }
        if let Some(proxies) = self.trusted_proxies {
            builder = builder.trusted_proxies(proxies);
        }
        Ok(builder)
    }
}

/// Managed state saying that a [`SesameFairing<B>`] is attached; the guards' sentinels look
/// for it.
pub(crate) struct Attached<B>(PhantomData<fn() -> B>);

/// The handles of one request, cached in the request by [`SesameFairing::on_request`].
pub(crate) struct Begun<B: Backend> {
    pub(crate) session: Session,
    pub(crate) auth: AuthSession<B>,
}

/// The request's handles, if the fairing began the request.
pub(crate) fn begun<'r, B: Backend>(request: &'r Request<'_>) -> Option<&'r Begun<B>> {
    request.local_cache(|| None::<Begun<B>>).as_ref()
}

#[rocket::async_trait]
impl<B: Backend> Fairing for SesameFairing<B> {
    fn info(&self) -> Info {
        Info {
            name: "Sesame",
            kind: Kind::Ignite | Kind::Request | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let sesame = match self.ready(rocket.figment()) {
            Ok(sesame) => sesame.clone(),
            Err(message) => {
                tracing::error!("sesame-rocket: {message}");
                return Err(rocket);
            }
        };
        let mut rocket = register_catchers(rocket).mount("/", crate::csrf::refusal_routes());
        if rocket.state::<Sesame<B>>().is_none() {
            rocket = rocket.manage(sesame);
        }
        if rocket.state::<Attached<B>>().is_none() {
            rocket = rocket.manage(Attached::<B>(PhantomData));
        }
        Ok(rocket)
    }

    async fn on_request(&self, request: &mut Request<'_>, data: &mut Data<'_>) {
        let Some(sesame) = self.inner.sesame.get() else {
            return; // Ignite failed.
        };
        request.local_cache(|| Some(begin(sesame, request)));
        let path = request.uri().path();
        if !crate::csrf::is_unsafe(request)
            || sesame_http::is_csrf_exempt(&self.csrf_exempt, path.as_str())
            || (request.method() == rocket::http::Method::Post
                && sesame_http::is_csrf_exempt(&self.csrf_form_posts, path.as_str()))
        {
            return;
        }
        let Some(begun) = begun::<B>(request) else {
            return;
        };
        let auth = begun.auth.clone();
        if let Err(rejection) = crate::csrf::check_in_fairing(&auth, request, data).await {
            crate::csrf::reroute(request, rejection);
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Some(begun) = begun::<B>(request) else {
            return;
        };
        let status = response.status().code;
        let mut finish = begun.session.finish(status).await;
        // The core logged the failure as it decided the replacement.
        if let Some(rejection) = finish.replacement.take() {
            *response = rejection_response(rejection);
        }
        apply_finish(response, finish);
    }
}

/// Registers Sesame's catchers, at the root, for the statuses its guards fail with that the
/// application has no root catcher for. Each falls back to the application's root default
/// catcher, or to Rocket's, for errors that are not a refusal by a guard of this crate.
fn register_catchers(rocket: Rocket<Build>) -> Rocket<Build> {
    let at_root = |c: &Catcher| c.base == "/";
    let fallback = rocket
        .catchers()
        .find(|c| c.code.is_none() && at_root(c))
        .map_or_else(|| Catcher::default().handler, |c| c.handler.clone());
    let missing: Vec<Catcher> = CAUGHT
        .iter()
        .filter(|&&code| {
            !rocket
                .catchers()
                .any(|c| c.code == Some(code) && at_root(c))
        })
        .map(|&code| catcher(code, fallback.clone()))
        .collect();
    let kept: Vec<u16> = CAUGHT
        .iter()
        .copied()
        .filter(|code| !missing.iter().any(|c| c.code == Some(*code)))
        .collect();
    if !kept.is_empty() {
        tracing::info!(
            "sesame-rocket: the application's own root catchers for {kept:?} also answer the \
             refusals of Sesame's guards; they keep the core's answer (such as the login \
             redirect, which a guard fails with 401 for) only if they call \
             `sesame_rocket::rejection`"
        );
    }
    if missing.is_empty() {
        rocket
    } else {
        rocket.register("/", missing)
    }
}

/// The request headers [`begin`] reads, as bits of a mask.
const HEADERS: [&str; 7] = [
    "X-Forwarded-For",
    "Forwarded",
    "User-Agent",
    "Accept",
    "Content-Type",
    "Authorization",
    "Cookie",
];

/// Which of [`HEADERS`] the request has, in one pass over its header names: Rocket's header
/// lookups hash their (case-insensitive) name, and most of these headers are absent from most
/// requests, so only the present ones are looked up.
fn present_headers(request: &Request<'_>) -> u8 {
    let mut mask = 0u8;
    for header in request.headers().iter() {
        let name = header.name().as_str();
        if let Some(bit) = HEADERS.iter().position(|h| h.eq_ignore_ascii_case(name)) {
            mask |= 1 << bit;
        }
    }
    mask
}

/// Step 1: what the core reads off a request, handed to [`Sesame::begin`].
fn begin<B: Backend>(sesame: &Sesame<B>, request: &Request<'_>) -> Begun<B> {
    let headers = request.headers();
    let present = present_headers(request);
    let has = |name: &str| {
        HEADERS
            .iter()
            .position(|h| *h == name)
            .is_some_and(|bit| present & (1 << bit) != 0)
    };
    let values = |name: &'static str| {
        has(name)
            .then(|| headers.get(name).map(str::as_bytes))
            .into_iter()
            .flatten()
    };
    let one = |name: &'static str| {
        if has(name) {
            headers.get_one(name)
        } else {
            None
        }
    };
    // The path and query as the client sent them, without formatting the URI anew.
    let uri = request.uri();
    let path_and_query = match uri.query() {
        None => std::borrow::Cow::Borrowed(uri.path().as_str()),
        Some(query) => {
            std::borrow::Cow::Owned(format!("{}?{}", uri.path().as_str(), query.as_str()))
        }
    };
    let info = RequestInfo::new(request.method().as_str(), &path_and_query)
        // The socket peer, never `client_ip()`/`real_ip()`: those follow Rocket's `ip_header`
        // (`X-Real-IP` by default), which any client can send. Whether to believe the
        // forwarding headers is the core's decision (trusted proxies in `sesame::Config`).
        .client_addr(request.remote().map(|addr| addr.ip()))
        .x_forwarded_for_values(values("X-Forwarded-For"))
        .forwarded_values(values("Forwarded"))
        .user_agent(one("User-Agent"))
        .accept_values(values("Accept"))
        .content_type(one("Content-Type"))
        .authorization(one("Authorization"))
        .kept_headers(sesame.config(), |name| headers.get(name).map(str::as_bytes));
    let (session, auth) = if has("Cookie") {
        sesame.begin(info, headers.get("Cookie").map(str::as_bytes))
    } else {
        // Rocket's local `Client` hands its tracked cookies over in the request's cookie jar,
        // without a `Cookie` header. On a real connection the jar is parsed from the `Cookie`
        // headers, so without them it is empty and this reads nothing.
        let jar = request
            .cookies()
            .iter()
            .map(|c| c.stripped().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        sesame.begin(info, (!jar.is_empty()).then_some(jar.as_bytes()))
    };
    Begun { session, auth }
}

/// Step 4: writes what [`Session::finish`] decided onto the response.
fn apply_finish(response: &mut Response<'_>, finish: Finish) {
    let add_vary = finish.needs_vary(response.headers().get("Vary").map(str::as_bytes));
    for cookie in finish.set_cookies {
        response.adjoin_raw_header("Set-Cookie", cookie);
    }
    if add_vary {
        response.adjoin_raw_header("Vary", "Cookie");
    }
    if finish.no_store {
        response.set_raw_header("Cache-Control", "no-store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_appends_vary_and_cookies() {
        let mut response = Response::build()
            .raw_header("Vary", "Accept-Encoding")
            .raw_header("Cache-Control", "public, max-age=60")
            .finalize();
        apply_finish(
            &mut response,
            Finish {
                set_cookies: vec!["a=1; Path=/".into(), "b=2".into()],
                vary_cookie: true,
                no_store: true,
                ..Finish::default()
            },
        );
        let headers = response.headers();
        assert_eq!(
            headers.get("Set-Cookie").collect::<Vec<_>>(),
            ["a=1; Path=/", "b=2"]
        );
        assert_eq!(
            headers.get("Vary").collect::<Vec<_>>(),
            ["Accept-Encoding", "Cookie"]
        );
        assert_eq!(
            headers.get("Cache-Control").collect::<Vec<_>>(),
            ["no-store"]
        );
    }

    #[test]
    fn finish_does_not_repeat_vary_cookie() {
        for existing in ["cookie", "Accept, Cookie", "*"] {
            let mut response = Response::build().raw_header("Vary", existing).finalize();
            apply_finish(
                &mut response,
                Finish {
                    vary_cookie: true,
                    ..Finish::default()
                },
            );
            assert_eq!(
                response.headers().get("Vary").collect::<Vec<_>>(),
                [existing]
            );
        }
    }

    #[test]
    fn nothing_to_do() {
        let mut response = Response::new();
        apply_finish(&mut response, Finish::default());
        assert!(response.headers().is_empty());
    }
}
