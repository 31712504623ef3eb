//! `mxdane monitor`'s pure centre and its history (issue 16): the configuration, when each
//! target is checked, how results become states (a change is confirmed by a second check
//! before it counts, so one lost packet pages nobody), and the SQLite history that survives
//! restarts and `kill -9`, or the PostgreSQL history a fleet of instances shares. The checks themselves, the HTTP endpoints and the alerts live in
//! the `mxdane` crate, at the edge.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alerts;
pub mod config;
pub mod db;
pub mod fleet;
pub mod http;
pub mod lookahead;
pub mod runner;
pub mod state;
pub mod store;

/// Seconds since 1970 (time is always passed in, never read here).
pub type Ts = i64;
