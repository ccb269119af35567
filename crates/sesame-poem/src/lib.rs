#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
pub mod extract;
pub mod middleware;
mod request;
pub mod require;

#[allow(deprecated)]
pub use error::{SesameError, SesameRejection};
pub use extract::{Auth, CurrentUser, FreshUser, OptionalUser, Permissions, SessionHandle};
pub use middleware::{SesameEndpoint, SesameMiddleware};
pub use require::{
    FreshLoginRequired, FreshLoginRequiredEndpoint, LoginRequired, LoginRequiredEndpoint,
    PermissionRequired, PermissionRequiredEndpoint,
};
