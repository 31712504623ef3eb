//! Lookups against the lab's every-knob world, in both resolver modes (D-01 to D-04).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mxdane_dns::{
    Answer, LookupError, Name, NetTransport, Resolver, Status, TrustedAdResolver, ValidatingResolver,
    parse_trust_anchors,
};
use mxdane_lab::dns::fixtures::{self, Verdict};
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::world::World;

fn world() -> Arc<World> {
    static W: OnceLock<Arc<World>> = OnceLock::new();
    W.get_or_init(|| Arc::new(fixtures::every_knob())).clone()
}

fn validating(server: &DnsServer) -> ValidatingResolver {
    let anchors = parse_trust_anchors(&world().trust_anchor_text()).unwrap();
    ValidatingResolver::new(
        Arc::new(NetTransport::new(server.addr(), Duration::from_millis(500))),
        anchors,
    )
}

fn matches(verdict: Verdict, got: &Result<mxdane_dns::Lookup, LookupError>) -> bool {
    match (verdict, got) {
        (Verdict::Secure, Ok(l)) => *l.status() == Status::Secure && matches!(l.answer(), Answer::Records(_)),
        (Verdict::SecureNxdomain, Ok(l)) => *l.status() == Status::Secure && *l.answer() == Answer::NxDomain,
        (Verdict::SecureNodata, Ok(l)) => *l.status() == Status::Secure && *l.answer() == Answer::NoData,
        (Verdict::Insecure, Ok(l)) => *l.status() == Status::Insecure && matches!(l.answer(), Answer::Records(_)),
        (Verdict::InsecureNxdomain, Ok(l)) => *l.status() == Status::Insecure && *l.answer() == Answer::NxDomain,
        (Verdict::Bogus, Ok(l)) => matches!(l.status(), Status::Bogus(_)),
        (Verdict::Servfail, Err(LookupError::Servfail)) => true,
        (Verdict::Timeout, Err(LookupError::Timeout { .. })) => true,
        _ => false,
    }
}

// D-01, D-02, D-03: every fixture case gets the status the independent validators gave it.
#[test]
fn d01_d02_d03_validating_resolver_agrees_with_the_fixture() {
    let server = DnsServer::recursive(world()).unwrap();
    let resolver = validating(&server);
    let mut failures = Vec::new();
    for case in fixtures::CASES {
        let got = resolver.lookup(&Name::parse(case.name), case.qtype);
        if !matches(case.verdict, &got) {
            failures.push(format!("{} {} ({}): want {:?}, got {:?}", case.name, case.qtype, case.knob, case.verdict, got.map(|l| (l.status().clone(), l.answer().clone()))));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
