//! The harness: start the demo served by one framework on port 0, and talk to it like a browser.
//!
//! Every response goes through [`Page::new`], which checks the invariants that hold for every
//! request of every scenario: never a `5xx`; a response that sets a cookie carries
//! `Cache-Control: no-store` and `Vary: Cookie`.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use sesame::Clock as _;
use sesame::testing::MockClock;
use sesame_demo::{Demo, Settings};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The session cookie's name: the demo's test settings have `Secure` off (plain-http loopback),
/// so there is no `__Host-` prefix.
pub(crate) const SESSION: &str = "sesame";
/// The remember-me cookie's name.
pub(crate) const REMEMBER: &str = "sesame-remember";
/// The anonymous CSRF (double-submit) cookie's name.
pub(crate) const CSRF: &str = "sesame-csrf";
/// The cookie that carries an anonymous visitor's flashed messages (so that flashing creates no
/// session).
pub(crate) const FLASH: &str = "sesame-flash";
/// The device cookie's name: set at each successful password check and kept across logout, it
/// gives a client that logged in as a user before its own login-throttle budget.
pub(crate) const DEVICE: &str = "sesame-device";

/// The password the scenarios give their users.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// No scenario takes this long; one that does is stuck, and fails instead of hanging the run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs one scenario, failing it if it hangs.
pub(crate) async fn run(scenario: impl Future<Output = ()>) {
    if tokio::time::timeout(SCENARIO_TIMEOUT, scenario)
        .await
        .is_err()
    {
        panic!("the scenario did not finish within {SCENARIO_TIMEOUT:?}");
    }
}

/// What starting a framework gives: the address it listens on, and the server task.
pub(crate) type Started = io::Result<(SocketAddr, JoinHandle<io::Result<()>>)>;
/// The future of [`Started`].
pub(crate) type StartFuture = Pin<Box<dyn Future<Output = Started> + Send>>;

/// A framework under test: a name, and how to start the demo on it, listening on an address
/// (`127.0.0.1:0`).
#[derive(Clone, Copy)]
pub(crate) struct Framework {
    name: &'static str,
    start: fn(SocketAddr, Demo) -> StartFuture,
}

impl fmt::Debug for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Starts a demo entry point of the shape `serve(tokio::net::TcpListener, Demo)` (axum, Poem,
/// warp): binds `addr` and spawns it.
pub(crate) async fn on_listener<F>(
    addr: SocketAddr,
    demo: Demo,
    serve: impl FnOnce(TcpListener, Demo) -> F,
) -> Started
where
    F: Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((bound, tokio::spawn(serve(listener, demo))))
}

/// The reference framework, axum: scenarios that compare answers byte for byte compare with it.
pub(crate) const REFERENCE: Framework = Framework::new("axum (reference)", |addr, demo| {
    Box::pin(on_listener(addr, demo, sesame_demo::axum_app::serve))
});

impl Framework {
    /// A framework named `name` (the test module's name), started by `start`.
    pub(crate) const fn new(
        name: &'static str,
        start: fn(SocketAddr, Demo) -> StartFuture,
    ) -> Self {
        Self { name, start }
    }

    /// Starts the demo with the test settings on `addr`, and stops it at once: the start-up's
    /// error, if any.
    pub(crate) async fn try_start_on(self, addr: SocketAddr) -> io::Result<()> {
        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        let demo = Demo::open(Settings::for_tests(data_dir.path()))
            .unwrap_or_else(|e| panic!("{}: the demo fails to open: {e}", self.name));
        let (_, task) = (self.start)(addr, demo).await?;
        task.abort();
        Ok(())
    }

    /// Starts the demo with the test settings.
    pub(crate) async fn start(self) -> Server {
        self.start_with(|_| {}).await
    }

