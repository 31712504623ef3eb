//! The library half of the `mxdane` command: orchestration that the command line, the daemon
//! and the tests share.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acme;
pub mod alerts;
pub use mxdane_check as check;
pub mod demo;
pub mod input;
pub mod issuance;
pub mod monitor;
pub mod monitor_http;
pub mod rollover;
pub mod survey;
pub mod survey_queue;
pub mod survey_table;
pub mod tls_policy;
pub use mxdane_check::view;
