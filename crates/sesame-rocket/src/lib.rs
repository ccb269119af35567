#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod catcher;
pub mod csrf;
mod fairing;
pub mod guard;
mod response;

#[allow(deprecated)]
pub use catcher::catchers;
pub use catcher::rejection;
pub use csrf::CsrfData;
pub use fairing::{SesameFairing, fairing, fairing_from_figment};
pub use guard::{
    Auth, CurrentUser, FreshUser, OptionalUser, PermissionName, Permissions, RequirePerm,
};
pub use response::SesameRejection;
