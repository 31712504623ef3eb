//! The library half of the `mxdane` command: orchestration that the command line, the daemon
//! and the tests share.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use mxdane_check as check;
pub use mxdane_monitor::alerts;
pub use mxdane_publish::acme;
#[cfg(feature = "lab")]
pub mod demo;
pub use mxdane_check::view;
pub use mxdane_monitor::http as monitor_http;
pub use mxdane_monitor::runner as monitor;
pub use mxdane_publish as rollover;
pub use mxdane_publish::issuance;
pub use mxdane_smtp::policy_table as tls_policy;
pub use mxdane_survey as survey;
pub use mxdane_survey::queue as survey_queue;
pub use mxdane_survey::table as survey_table;
pub use mxdane_tlsa::idn as input;
