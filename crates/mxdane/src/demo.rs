//! The lab's demo world ([`mxdane_lab::demo`]) with the check engine's [`Environment`] that
//! reaches it: what `mxdane lab demo`, `mxdane lab serve` and the tests run against.

use std::time::Duration;

use mxdane_check::Environment;
use mxdane_smtp::Connector;

pub use mxdane_lab::demo::{DOMAINS, HOSTILE_LABEL, Kind, generated_hosts, generated_name};

/// A running demo world and the environment that reaches it (the world's fields through
/// `Deref`).
pub struct Demo {
    /// Resolver, SMTP routes and nameserver routes into the lab.
    pub env: Environment,
    lab: mxdane_lab::demo::Demo,
}

impl std::ops::Deref for Demo {
    type Target = mxdane_lab::demo::Demo;

    fn deref(&self) -> &Self::Target {
        &self.lab
    }
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.lab.fmt(f)
    }
}

fn reach(lab: mxdane_lab::demo::Demo) -> Demo {
    let mut connector = Connector::direct();
    for (from, to) in &lab.smtp_routes {
        connector = connector.route(*from, *to);
    }
    Demo {
        env: Environment {
            resolver: lab.validator.clone(),
            connector,
            nameserver: lab.nameserver.clone(),
        },
        lab,
    }
}

/// [`mxdane_lab::demo::start`], reachable.
pub fn start() -> Result<Demo, String> {
    mxdane_lab::demo::start().map(reach)
}

/// [`mxdane_lab::demo::start_with`], reachable.
pub fn start_with(latency: Duration) -> Result<Demo, String> {
    mxdane_lab::demo::start_with(latency).map(reach)
}

/// [`mxdane_lab::demo::hostile`], reachable.
pub fn hostile() -> Result<Demo, String> {
    mxdane_lab::demo::hostile().map(reach)
}

/// [`mxdane_lab::demo::generated`], reachable.
pub fn generated(n: usize, latency: Duration) -> Result<Demo, String> {
    mxdane_lab::demo::generated(n, latency).map(reach)
}
