//! Browser end-to-end tests of the Sesame demo.
//!
//! This crate has no API. Its integration test (`tests/browser.rs`) starts `chromedriver` on a
//! free port, serves the demo in process on `127.0.0.1:0` with each framework in turn (axum,
//! Rocket, Poem, warp) and drives headless Chromium through the same scenario: registration
//! with validation errors, logout, a failed and a successful login with "remember me", a browser
//! restart on the same profile with the session cookie deleted (the remember-me cookie logs the
//! user back in, not fresh), re-authentication for a fresh-login page, and the login-required
//! redirect with `next`. A fifth test, `passkeys`, registers a passkey and logs in with it (no
//! username) on axum, with a virtual authenticator added through WebDriver's WebAuthn extension
//! (the demo served at `http://localhost:<port>`: WebAuthn refuses IP addresses). Each step
//! leaves a screenshot in `target/e2e-screenshots/<framework or passkeys>/<nn-step>.png`.
//!
//! Run it with `cargo xtask e2e`, or `cargo test -p sesame-e2e -- --nocapture --test-threads=1`.
//! It needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `SESAME_E2E_CHROMIUM` and `SESAME_E2E_CHROMEDRIVER` override the
//! paths). Without them the tests print a loud banner and pass, except under `CI=true`, where
//! they fail.
#![forbid(unsafe_code)]