    /// Starts the demo with the test settings adjusted by `adjust`. The clock is always a
    /// [`MockClock`] (starting at the real time), moved by [`Server::advance`].
    pub(crate) async fn start_with(self, adjust: impl FnOnce(&mut Settings)) -> Server {
        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        let clock = MockClock::new(sesame::SystemClock.now());
        let mut settings = Settings::for_tests(data_dir.path());
        settings.clock = Some(Arc::new(clock.clone()));
        adjust(&mut settings);
        let addr = settings.addr;
        let demo = Demo::open(settings)
            .unwrap_or_else(|e| panic!("{}: the demo fails to open: {e}", self.name));
        self.serve(addr, demo, clock, Arc::new(data_dir)).await
    }

    /// Serves `demo` on `addr`.
    async fn serve(
        self,
        addr: SocketAddr,
        demo: Demo,
        clock: MockClock,
        data_dir: Arc<TempDir>,
    ) -> Server {
        let (addr, task) = (self.start)(addr, demo.clone())
            .await
            .unwrap_or_else(|e| panic!("{}: the demo fails to start: {e}", self.name));
        Server {
            framework: self,
            base: Url::parse(&format!("http://{addr}/")).expect("a base URL"),
            clock,
            demo,
            task,
            _data_dir: data_dir,
        }
    }
}

/// A running demo. Dropping it stops the server and deletes its data directory.
#[derive(Debug)]
pub(crate) struct Server {
    framework: Framework,
    base: Url,
    /// The server's clock: [`Server::advance`] moves time without sleeping.
    clock: MockClock,
    demo: Demo,
    task: JoinHandle<io::Result<()>>,
    _data_dir: Arc<TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// The same demo (one store, one key, one clock) served by `framework` too, on another
    /// port: to compare two frameworks' answers byte for byte.
    pub(crate) async fn also_served_by(&self, framework: Framework) -> Server {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        framework
            .serve(
                addr,
                self.demo.clone(),
                self.clock.clone(),
                Arc::clone(&self._data_dir),
            )
            .await
    }

    /// Moves the server's clock forward.
    pub(crate) fn advance(&self, by: Duration) {
        self.clock
            .advance(i64::try_from(by.as_secs()).expect("a sane duration"));
    }

    /// Now on the server's clock, in Unix seconds.
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(sesame::Clock::now(&self.clock)).expect("a time after 1970")
    }

    /// A new browser: a client with its own cookie store.
    pub(crate) fn browser(&self) -> Browser {
        Browser::new(self, true)
    }

    /// A new client without a cookie store: it sends exactly the `Cookie` headers it is given.
    pub(crate) fn raw(&self) -> Browser {
        Browser::new(self, false)
    }

    /// Registers `username` (with `username@example.com` and `password`) in a new browser, which
    /// is then logged in.
    pub(crate) async fn register(&self, username: &str, password: &str) -> Browser {
        let b = self.browser();
        let page = b
            .register(username, &format!("{username}@example.com"), password)
            .await;
        page.assert_redirect("/dashboard");
        b
    }

    /// Registers `username` (password [`PASSWORD`]) and returns a browser logged in as them,
    /// with a remember-me cookie if asked.
    pub(crate) async fn login_new(&self, username: &str, remember: bool) -> Browser {
        let b = self.register(username, PASSWORD).await;
        if remember {
            b.login(username, PASSWORD, true, None)
                .await
                .assert_redirect("/dashboard");
        }
        b
    }

    /// Logs `username` in from a new browser.
    pub(crate) async fn login(&self, username: &str, password: &str, remember: bool) -> Browser {
        let b = self.browser();
        b.login(username, password, remember, None)
            .await
            .assert_redirect("/dashboard");
        b
    }
}

/// The user agent browsers send unless told otherwise.
pub(crate) const USER_AGENT: &str = "Mozilla/5.0 (sesame-conformance)";

/// An HTTP client of one server: a browser (own cookie store) or a raw client (no cookie store).
#[derive(Clone)]
pub(crate) struct Browser {
    framework: Framework,
    base: Url,
    client: reqwest::Client,
    jar: Option<Arc<Jar>>,
    user_agent: Arc<Mutex<String>>,
    /// Headers sent with every request from now on (see [`Browser::set_headers`]).
    extra_headers: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("framework", &self.framework)
            .field("base", &self.base.as_str())
            .field("cookies", &self.cookie_header())
            .finish()
    }
}

