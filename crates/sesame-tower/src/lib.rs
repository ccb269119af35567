#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod csrf;
#[cfg(feature = "axum")]
pub mod extract;
mod request;
pub mod require;
mod response;
pub mod session;

pub use csrf::CsrfBody;
#[cfg(feature = "axum")]
pub use extract::{
    Auth, CurrentUser, FreshUser, OptionalUser, Permissions, SesameRejection, SessionHandle,
};
pub use request::ClientAddr;
pub use require::{
    RequireLogin, RequireLoginLayer, fresh_login_required, login_required, permission_required,
    permissions_required,
};
pub use response::into_response;
pub use session::{SesameLayer, SesameService};
