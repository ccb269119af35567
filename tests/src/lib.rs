//! The Sesame conformance suite: the definition of "an adapter works".
//!
//! This crate has no API. Its integration tests (`tests/conformance/`) start the demo application
//! (`examples/`, package `sesame-demo`) once per scenario and per framework, in process, on port 0
//! with its own temporary data directory and a mock clock, and drive it over real HTTP with
//! `reqwest`. Every scenario runs unchanged against every framework; none is skipped or
//! special-cased per framework. Test names are `<framework>::<scenario>`, for example
//! `axum::logout_ends_the_session`.
//!
//! Run it with `cargo test -p sesame-conformance`; run one framework with
//! `cargo test -p sesame-conformance -- axum::`.
//!
//! Adding a framework is one line in `tests/conformance/main.rs` (`for_each_framework!`): the
//! test module's name and the demo's entry point for that framework, either
//! `serve(tokio::net::TcpListener, Demo)` (axum, Poem, warp) or
//! `start(SocketAddr, Demo) -> (SocketAddr, JoinHandle)` (Rocket, which binds itself).
#![forbid(unsafe_code)]