impl Browser {
    fn new(server: &Server, cookie_store: bool) -> Self {
        let jar = cookie_store.then(|| Arc::new(Jar::default()));
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(30));
        if let Some(jar) = &jar {
            builder = builder.cookie_provider(Arc::clone(jar));
        }
        Self {
            framework: server.framework,
            base: server.base.clone(),
            client: builder.build().expect("a reqwest client"),
            jar,
            user_agent: Arc::new(Mutex::new(USER_AGENT.to_owned())),
            extra_headers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("a valid path")
    }

    /// Changes the `User-Agent` this browser sends from now on.
    pub(crate) fn set_user_agent(&self, ua: &str) {
        *self.user_agent.lock().expect("not poisoned") = ua.to_owned();
    }

    /// Sends exactly these extra headers (name, value) with every request from now on, in
    /// place of those set before (e.g. `X-Forwarded-For`, as a client or a proxy would).
    pub(crate) fn set_headers(&self, headers: &[(&'static str, &str)]) {
        *self.extra_headers.lock().expect("not poisoned") = headers
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
    }

    /// A request to `path`, with this browser's user agent and extra headers; send it with
    /// [`Browser::send`].
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let ua = self.user_agent.lock().expect("not poisoned").clone();
        let mut rb = self
            .client
            .request(method, self.url(path))
            .header(header::USER_AGENT, ua);
        for (name, value) in self.extra_headers.lock().expect("not poisoned").iter() {
            rb = rb.header(*name, value.as_str());
        }
        rb
    }

    /// Sends a request built by [`Browser::request`] and checks the invariants of every response.
    pub(crate) async fn send(&self, rb: RequestBuilder) -> Page {
        self.try_send(rb)
            .await
            .unwrap_or_else(|(what, e)| panic!("{what}: {e}"))
    }

    /// Like [`Browser::send`], for a request whose store operation a scenario made fail: the
    /// core's `503` is expected then (never another `5xx`), with the other invariants.
    pub(crate) async fn send_expecting_503(&self, rb: RequestBuilder) -> Page {
        let request = rb.build().expect("a valid request");
        let what = format!(
            "{}: {} {}",
            self.framework.name,
            request.method(),
            request.url().path()
        );
        let response = self
            .client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{what}: request failed: {}", chain(&e)));
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(
            status.as_u16(),
            503,
            "{what}: expected the core's 503:\n{body}"
        );
        Page::checked(what, status, headers, body)
    }

    /// Like [`Browser::send`], but a failure to get a response at all (the connection closed) is
    /// an `Err` with what was asked and the error chain, instead of a panic.
    pub(crate) async fn try_send(&self, rb: RequestBuilder) -> Result<Page, (String, String)> {
        let request = rb.build().expect("a valid request");
        let what = format!(
            "{}: {} {}",
            self.framework.name,
            request.method(),
            request.url().path()
        );
        let response = match self.client.execute(request).await {
            Ok(r) => r,
            Err(e) => return Err((what, format!("request failed: {}", chain(&e)))),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Err((what, format!("reading the body failed: {}", chain(&e)))),
        };
        Ok(Page::new(
            what,
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Page {
        self.send(self.request(Method::GET, path)).await
    }

    /// `GET path` with `Accept: application/json`.
    pub(crate) async fn get_json(&self, path: &str) -> Page {
        self.send(
            self.request(Method::GET, path)
                .header(header::ACCEPT, "application/json"),
        )
        .await
    }

    /// `GET path` with exactly `cookies` as its `Cookie` headers (one header per item).
    pub(crate) async fn get_with_cookies(&self, path: &str, cookies: &[impl AsRef<[u8]>]) -> Page {
        let mut rb = self.request(Method::GET, path);
        for c in cookies {
            let value = HeaderValue::from_bytes(c.as_ref()).unwrap_or_else(|e| {
                panic!(
                    "not a valid header value ({e}): {:?}",
                    String::from_utf8_lossy(c.as_ref())
                )
            });
            rb = rb.header(header::COOKIE, value);
        }
        self.send(rb).await
    }

    /// `POST path` with a urlencoded form.
    pub(crate) async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send(self.request(Method::POST, path).form(fields))
            .await
    }

    /// `POST path` with a raw body of the given content type.
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Page {
        self.send(
            self.request(Method::POST, path)
                .header(header::CONTENT_TYPE, content_type)
                .body(body.into()),
        )
        .await
    }

    /// The CSRF token of the form on the page at `path` (fetched now).
    pub(crate) async fn csrf_token(&self, path: &str) -> String {
        let page = self.get(path).await;
        page.assert_status(200);
        page.csrf_token()
    }

    /// `POST path` with `fields` plus the CSRF token found on the page at `form_page`.
    pub(crate) async fn submit(
        &self,
        form_page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let token = self.csrf_token(form_page).await;
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_form(path, &all).await
    }

    /// Fills in and posts the registration form.
    pub(crate) async fn register(&self, username: &str, email: &str, password: &str) -> Page {
        self.submit(
            "/register",
            "/register",
            &[
                ("username", username),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Fills in and posts the login form (with `remember=on` when asked, and a `next` if given).
    pub(crate) async fn login(
        &self,
        username: &str,
        password: &str,
        remember: bool,
        next: Option<&str>,
    ) -> Page {
        let mut fields = vec![("username", username), ("password", password)];
        if remember {
            fields.push(("remember", "on"));
        }
        if let Some(next) = next {
            fields.push(("next", next));
        }
        self.submit("/login", "/login", &fields).await
    }

    /// Posts the logout form.
    pub(crate) async fn logout(&self) -> Page {
        self.submit("/dashboard", "/logout", &[]).await
    }

    /// Whether this browser is logged in: `GET /api/me` answers 200 (else 401).
    pub(crate) async fn whoami(&self) -> Option<String> {
        let page = self.get_json("/api/me").await;
        match page.status.as_u16() {
            200 => Some(
                page.json()["username"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: no username in {}", page.what, page.body))
                    .to_owned(),
            ),
            401 => {
                assert_eq!(
                    page.json(),
                    serde_json::json!({"error": "unauthorized"}),
                    "{}",
                    page.what
                );
                None
            }
            _ => panic!("{page:?}: /api/me answers neither 200 nor 401"),
        }
    }

    /// Asserts that `GET /dashboard` shows `username`.
    pub(crate) async fn assert_logged_in_as(&self, username: &str) {
        let page = self.get("/dashboard").await;
        page.assert_status(200);
        page.assert_contains(username);
    }

    /// Asserts that `GET /dashboard` is the login-required redirect.
    pub(crate) async fn assert_anonymous(&self) {
        self.get("/dashboard")
            .await
            .assert_redirect("/login?next=%2Fdashboard");
    }

    /// The value of the cookie `name` in this browser's store.
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        let header = self.cookie_header()?;
        header.split(';').find_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            (n == name).then(|| v.to_owned())
        })
    }

    /// The `Cookie` header this browser would send.
    pub(crate) fn cookie_header(&self) -> Option<String> {
        let jar = self.jar.as_ref()?;
        let value = jar.cookies(&self.base)?;
        Some(value.to_str().expect("ASCII cookies").to_owned())
    }

    /// Puts a cookie into this browser's store, as a server would (`Path=/`).
    pub(crate) fn set_cookie(&self, name: &str, value: &str) {
        let jar = self.jar.as_ref().expect("a browser with a cookie store");
        jar.add_cookie_str(&format!("{name}={value}; Path=/"), &self.base);
    }
}

/// One `Set-Cookie` header, parsed.
#[derive(Debug, Clone)]
pub(crate) struct SetCookie {
    /// The raw header value.
    pub(crate) raw: String,
    /// The cookie's name.
    pub(crate) name: String,
    /// The cookie's value.
    pub(crate) value: String,
    attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    fn parse(raw: &str) -> Self {
        let mut parts = raw.split(';');
        let (name, value) = parts
            .next()
            .and_then(|p| p.split_once('='))
            .unwrap_or_else(|| panic!("a malformed Set-Cookie: {raw:?}"));
        let attributes = parts
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_owned())),
                None => (a.trim().to_ascii_lowercase(), None),
            })
            .collect();
        Self {
            raw: raw.to_owned(),
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attributes,
        }
    }

