//! The routes, by area: each module adds its [`Demo`](crate::Demo) methods, one per route.

mod account;
mod dashboard;
mod settings;
