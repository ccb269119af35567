//! SECURITY.md 52 under Rocket: the fairing refuses unsafe requests without a valid token
//! (header, or a form field it can peek at) before routing; `CsrfData` checks the forms the
//! fairing cannot see, on opted-out paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rocket::data::{Data, ToByteUnit as _};
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use sesame::testing::{TestBackend, TestUser};
use sesame::{Config, Sesame};
use sesame_rocket::{Auth, CsrfData, SesameFairing};

type B = TestBackend;

#[rocket::post("/echo", data = "<body>")]
async fn echo(body: Data<'_>) -> Vec<u8> {
    body.open(1.mebibytes())
        .into_bytes()
        .await
        .unwrap()
        .into_inner()
}

#[rocket::put("/echo", data = "<body>")]
async fn echo_put(body: Data<'_>) -> Vec<u8> {
    body.open(1.mebibytes())
        .into_bytes()
        .await
        .unwrap()
        .into_inner()
}

#[rocket::post("/hooks/in", data = "<body>")]
async fn hook(body: Data<'_>) -> Vec<u8> {
    body.open(1.mebibytes())
        .into_bytes()
        .await
        .unwrap()
        .into_inner()
}

#[rocket::post("/upload", data = "<form>")]
fn upload(form: CsrfData<B>) -> Vec<u8> {
    form.into_inner()
}

#[rocket::get("/token")]
async fn token(auth: Auth<B>) -> String {
    auth.csrf_token().await.unwrap()
}

async fn client() -> Client {
    let config = Config::builder(&[7u8; 64])
        .csrf_body_limit(1024)
        .build()
        .unwrap();
    let alice = TestUser {
        token: Some("t-alice".into()),
        ..TestUser::new("1", "alice", "password1")
    };
    let sesame = Sesame::builder(config, TestBackend::default().with_user(alice)).build();
    let rocket = rocket::build()
        .attach(
            SesameFairing::new(sesame)
                .csrf_exempt("/hooks/*")
                .csrf_form_posts("/upload"),
        )
        .mount("/", rocket::routes![echo, echo_put, hook, upload, token]);
    Client::tracked(rocket).await.unwrap()
}

async fn anonymous_token(client: &Client) -> String {
    client
        .get("/token")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap()
}

async fn text(response: LocalResponse<'_>) -> (Status, String) {
    (
        response.status(),
        response.into_string().await.unwrap_or_default(),
    )
}

#[rocket::async_test]
async fn security_52_a_post_without_a_token_is_403_before_the_handler() {
    let client = client().await;
    anonymous_token(&client).await;
    let response = client
        .post("/echo")
        .header(ContentType::Form)
        .body("item=x")
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Forbidden);
    let response = client.put("/echo").body("x").dispatch().await;
    assert_eq!(response.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn security_52_the_form_field_passes_and_the_handler_reads_the_same_body() {
    let client = client().await;
    let t = anonymous_token(&client).await;
    let body = format!("item=a%20b&csrf_token={t}&z=%FF");
    let response = client
        .post("/echo")
        .header(ContentType::Form)
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(text(response).await, (Status::Ok, body));
    // A form larger than the peek, its token first: still seen.
    let body = format!("csrf_token={t}&big={}", "x".repeat(600));
    let response = client
        .post("/echo")
        .header(ContentType::Form)
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(text(response).await, (Status::Ok, body));
}

#[rocket::async_test]
async fn security_52_csrf_data_checks_multipart_and_large_forms() {
    let client = client().await;
    let t = anonymous_token(&client).await;
    let multipart = format!(
        "--xyz\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\nhello\r\n\
         --xyz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{t}\r\n--xyz--\r\n"
    );
    let ct = ContentType::parse_flexible("multipart/form-data; boundary=xyz").unwrap();
    let response = client
        .post("/upload")
        .header(ct.clone())
        .body(&multipart)
        .dispatch()
        .await;
    assert_eq!(text(response).await, (Status::Ok, multipart.clone()));
    let forged = multipart.replace(&t, "forged");
    let response = client
        .post("/upload")
        .header(ct)
        .body(&forged)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Forbidden);
    // Its token after the fairing's peek: the guard finds it.
    let body = format!("big={}&csrf_token={t}", "x".repeat(600));
    let response = client
        .post("/upload")
        .header(ContentType::Form)
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(text(response).await, (Status::Ok, body));
    // Oversized: 413.
    let body = format!("csrf_token={t}&big={}", "x".repeat(2048));
    let response = client
        .post("/upload")
        .header(ContentType::Form)
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::PayloadTooLarge);
}

#[rocket::async_test]
async fn security_52_the_header_passes() {
    let client = client().await;
    let t = anonymous_token(&client).await;
    let response = client
        .post("/echo")
        .header(ContentType::JSON)
        .header(Header::new("X-CSRF-Token", t))
        .body("{}")
        .dispatch()
        .await;
    assert_eq!(text(response).await, (Status::Ok, "{}".to_owned()));
}

#[rocket::async_test]
async fn security_52_an_opted_out_route_and_a_bearer_request_go_through() {
    let client = client().await;
    let response = client
        .post("/hooks/in")
        .header(ContentType::Form)
        .body("p=1")
        .dispatch()
        .await;
    assert_eq!(text(response).await, (Status::Ok, "p=1".to_owned()));
    let response = client
        .post("/echo")
        .header(Header::new("Authorization", "Bearer t-alice"))
        .header(ContentType::Form)
        .body("p=2")
        .dispatch()
        .await;
    // The tracked client has an anonymous CSRF cookie at most, not a session: the loader wins.
    assert_eq!(text(response).await, (Status::Ok, "p=2".to_owned()));
}

#[rocket::async_test]
async fn security_52_a_wrong_token_is_403_json_for_json_clients() {
    let client = client().await;
    anonymous_token(&client).await;
    let response = client
        .post("/echo")
        .header(ContentType::Form)
        .header(Header::new("Accept", "application/json"))
        .body("csrf_token=forged")
        .dispatch()
        .await;
    assert_eq!(
        text(response).await,
        (
            Status::Forbidden,
            r#"{"error":"csrf_token_invalid"}"#.to_owned()
        )
    );
}