    /// Whether the attribute `name` (case-insensitive) is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The value of the attribute `name` (case-insensitive).
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    /// `Max-Age`, in seconds.
    pub(crate) fn max_age(&self) -> Option<i64> {
        self.attr("max-age").map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("a bad Max-Age in {:?}", self.raw))
        })
    }

    /// Whether this is a deletion (`Max-Age=0`, or an empty value with an expiry in the past).
    pub(crate) fn is_removal(&self) -> bool {
        self.max_age().is_some_and(|m| m <= 0)
    }

    /// Asserts the attributes every Sesame cookie carries in the demo's test settings.
    pub(crate) fn assert_default_attributes(&self) {
        assert!(self.has("httponly"), "HttpOnly missing: {}", self.raw);
        assert_eq!(
            self.attr("samesite")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("lax"),
            "SameSite=Lax missing: {}",
            self.raw
        );
        assert_eq!(self.attr("path"), Some("/"), "Path=/ missing: {}", self.raw);
        assert!(!self.has("domain"), "no Domain expected: {}", self.raw);
    }
}

/// A response, read in full.
pub(crate) struct Page {
    /// What was asked, for messages: `axum: GET /dashboard`.
    pub(crate) what: String,
    /// The status.
    pub(crate) status: StatusCode,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The body, as text (invalid UTF-8 replaced).
    pub(crate) body: String,
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 2000;
        let mut body = self.body.clone();
        if body.len() > MAX {
            let mut end = MAX;
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
            body.push_str("...");
        }
        write!(
            f,
            "{} -> {}\n{:?}\n{}",
            self.what, self.status, self.headers, body
        )
    }
}

