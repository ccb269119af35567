//! CSRF enforced on Rocket (SECURITY.md 52).
//!
//! Rocket's fairings cannot read a request body, so the enforcement has two parts:
//!
//! * **The fairing** checks every unsafe request (any method but GET, HEAD, OPTIONS, TRACE)
//!   before routing, unless its path opted out ([`SesameFairing::csrf_exempt`]): the token is
//!   the `X-CSRF-Token` header, else the `csrf_token` field of an url-encoded form when it lies
//!   in the first 512 bytes Rocket lets a fairing peek at (a small form, or the token as the
//!   form's first field, as Sesame's templates put it). A missing or wrong token reroutes the
//!   request to Sesame's refusal route: the handler never runs, and the core's `403` is
//!   answered through Sesame's catchers like every other refusal.
//! * **The [`CsrfData`] data guard**, for routes whose forms the fairing cannot see (multipart,
//!   or a large form with its token further in): declare the route's path
//!   ([`SesameFairing::csrf_form_posts`]: the fairing leaves its `POST`s to the guard and still
//!   checks every other unsafe method there) and take `CsrfData` as its data; it reads the body (at most
//!   [`sesame::Config::csrf_body_limit`] bytes, else `413`), checks the token of the header or
//!   of the url-encoded or multipart form, and hands the handler the same bytes.
//!
//! So no unsafe route runs unchecked unless its path was opted out or declared a form post
//! without using `CsrfData`; an opted-out route is checked again as soon as it uses `CsrfData`. Requests the request loader authenticated
//! without a cookie session (bearer tokens) need no token (SECURITY.md 49).
//!
//! [`SesameFairing::csrf_exempt`]: crate::SesameFairing::csrf_exempt
//! [`SesameFairing::csrf_form_posts`]: crate::SesameFairing::csrf_form_posts

use rocket::data::{self, ByteUnit, Data, FromData};
use rocket::http::Method;
use rocket::route::{self, Route};
use rocket::{Request, async_trait};
use sesame::csrf::{self, BodyKind};
use sesame::{AuthSession, Backend, Rejection};

use crate::catcher::refuse;
use crate::fairing::begun;

/// Where the fairing reroutes a request it refused (mounted by the fairing at ignite).
pub(crate) const REFUSED_PATH: &str = "/__sesame/csrf-refused";

/// The most Rocket lets a fairing peek at.
const PEEK: usize = 512;

/// The refusal the fairing decided, for [`refused`].
struct Refusal(Option<Rejection>);

/// The fairing's part: `Err` is the refusal to answer with instead of routing.
pub(crate) async fn check_in_fairing<B: Backend>(
    auth: &AuthSession<B>,
    request: &Request<'_>,
    data: &mut Data<'_>,
) -> Result<(), Rejection> {
    if !auth.csrf_required().await? {
        return Ok(());
    }
    if let Some(token) = request.headers().get_one(csrf::HEADER) {
        return auth.enforce_csrf(Some(token)).await;
    }
    let content_type = request.headers().get_one("Content-Type");
    if csrf::body_kind(content_type) != BodyKind::UrlEncoded {
        return auth.enforce_csrf(None).await;
    }
    let peeked = data.peek(PEEK).await.to_vec();
    // Only whole fields: a token cut off at the end of the peek is not a token.
    let whole = if data.peek_complete() {
        &peeked[..]
    } else {
        let end = peeked.iter().rposition(|&b| b == b'&').unwrap_or(0);
        &peeked[..end]
    };
    let token = csrf::form_field(whole);
    auth.enforce_csrf(token.as_deref()).await
}

/// Keeps `rejection` for the refusal route and reroutes `request` to it.
pub(crate) fn reroute(request: &mut Request<'_>, rejection: Rejection) {
    request.local_cache(|| Refusal(Some(rejection)));
    if let Ok(uri) = rocket::http::uri::Origin::parse(REFUSED_PATH) {
        request.set_uri(uri);
    }
}

/// The refusal routes, one per unsafe method Rocket knows.
pub(crate) fn refusal_routes() -> Vec<Route> {
    [
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Connect,
    ]
    .into_iter()
    .map(|method| {
        let mut route = Route::ranked(-100, method, REFUSED_PATH, refused);
        route.name = Some("sesame csrf refusal".into());
        route
    })
    .collect()
}

