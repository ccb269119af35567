//! SECURITY.md 52 under axum: `SesameLayer` enforces CSRF on every unsafe method before the
//! handler, reads the form body with a cap and hands the same bytes on.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response, StatusCode, header};
use axum::routing::{get, post};
use axum::{Router, extract::Multipart};
use http_body_util::BodyExt as _;
use sesame::testing::TestUser;
use sesame::{Backend, Config, LoginOptions, RequestInfo, Sesame};
use sesame_tower::{Auth, SesameLayer};
use tower::ServiceExt as _;

/// Alice, also reachable with the bearer token `t-alice` through the request loader.
#[derive(Clone)]
struct Users;

#[async_trait]
impl Backend for Users {
    type User = TestUser;
    type Credentials = ();
    type Error = Infallible;
    async fn get_user(&self, id: &str) -> Result<Option<TestUser>, Infallible> {
        Ok((id == "1").then(|| TestUser::new("1", "alice", "unused")))
    }
    async fn user_from_request(&self, r: &RequestInfo) -> Result<Option<TestUser>, Infallible> {
        Ok((r.bearer_token() == Some("t-alice")).then(|| TestUser::new("1", "alice", "unused")))
    }
}

type B = Users;

fn app() -> Router {
    let config = Config::builder(&[7u8; 64])
        .csrf_body_limit(1024)
        .build()
        .unwrap();
    let sesame = Sesame::builder(config, Users).build();
    Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/echo",
            axum::routing::put(|body: Bytes| async move { body }),
        )
        .route(
            "/upload",
            post(|mut form: Multipart| async move {
                let mut names = Vec::new();
                while let Some(field) = form.next_field().await.unwrap() {
                    let name = field.name().unwrap_or_default().to_owned();
                    let value = field.text().await.unwrap();
                    names.push(format!("{name}={value}"));
                }
                names.join("&")
            }),
        )
        .route("/hooks/in", post(|body: Bytes| async move { body }))
        .route(
            "/token",
            get(|auth: Auth<B>| async move { auth.csrf_token().await.unwrap() }),
        )
        .route(
            "/login",
            get(|auth: Auth<B>| async move {
                let user = auth
                    .sesame()
                    .backend()
                    .get_user("1")
                    .await
                    .unwrap()
                    .unwrap();
                auth.login(&user, LoginOptions::default()).await.unwrap();
                auth.csrf_token().await.unwrap()
            }),
        )
        .layer(SesameLayer::new(sesame).csrf_exempt("/hooks/*"))
}

async fn send(app: &Router, request: Request<Body>) -> Response<Body> {
    app.clone().oneshot(request).await.unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A GET that returns a token, and the cookies that go with it.
async fn token(app: &Router, path: &str) -> (String, String) {
    let response = send(app, Request::get(path).body(Body::empty()).unwrap()).await;
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    (text(response).await, cookie)
}

fn form(path: &str, cookie: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn security_52_a_post_without_a_token_is_refused_before_the_handler() {
    let app = app();
    let (_, cookie) = token(&app, "/token").await;
    let response = send(&app, form("/echo", &cookie, "item=x")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Any unsafe method, any body kind.
    let request = Request::put("/echo")
        .header(header::COOKIE, &cookie)
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(send(&app, request).await.status(), StatusCode::FORBIDDEN);
    // A safe method needs nothing.
    let response = send(&app, Request::get("/token").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn security_52_the_form_field_passes_and_the_handler_reads_the_same_body() {
    let app = app();
    let (t, cookie) = token(&app, "/token").await;
    let body = format!("item=a%20b&csrf_token={t}&csrf_token=second&z=%FF");
    let response = send(&app, form("/echo", &cookie, body.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, body);
    // The session token once logged in.
    let (t, cookie) = token(&app, "/login").await;
    let body = format!("csrf_token={t}");
    let response = send(&app, form("/echo", &cookie, body.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, body);
}

#[tokio::test]
async fn security_52_a_multipart_field_passes_and_the_handler_reads_every_part() {
    let app = app();
    let (t, cookie) = token(&app, "/token").await;
    let body = format!(
        "--xyz\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\nhello\r\n\
         --xyz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{t}\r\n--xyz--\r\n"
    );
    let request = |body: String| {
        Request::post("/upload")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=xyz")
            .body(Body::from(body))
            .unwrap()
    };
    let response = send(&app, request(body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, format!("item=hello&csrf_token={t}"));
    let forged =
        "--xyz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nforged\r\n--xyz--\r\n";
    let response = send(&app, request(forged.to_owned())).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn security_52_the_header_passes_without_reading_the_body() {
    let app = app();
    let (t, cookie) = token(&app, "/token").await;
    let request = Request::post("/echo")
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &t)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"a":1}"#))
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, r#"{"a":1}"#);
}

#[tokio::test]
async fn security_52_an_oversized_form_is_413_unless_the_header_carries_the_token() {
    let app = app();
    let (t, cookie) = token(&app, "/token").await;
    let body = format!("csrf_token={t}&big={}", "x".repeat(2048));
    let response = send(&app, form("/echo", &cookie, body.clone())).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // (`oneshot` sends no Content-Length: that was the cap on the bytes read.) Announced:
    let mut request = form("/echo", &cookie, body.clone());
    request.headers_mut().insert(
        header::CONTENT_LENGTH,
        body.len().to_string().parse().unwrap(),
    );
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut request = form("/echo", &cookie, body.clone());
    request
        .headers_mut()
        .insert("x-csrf-token", t.parse().unwrap());
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, body);
}

#[tokio::test]
async fn security_52_an_opted_out_route_goes_through() {
    let app = app();
    let response = send(&app, form("/hooks/in", "", "payload=1")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "payload=1");
}

#[tokio::test]
async fn security_52_a_bearer_request_without_cookies_goes_through() {
    let app = app();
    let request = Request::post("/echo")
        .header(header::AUTHORIZATION, "Bearer t-alice")
        .body(Body::from("x=1"))
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "x=1");
    // A wrong bearer token is anonymous, so the token is required; refused, the client is told
    // its credentials are wrong (401 JSON), not sent looking for a CSRF token.
    let request = Request::post("/echo")
        .header(header::AUTHORIZATION, "Bearer t-mallory")
        .body(Body::from("x=1"))
        .unwrap();
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(text(response).await, r#"{"error":"unauthorized"}"#);
    // With the right CSRF header it reaches the handler, anonymous.
    let (t, cookie) = token(&app, "/token").await;
    let mut request = form("/echo", &cookie, "x=1");
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer t-mallory".parse().unwrap());
    request
        .headers_mut()
        .insert("x-csrf-token", t.parse().unwrap());
    assert_eq!(send(&app, request).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn security_52_a_wrong_token_is_403_json_for_json_clients() {
    let app = app();
    let (_, cookie) = token(&app, "/token").await;
    let mut request = form("/echo", &cookie, "csrf_token=forged");
    request
        .headers_mut()
        .insert(header::ACCEPT, "application/json".parse().unwrap());
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(text(response).await, r#"{"error":"csrf_token_invalid"}"#);
    let response = send(&app, form("/echo", &cookie, "csrf_token=forged")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(text(response).await.starts_with("Forbidden"));
}