impl Page {
    fn new(what: String, status: StatusCode, headers: HeaderMap, body: String) -> Self {
        assert!(
            !status.is_server_error(),
            "a server error (never expected):\n{what} -> {status}\n{body}"
        );
        Self::checked(what, status, headers, body)
    }

    /// The invariants of every response but the status.
    fn checked(what: String, status: StatusCode, headers: HeaderMap, body: String) -> Self {
        let page = Self {
            what,
            status,
            headers,
            body,
        };
        if !page.set_cookies().is_empty() {
            assert!(
                page.cache_control_no_store(),
                "a response that sets a cookie must carry Cache-Control: no-store:\n{page:?}"
            );
            assert!(
                page.varies_on_cookie(),
                "a response that sets a cookie must carry Vary: Cookie:\n{page:?}"
            );
        }
        page
    }

    /// Asserts the status code.
    #[track_caller]
    pub(crate) fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status:\n{self:?}");
        self
    }

    /// Asserts a `4xx` status.
    #[track_caller]
    pub(crate) fn assert_client_error(&self) -> &Self {
        assert!(
            self.status.is_client_error(),
            "expected a 4xx status:\n{self:?}"
        );
        self
    }

    /// Asserts a `303 See Other` to exactly `location`.
    #[track_caller]
    pub(crate) fn assert_redirect(&self, location: &str) -> &Self {
        self.assert_status(303);
        assert_eq!(
            self.location(),
            Some(location),
            "unexpected Location:\n{self:?}"
        );
        self
    }

    /// Asserts that the body contains `text`.
    #[track_caller]
    pub(crate) fn assert_contains(&self, text: &str) -> &Self {
        assert!(
            self.body.contains(text),
            "{text:?} not in the body:\n{self:?}"
        );
        self
    }

    /// Asserts that the body does not contain `text`.
    #[track_caller]
    pub(crate) fn assert_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.body.contains(text),
            "{text:?} unexpectedly in the body:\n{self:?}"
        );
        self
    }

    /// The values of the header `name`.
    pub(crate) fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| {
                v.to_str()
                    .unwrap_or_else(|_| panic!("a non-ASCII {name} header"))
            })
            .collect()
    }

    /// The single value of the header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let values = self.header_values(name);
        assert!(values.len() <= 1, "several {name} headers:\n{self:?}");
        values.first().copied()
    }

    /// The `Location` header.
    pub(crate) fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// Whether `Cache-Control` includes `no-store`.
    pub(crate) fn cache_control_no_store(&self) -> bool {
        self.header_values("cache-control")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
    }

    /// Whether `Vary` includes `Cookie` (or `*`).
    pub(crate) fn varies_on_cookie(&self) -> bool {
        self.header_values("vary")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|d| d.trim().eq_ignore_ascii_case("cookie") || d.trim() == "*")
    }

    /// Every `Set-Cookie`, parsed.
    pub(crate) fn set_cookies(&self) -> Vec<SetCookie> {
        self.header_values("set-cookie")
            .into_iter()
            .map(SetCookie::parse)
            .collect()
    }

    /// The single `Set-Cookie` for `name`, if any.
    #[track_caller]
    pub(crate) fn set_cookie(&self, name: &str) -> Option<SetCookie> {
        let mut found: Vec<_> = self
            .set_cookies()
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        assert!(found.len() <= 1, "several Set-Cookie for {name}:\n{self:?}");
        found.pop()
    }

    /// The `Set-Cookie` for `name`, which must be there.
    #[track_caller]
    pub(crate) fn expect_cookie(&self, name: &str) -> SetCookie {
        self.set_cookie(name)
            .unwrap_or_else(|| panic!("no Set-Cookie for {name}:\n{self:?}"))
    }

    /// Asserts that no cookie `name` is set (nor deleted).
    #[track_caller]
    pub(crate) fn assert_no_cookie(&self, name: &str) -> &Self {
        if let Some(c) = self.set_cookie(name) {
            panic!("unexpected Set-Cookie {:?}:\n{self:?}", c.raw);
        }
        self
    }

    /// The body as JSON, with `Content-Type: application/json`.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "not JSON (Content-Type {ct:?}):\n{self:?}"
        );
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{self:?}"))
    }

    /// The value of the `csrf_token` input of the form on this page.
    #[track_caller]
    pub(crate) fn csrf_token(&self) -> String {
        self.input_value("csrf_token")
            .unwrap_or_else(|| panic!("no csrf_token input:\n{self:?}"))
    }

    /// The `value` of the first `<input>` named `name` on this page.
    pub(crate) fn input_value(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\"");
        self.body.match_indices(&needle).find_map(|(at, _)| {
            let start = self.body[..at].rfind('<')?;
            let end = at + self.body[at..].find('>')?;
            let tag = &self.body[start..end];
            if !tag.starts_with("<input") {
                return None;
            }
            let v = tag.find("value=\"")? + "value=\"".len();
            let len = tag[v..].find('"')?;
            Some(html_unescape(&tag[v..v + len]))
        })
    }
}

/// An error and its sources, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Undoes HTML escaping: the named entities `&quot;`, `&lt;`, `&gt;`, `&amp;`, and numeric
/// ones (`&#34;`, `&#x27;`...), whichever form the templates use.
fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').and_then(|end| {
            let c = match &rest[1..end] {
                "quot" => Some('"'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "apos" => Some('\''),
                e => e
                    .strip_prefix("#x")
                    .or_else(|| e.strip_prefix("#X"))
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| e.strip_prefix('#').map(str::parse))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-encodes `s` for a query string.
pub(crate) fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
