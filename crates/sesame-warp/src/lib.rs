#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod filters;
mod reject;
mod reply;
mod request;

pub use auth::Auth;
pub use filters::{
    auth, current_user, fresh_login_required, fresh_user, login_required, optional_user,
    with_session,
};
pub use reject::{SesameRejection, recover};
pub use reply::reply;