fn refused<'r>(request: &'r Request<'_>, _data: Data<'r>) -> route::BoxFuture<'r> {
    let rejection = request
        .local_cache(|| Refusal(None))
        .0
        .clone()
        // Reached without the fairing's reroute (a client asking for the path itself).
        .unwrap_or_else(|| Rejection::csrf(false));
    let status = refuse(request, rejection);
    Box::pin(async move { route::Outcome::Error(status) })
}

/// A request body whose CSRF token was checked before the handler (SECURITY.md 52): the data
/// guard for routes the fairing cannot check (multipart forms, large forms with the token
/// further in), on paths opted out of the fairing's check. It holds the body as it came.
///
/// The token is the `X-CSRF-Token` header, else the `csrf_token` field of the url-encoded or
/// multipart form; the body is read up to [`sesame::Config::csrf_body_limit`] bytes (`413`
/// above). A missing or wrong token fails with the core's `403`, answered by Sesame's catchers.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use rocket::http::{ContentType, Status};
/// use rocket::local::asynchronous::Client;
/// use sesame::{Config, Sesame, testing::TestBackend};
/// use sesame_rocket::{CsrfData, SesameFairing};
///
/// #[rocket::post("/upload", data = "<form>")]
/// fn upload(form: CsrfData<TestBackend>) -> String {
///     format!("{} bytes", form.len())
/// }
///
/// let sesame = Sesame::builder(Config::builder(&Config::generate_secret()).build()?, TestBackend::default()).build();
/// let rocket = rocket::build()
///     .attach(SesameFairing::new(sesame).csrf_form_posts("/upload")) // the guard checks them
///     .mount("/", rocket::routes![upload]);
/// let client = Client::untracked(rocket).await?;
/// let body = "--x\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nforged\r\n--x--\r\n";
/// let response = client
///     .post("/upload")
///     .header(ContentType::parse_flexible("multipart/form-data; boundary=x").unwrap())
///     .body(body)
///     .dispatch()
///     .await;
/// assert_eq!(response.status(), Status::Forbidden);
/// # Ok(())
/// # })
/// # }
/// ```
pub struct CsrfData<B: Backend> {
    bytes: Vec<u8>,
    _backend: std::marker::PhantomData<fn() -> B>,
}

impl<B: Backend> std::fmt::Debug for CsrfData<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrfData")
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl<B: Backend> CsrfData<B> {
    /// The body, as it came.
    pub fn into_inner(self) -> Vec<u8> {
        self.bytes
    }
}

impl<B: Backend> std::ops::Deref for CsrfData<B> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

#[async_trait]
impl<'r, B: Backend> FromData<'r> for CsrfData<B> {
    type Error = Rejection;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let Some(begun) = begun::<B>(request) else {
            let rejection = Rejection::missing_layer("SesameFairing");
            return data::Outcome::Error((refuse(request, rejection.clone()), rejection));
        };
        match check_data(&begun.auth, request, data).await {
            Ok(bytes) => data::Outcome::Success(CsrfData {
                bytes,
                _backend: std::marker::PhantomData,
            }),
            Err(rejection) => data::Outcome::Error((refuse(request, rejection.clone()), rejection)),
        }
    }
}

async fn check_data<B: Backend>(
    auth: &AuthSession<B>,
    request: &Request<'_>,
    data: Data<'_>,
) -> Result<Vec<u8>, Rejection> {
    let json = auth.session().request().wants_json();
    let limit = auth.sesame().config().csrf_body_limit();
    let bytes = match data.open(ByteUnit::from(limit)).into_bytes().await {
        Ok(bytes) if bytes.is_complete() => bytes.into_inner(),
        Ok(_) => return Err(Rejection::payload_too_large(json)),
        Err(_) => return Err(Rejection::csrf(json)),
    };
    if !auth.csrf_required().await? {
        return Ok(bytes);
    }
    let token = match request.headers().get_one(csrf::HEADER) {
        Some(header) => Some(header.to_owned()),
        None => {
            let content_type = request.headers().get_one("Content-Type");
            sesame_http::token_in_body(content_type, bytes.clone().into()).await
        }
    };
    auth.enforce_csrf(token.as_deref()).await?;
    Ok(bytes)
}

/// Whether the request's method needs the check at all.
pub(crate) fn is_unsafe(request: &Request<'_>) -> bool {
    csrf::is_unsafe_method(request.method().as_str())
}
