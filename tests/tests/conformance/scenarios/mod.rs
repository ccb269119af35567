//! The scenarios: each takes the framework under test, starts its own server, and asserts what a
//! user would see (status, headers, cookies, bodies), and outcomes kept in the store as the app
//! shows them.

mod account;
mod admin;
mod api;
mod csrf;
mod expiry;
mod hostile;
mod login;
mod pages;
mod passkeys;
mod proxies;
mod remember;
mod routing;
mod second_factor;
mod session_data;

pub(crate) use account::*;
pub(crate) use admin::*;
pub(crate) use api::*;
pub(crate) use csrf::*;
pub(crate) use expiry::*;
pub(crate) use hostile::*;
pub(crate) use login::*;
pub(crate) use pages::*;
pub(crate) use passkeys::*;
pub(crate) use proxies::*;
pub(crate) use remember::*;
pub(crate) use routing::*;
pub(crate) use second_factor::*;
pub(crate) use session_data::*;

pub(crate) use crate::harness::PASSWORD;
/// The one message of a failed login.
pub(crate) const INVALID: &str = "Invalid username or password.";
