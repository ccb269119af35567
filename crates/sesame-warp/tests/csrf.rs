//! SECURITY.md 52 under warp: `sesame_warp::service` (sesame-tower's layer) enforces CSRF on
//! every unsafe method before the filters run, and hands the body on unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use http_body_util::BodyExt as _;
use sesame::testing::{TestBackend, TestUser};
use sesame::{Config, Sesame};
use sesame_warp::Auth;
use tower::ServiceExt as _;
use warp::Filter as _;
use warp::http::{Request, StatusCode, header};
use warp::hyper::body::Bytes;

type B = TestBackend;

fn app() -> impl tower::Service<
    Request<String>,
    Response = warp::reply::Response,
    Error = Infallible,
    Future: Send,
> + Clone {
    let config = Config::builder(&[7u8; 64])
        .csrf_body_limit(1024)
        .build()
        .unwrap();
    let alice = TestUser {
        token: Some("t-alice".into()),
        ..TestUser::new("1", "alice", "password1")
    };
    let sesame = Sesame::builder(config, TestBackend::default().with_user(alice)).build();
    let echo = warp::post()
        .and(warp::path!("echo").or(warp::path!("hooks" / "in")).unify())
        .and(warp::body::bytes())
        .map(|body: Bytes| body.to_vec());
    let token = warp::path!("token")
        .and(sesame_warp::auth::<B>())
        .then(|auth: Auth<B>| async move { auth.csrf_token().await.unwrap() });
    let layer = sesame_tower::SesameLayer::new(sesame).csrf_exempt("/hooks/*");
    sesame_warp::service_with(layer, echo.or(token))
}

async fn send(request: Request<String>) -> (StatusCode, String) {
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn token() -> (String, String) {
    let response = app()
        .oneshot(Request::get("/token").body(String::new()).unwrap())
        .await
        .unwrap();
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (String::from_utf8(bytes.to_vec()).unwrap(), cookie)
}

fn post(path: &str, cookie: &str, content_type: &str, body: String) -> Request<String> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap()
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn security_52_a_post_without_a_token_is_403() {
    let (_, cookie) = token().await;
    let (status, _) = send(post("/echo", &cookie, FORM, "item=x".into())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn security_52_form_fields_pass_and_the_filters_read_the_same_body() {
    let (t, cookie) = token().await;
    let body = format!("item=a%20b&csrf_token={t}&z=%FF");
    let (status, echoed) = send(post("/echo", &cookie, FORM, body.clone())).await;
    assert_eq!((status, echoed), (StatusCode::OK, body));
    let multipart = format!(
        "--xyz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{t}\r\n\
         --xyz\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\nhello\r\n--xyz--\r\n"
    );
    let ct = "multipart/form-data; boundary=xyz";
    let (status, echoed) = send(post("/echo", &cookie, ct, multipart.clone())).await;
    assert_eq!((status, echoed), (StatusCode::OK, multipart));
}

#[tokio::test]
async fn security_52_the_header_passes() {
    let (t, cookie) = token().await;
    let mut request = post("/echo", &cookie, "application/json", "{}".into());
    request
        .headers_mut()
        .insert("x-csrf-token", t.parse().unwrap());
    assert_eq!(send(request).await, (StatusCode::OK, "{}".to_owned()));
}

#[tokio::test]
async fn security_52_an_oversized_form_is_413() {
    let (t, cookie) = token().await;
    let body = format!("csrf_token={t}&big={}", "x".repeat(2048));
    let (status, _) = send(post("/echo", &cookie, FORM, body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn security_52_an_opted_out_route_and_a_bearer_request_go_through() {
    let (status, body) = send(post("/hooks/in", "", FORM, "p=1".into())).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "p=1"));
    let mut request = post("/echo", "", FORM, "p=2".into());
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer t-alice".parse().unwrap());
    assert_eq!(send(request).await, (StatusCode::OK, "p=2".to_owned()));
}

#[tokio::test]
async fn security_52_a_wrong_token_is_403_json_for_json_clients() {
    let (_, cookie) = token().await;
    let mut request = post("/echo", &cookie, FORM, "csrf_token=forged".into());
    request
        .headers_mut()
        .insert(header::ACCEPT, "application/json".parse().unwrap());
    let (status, body) = send(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, r#"{"error":"csrf_token_invalid"}"#);
}
