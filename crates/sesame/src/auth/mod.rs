//! Users, backends, and the per-request auth handle: Flask-Login's `current_user`,
//! `login_user`, `logout_user`, `confirm_login`, `login_required` and `fresh_login_required`.

mod auth_session;
mod authz;
mod backend;
mod second_factor;
mod sesame;

pub(crate) use self::auth_session::keep_data;
pub use self::auth_session::{AuthSession, LoginOptions, SessionInfo};
pub use self::authz::AuthzBackend;
pub(crate) use self::backend::backend_err;
pub use self::backend::{AuthUser, Backend, LoginCredentials};
pub use self::second_factor::{Factor, SECOND_FACTOR_TIMEOUT_SECS, SecondFactors};
pub use self::sesame::{Sesame, SesameBuilder};
