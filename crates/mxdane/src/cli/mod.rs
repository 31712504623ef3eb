//! One module per command: its flags (clap) and what it prints.

pub(crate) mod check;
pub(crate) mod dns;
#[cfg(feature = "lab")]
pub(crate) mod lab;
pub(crate) mod monitor;
pub(crate) mod rollover;
pub(crate) mod send;
pub(crate) mod survey;
pub(crate) mod tlsa;
