//! The adapter with plain tower / hyper services: no axum anywhere.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use sesame::testing::{MockClock, TestBackend, TestUser};
use sesame::{AuthSession, Config, LoginOptions, Sesame, Session};
use sesame_tower::{ClientAddr, SesameLayer, into_response, login_required};
use tower::{ServiceBuilder, ServiceExt as _};

/// The layer, with CSRF opted out on every path: these tests are about sessions and post
/// without tokens; CSRF enforcement has its own tests (`tests/csrf.rs`).
fn layer<U: sesame::Backend>(sesame: Sesame<U>) -> SesameLayer<U> {
    SesameLayer::new(sesame).csrf_exempt("/*")
}

type B = TestBackend;
type Body = Full<Bytes>;

fn sesame() -> Sesame<B> {
    let config = Config::builder(&[9u8; 64])
        .login_view("/login")
        .build()
        .unwrap();
    let backend = TestBackend::default().with_user(TestUser::new("1", "alice", "correct horse"));
    Sesame::builder(config, backend).build()
}

/// A hyper-style handler: reads the handles from the extensions, answers the core's rejections
/// with `into_response`.
async fn handler(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let auth = request
        .extensions()
        .get::<AuthSession<B>>()
        .expect("the layer is installed")
        .clone();
    let response = match request.uri().path() {
        "/login" => {
            let user = match auth
                .authenticate(("alice".into(), "correct horse".into()))
                .await
            {
                Ok(Some(user)) => user,
                Ok(None) => return Ok(plain(StatusCode::UNAUTHORIZED, "no")),
                Err(rejection) => return Ok(into_response(rejection)),
            };
            if let Err(error) = auth.login(&user, LoginOptions::default()).await {
                return Ok(into_response(error.into()));
            }
            plain(StatusCode::OK, "logged in")
        }
        "/whoami" => match auth.require_login().await {
            Ok(user) => plain(StatusCode::OK, &user.username),
            Err(rejection) => into_response(rejection),
        },
        "/addr" => {
            let session = request.extensions().get::<Session>().unwrap();
            let addr = session.request().addr().map(|a| a.to_string());
            plain(StatusCode::OK, addr.as_deref().unwrap_or("unknown"))
        }
        _ => plain(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

fn plain(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::from(body.to_owned()));
    *response.status_mut() = status;
    response
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn request(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::default()).unwrap()
}

#[tokio::test]
async fn a_plain_service_fn_logs_in_and_out() {
    let service = ServiceBuilder::new()
        .layer(layer(sesame()))
        .service_fn(handler);

    let response = service
        .clone()
        .oneshot(request("/whoami", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login?next=%2Fwhoami"
    );

    let response = service
        .clone()
        .oneshot(request("/login", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            set_cookie.split("; ").any(|a| a == attribute),
            "{set_cookie}"
        );
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let response = service
        .clone()
        .oneshot(request("/whoami", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::VARY], "Cookie");
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(text(response).await, "alice");
}

#[tokio::test]
async fn several_cookie_headers_are_all_read() {
    let service = ServiceBuilder::new()
        .layer(layer(sesame()))
        .service_fn(handler);
    let response = service
        .clone()
        .oneshot(request("/login", None))
        .await
        .unwrap();
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    // HTTP/2 clients send one Cookie header per cookie.
    let request = Request::get("/whoami")
        .header(header::COOKIE, "theme=dark")
        .header(header::COOKIE, &cookie)
        .body(Body::default())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_client_address_comes_from_the_extension() {
    let service = ServiceBuilder::new()
        .map_request(|mut request: Request<Body>| {
            request
                .extensions_mut()
                .insert(ClientAddr(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
            request
        })
        .layer(layer(sesame()))
        .service_fn(handler);
    let response = service.oneshot(request("/addr", None)).await.unwrap();
    assert_eq!(text(response).await, "192.0.2.1");
}

#[tokio::test]
async fn login_required_layer_for_plain_services() {
    let service = ServiceBuilder::new()
        .layer(layer(sesame()))
        .layer(login_required::<B>())
        .service_fn(|_request: Request<Body>| async {
            Ok::<_, Infallible>(plain(StatusCode::OK, "secret"))
        });
    let response = service
        .clone()
        .oneshot(request("/secret", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login?next=%2Fsecret"
    );

    let request = Request::get("/secret")
        .header(header::ACCEPT, "application/json")
        .body(Body::default())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(text(response).await, r#"{"error":"unauthorized"}"#);
}

#[tokio::test]
async fn login_required_without_the_session_layer_is_a_clear_500() {
    let service = ServiceBuilder::new()
        .layer(login_required::<B>())
        .service_fn(|_request: Request<Body>| async {
            Ok::<_, Infallible>(plain(StatusCode::OK, "secret"))
        });
    let response = service.oneshot(request("/secret", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        text(response)
            .await
            .starts_with("Sesame is not installed on this route")
    );
}

#[derive(Debug, PartialEq)]
struct Boom;

#[tokio::test]
async fn inner_errors_pass_through_and_save_nothing() {
    let clock = MockClock::default();
    let config = Config::builder(&[9u8; 64])
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let sesame = Sesame::builder(config, TestBackend::default()).build();
    let fail = Arc::new(AtomicBool::new(true));
    let failing = fail.clone();
    let service = ServiceBuilder::new()
        .layer(layer(sesame.clone()))
        .service_fn(move |request: Request<Body>| {
            let fail = failing.clone();
            async move {
                let session = request.extensions().get::<Session>().unwrap().clone();
                session.insert("data", &true).await.unwrap();
                if fail.load(Ordering::SeqCst) {
                    Err(Boom)
                } else {
                    Ok(plain(StatusCode::OK, "saved"))
                }
            }
        });
    assert_eq!(
        service
            .clone()
            .oneshot(request("/", None))
            .await
            .unwrap_err(),
        Boom
    );
    // Finished as a 500: nothing was written, so nothing expires.
    clock.advance(24 * 3600);
    assert_eq!(sesame.purge_expired().await.unwrap(), 0);

    // The control: the same request without the error saves a record.
    fail.store(false, Ordering::SeqCst);
    let response = service.oneshot(request("/", None)).await.unwrap();
    assert!(response.headers().get(header::SET_COOKIE).is_some());
    clock.advance(24 * 3600);
    assert_eq!(sesame.purge_expired().await.unwrap(), 1);
}

#[tokio::test]
async fn string_bodies_work_too() {
    let service = ServiceBuilder::new()
        .layer(layer(sesame()))
        .layer(login_required::<B>())
        .service_fn(|_request: Request<String>| async {
            Ok::<_, Infallible>(Response::new("secret".to_owned()))
        });
    let request = Request::get("/x").body(String::new()).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.body(), "See /login?next=%2Fx");
}
