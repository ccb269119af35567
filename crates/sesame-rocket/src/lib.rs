#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod catcher;
mod fairing;
pub mod guard;
mod response;

pub use catcher::{catchers, rejection};
pub use fairing::{SesameFairing, fairing};
pub use guard::{Auth, CurrentUser, FreshUser, OptionalUser};
pub use response::SesameRejection;
