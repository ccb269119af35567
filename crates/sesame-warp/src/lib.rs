#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod filters;
mod reject;
mod server;
mod service;

pub use auth::Auth;
pub use filters::{
    auth, current_user, fresh_login_required, fresh_user, login_required, optional_user,
    permission_required, permissions,
};
pub use reject::{SesameRejection, recover};
pub use server::{Server, Unbound, serve};
pub use service::{service, service_with};
/// The socket peer's address, which [`serve`] puts into every request's extensions (read it with
/// `warp::ext::optional::<sesame_warp::ClientAddr>()`; warp's own `warp::addr::remote` only
/// knows about `warp::serve`).
pub use sesame_tower::ClientAddr;
