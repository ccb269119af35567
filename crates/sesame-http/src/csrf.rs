//! CSRF enforcement for http-1 adapters (SECURITY.md 52): the token from the `X-CSRF-Token`
//! header, else from the `csrf_token` field of an url-encoded or multipart body read with a
//! size cap ([`sesame::Config::csrf_body_limit`]) and handed on unchanged. The decision is the
//! core's ([`AuthSession::enforce_csrf`]).

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use sesame::csrf::{self, BodyKind};
use sesame::{AuthSession, Backend, Rejection};

/// The request's body after the check: untouched when no body had to be read (a safe method,
/// a bearer request, the token in the header), else the bytes read, to hand on in its place.
#[derive(Debug)]
pub enum Checked<B> {
    /// The body was not read.
    Untouched(B),
    /// The whole body, read to find the token: the same bytes the client sent.
    Buffered(Bytes),
}

/// The `X-CSRF-Token` header (the first one), when it is valid text.
pub fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(csrf::HEADER).and_then(|v| v.to_str().ok())
}

/// The first `csrf_token` field of a form body of `content_type`: url-encoded (the first value
/// wins) or multipart (the first part so named, parsed by `multer`); `None` for any other body
/// or a malformed one.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use bytes::Bytes;
/// let form = Bytes::from_static(b"item=x&csrf_token=abc");
/// assert_eq!(
///     sesame_http::token_in_body(Some("application/x-www-form-urlencoded"), form).await,
///     Some("abc".to_owned())
/// );
/// let multipart = Bytes::from_static(
///     b"--xyz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc\r\n--xyz--\r\n",
/// );
/// assert_eq!(
///     sesame_http::token_in_body(Some("multipart/form-data; boundary=xyz"), multipart).await,
///     Some("abc".to_owned())
/// );
/// # });
/// ```
pub async fn token_in_body(content_type: Option<&str>, body: Bytes) -> Option<String> {
    match csrf::body_kind(content_type) {
        BodyKind::UrlEncoded => csrf::form_field(&body),
        BodyKind::Multipart => {
            let boundary = multer::parse_boundary(content_type?).ok()?;
            let mut form = multer::Multipart::new(Full::new(body).into_data_stream(), boundary);
            while let Ok(Some(field)) = form.next_field().await {
                if field.name() == Some(csrf::FORM_FIELD) {
                    return field.text().await.ok();
                }
            }
            None
        }
        BodyKind::Other => None,
    }
}

/// Enforces CSRF on a request before its handler (SECURITY.md 52): nothing is read when the
/// core needs no token ([`AuthSession::csrf_required`]: safe methods, requests the request
/// loader authenticated without a cookie session) or when the `X-CSRF-Token` header carries
/// it (the header wins). Otherwise an url-encoded or multipart body is read, at most
/// [`sesame::Config::csrf_body_limit`] bytes, its `csrf_token` field checked, and the bytes
/// returned to hand on in place of the body ([`Checked::Buffered`]).
///
/// `Err` is the response to send instead of calling the handler: the core's `403`
/// ([`Rejection::csrf`]) for a missing or wrong token (any other body kind, JSON included, must
/// use the header), `413` ([`Rejection::payload_too_large`]) for a form larger than the cap.
pub async fn check_csrf<U, B>(
    auth: &AuthSession<U>,
    headers: &HeaderMap,
    body: B,
) -> Result<Checked<B>, Rejection>
where
    U: Backend,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !auth.csrf_required().await? {
        return Ok(Checked::Untouched(body));
    }
    if let Some(token) = csrf_header(headers) {
        auth.enforce_csrf(Some(token)).await?;
        return Ok(Checked::Untouched(body));
    }
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if csrf::body_kind(content_type) == BodyKind::Other {
        auth.enforce_csrf(None).await?;
        return Ok(Checked::Untouched(body));
    }
    let limit = auth.sesame().config().csrf_body_limit();
    let json = auth.session().request().wants_json();
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(Rejection::payload_too_large(json));
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(Rejection::payload_too_large(json)),
        // The client went away or sent a broken body: there is no token to check.
        Err(_) => return Err(Rejection::csrf(json)),
    };
    let token = token_in_body(content_type, bytes.clone()).await;
    auth.enforce_csrf(token.as_deref()).await?;
    Ok(Checked::Buffered(bytes))
}

/// Whether `path` (without its query) matches one of the opted-out `patterns`: an exact path,
/// or a prefix ending in `/*` (`/webhooks/*` matches `/webhooks/stripe`, not `/webhooks`; `/*`
/// matches every path).
///
/// ```
/// let p = ["/hook".to_owned(), "/api/public/*".to_owned()];
/// assert!(sesame_http::is_csrf_exempt(&p, "/hook"));
/// assert!(!sesame_http::is_csrf_exempt(&p, "/hook/x"));
/// assert!(!sesame_http::is_csrf_exempt(&p, "/hooks"));
/// assert!(sesame_http::is_csrf_exempt(&p, "/api/public/x"));
/// assert!(!sesame_http::is_csrf_exempt(&p, "/api/public"));
/// assert!(!sesame_http::is_csrf_exempt(&p, "/api/publicx"));
/// ```
pub fn is_csrf_exempt(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('/') => path.starts_with(prefix),
        _ => p == path,
    })
}
