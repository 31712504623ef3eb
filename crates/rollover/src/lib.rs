//! DANE key and certificate rollover (RFC 7671 section 8.1, RFC 7672 section 3.1 and the
//! "current + next" / "current + issuer" practice): a certificate goes live only after a
//! record that authenticates it has been served by every authoritative server for at least
//! twice the RRset's TTL, and a record is withdrawn only once nothing depends on it.
//!
//! The crate is the pure centre of `mxdane rollover`:
//! - [`lane`]: one service's key algorithm as state folded from events, and the decision of
//!   what to do next (no I/O, time passed in);
//! - [`simulate`]: every sender's possible cache over a timeline of DNS answers and presented
//!   certificates, and the first instant at which one would fail to authenticate;
//! - [`config`]: the TOML configuration;
//! - [`store`]: the event log (SQLite, or memory for tests), written before each action;
//! - [`engine`]: observe, fold, decide and act over a [`engine::World`], idempotently.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod lane;
pub mod renewal;
pub mod simulate;
pub mod store;

/// Seconds since the Unix epoch: every time in the crate is passed in, never read.
pub type Ts = i64;
