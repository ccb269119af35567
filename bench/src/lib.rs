//! Sesame's load benchmark.
//!
//! * `bench-server --framework axum|rocket|poem|warp|peer-axum-login --mode bare|sesame --addr
//!   127.0.0.1:0` serves `GET /` (a tiny text body), either from the framework's plain handler
//!   (`bare`) or behind Sesame, authenticated (`sesame`: the handler takes the adapter's
//!   current-user extractor, guard or filter, so the user is loaded through the backend on every
//!   request), with a [`SledStore`](sesame_sled::SledStore) in a temporary directory on the real
//!   disk. `peer-axum-login` is axum-login on tower-sessions' in-memory store, for comparison.
//!   Every Sesame server also answers `POST /login` (form or query `username`, `password`;
//!   argon2id with the default parameters), `POST /session` (a login without the password
//!   check of a user with no session yet: one durable session creation) and
//!   `POST /session/same-user` (the same, always for one user, at the per-user session cap).
//!   The first line of output is the URL served.
//! * `bench-run` (what `cargo xtask bench` runs) starts those servers, logs in, drives them with
//!   `wrk` when it is installed and with the built-in client in [`load`] otherwise, and writes
//!   `BENCHMARKS.md` and `docs/benchmarks.svg`.

#![forbid(unsafe_code)]

pub mod app;
pub mod load;
pub mod memory;
pub mod purge;
pub mod report;
pub mod servers;
