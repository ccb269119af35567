//! The routes, by area: each module adds its [`Demo`](crate::Demo) methods, one per route.

mod account;
mod admin;

pub(crate) use admin::ADMIN_PAGE_USERS;
mod dashboard;
mod passkeys;
mod settings;
mod two_factor;

pub(crate) use passkeys::PASSKEYS_JS;
pub(crate) use two_factor::SecondFactorKeys;
