//! SECURITY.md 52 under Poem: `SesameMiddleware` enforces CSRF on every unsafe method before
//! the endpoint, and hands the body on unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poem::http::{StatusCode, header};
use poem::test::TestClient;
use poem::web::Multipart;
use poem::{Endpoint, EndpointExt, Route, get, handler, post};
use sesame::testing::{TestBackend, TestUser};
use sesame::{Config, Sesame};
use sesame_poem::{Auth, SesameMiddleware};

type B = TestBackend;

#[handler]
fn echo(body: Vec<u8>) -> Vec<u8> {
    body
}

#[handler]
async fn upload(mut form: Multipart) -> String {
    let mut fields = Vec::new();
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap_or_default().to_owned();
        fields.push(format!("{name}={}", field.text().await.unwrap()));
    }
    fields.join("&")
}

#[handler]
async fn token(auth: Auth<B>) -> String {
    auth.csrf_token().await.unwrap()
}

fn app() -> impl Endpoint {
    let config = Config::builder(&[7u8; 64])
        .csrf_body_limit(1024)
        .build()
        .unwrap();
    let alice = TestUser {
        token: Some("t-alice".into()),
        ..TestUser::new("1", "alice", "password1")
    };
    let sesame = Sesame::builder(config, TestBackend::default().with_user(alice)).build();
    Route::new()
        .at("/echo", post(echo).put(echo))
        .at("/upload", post(upload))
        .at("/hooks/in", post(echo))
        .at("/token", get(token))
        .with(SesameMiddleware::new(sesame).csrf_exempt("/hooks/*"))
}

async fn anonymous_token(client: &TestClient<impl Endpoint>) -> (String, String) {
    let response = client.get("/token").send().await;
    let cookie = response.0.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (response.0.into_body().into_string().await.unwrap(), cookie)
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn security_52_a_post_without_a_token_is_403() {
    let client = TestClient::new(app());
    let (_, cookie) = anonymous_token(&client).await;
    let response = client
        .post("/echo")
        .header(header::COOKIE, &cookie)
        .content_type(FORM)
        .body("item=x")
        .send()
        .await;
    response.assert_status(StatusCode::FORBIDDEN);
    let response = client
        .put("/echo")
        .header(header::COOKIE, &cookie)
        .body("x")
        .send()
        .await;
    response.assert_status(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn security_52_form_fields_pass_and_the_handler_reads_the_same_body() {
    let client = TestClient::new(app());
    let (t, cookie) = anonymous_token(&client).await;
    let body = format!("item=a%20b&csrf_token={t}&z=%FF");
    let response = client
        .post("/echo")
        .header(header::COOKIE, &cookie)
        .content_type(FORM)
        .body(body.clone())
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_text(body).await;
    let multipart = format!(
        "--xyz\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\nhello\r\n\
         --xyz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{t}\r\n--xyz--\r\n"
    );
    let response = client
        .post("/upload")
        .header(header::COOKIE, &cookie)
        .content_type("multipart/form-data; boundary=xyz")
        .body(multipart)
        .send()
        .await;
    response.assert_status_is_ok();
    response
        .assert_text(format!("item=hello&csrf_token={t}"))
        .await;
}

#[tokio::test]
async fn security_52_the_header_passes() {
    let client = TestClient::new(app());
    let (t, cookie) = anonymous_token(&client).await;
    let response = client
        .post("/echo")
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &t)
        .content_type("application/json")
        .body("{}")
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_text("{}").await;
}

#[tokio::test]
async fn security_52_an_oversized_form_is_413() {
    let client = TestClient::new(app());
    let (t, cookie) = anonymous_token(&client).await;
    let response = client
        .post("/echo")
        .header(header::COOKIE, &cookie)
        .content_type(FORM)
        .body(format!("csrf_token={t}&big={}", "x".repeat(2048)))
        .send()
        .await;
    response.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn security_52_an_opted_out_route_and_a_bearer_request_go_through() {
    let client = TestClient::new(app());
    let response = client
        .post("/hooks/in")
        .content_type(FORM)
        .body("p=1")
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_text("p=1").await;
    let response = client
        .post("/echo")
        .header(header::AUTHORIZATION, "Bearer t-alice")
        .content_type(FORM)
        .body("p=2")
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_text("p=2").await;
}

#[tokio::test]
async fn security_52_a_wrong_token_is_403_json_for_json_clients() {
    let client = TestClient::new(app());
    let (_, cookie) = anonymous_token(&client).await;
    let response = client
        .post("/echo")
        .header(header::COOKIE, &cookie)
        .header(header::ACCEPT, "application/json")
        .content_type(FORM)
        .body("csrf_token=forged")
        .send()
        .await;
    response.assert_status(StatusCode::FORBIDDEN);
    response
        .assert_text(r#"{"error":"csrf_token_invalid"}"#)
        .await;
}
