//! Lookups against the lab's every-knob world, in both resolver modes (D-01 to D-04).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mxdane_dns::{
    Answer, LookupError, Name, NetTransport, Resolver, Status, TrustedAdResolver, UnboundResolver,
    Upstream, parse_trust_anchors,
};
use mxdane_lab::dns::fixtures::{self, Verdict};
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::world::World;

fn world() -> Arc<World> {
    static W: OnceLock<Arc<World>> = OnceLock::new();
    W.get_or_init(|| Arc::new(fixtures::every_knob())).clone()
}

fn validating(server: &DnsServer) -> UnboundResolver {
    let anchors = parse_trust_anchors(&world().trust_anchor_text()).unwrap();
    let ctx = UnboundResolver::context(&Upstream::Forward(server.addr()), &anchors, None).unwrap();
    UnboundResolver::new(Arc::new(ctx), Duration::from_secs(3), "lab")
}

fn matches(verdict: Verdict, got: &Result<mxdane_dns::Lookup, LookupError>) -> bool {
    match (verdict, got) {
        (Verdict::Secure, Ok(l)) => {
            *l.status() == Status::Secure && matches!(l.answer(), Answer::Records(_))
        }
        (Verdict::SecureNxdomain, Ok(l)) => {
            *l.status() == Status::Secure && *l.answer() == Answer::NxDomain
        }
        (Verdict::SecureNodata, Ok(l)) => {
            *l.status() == Status::Secure && *l.answer() == Answer::NoData
        }
        (Verdict::Insecure, Ok(l)) => {
            *l.status() == Status::Insecure && matches!(l.answer(), Answer::Records(_))
        }
        (Verdict::InsecureNxdomain, Ok(l)) => {
            *l.status() == Status::Insecure && *l.answer() == Answer::NxDomain
        }
        (Verdict::Bogus, Ok(l)) => matches!(l.status(), Status::Bogus(_)),
        (Verdict::Servfail, Err(LookupError::Servfail)) => true,
        // Silence: the deadline, or libunbound giving up first.
        (Verdict::Timeout, Err(LookupError::Timeout { .. } | LookupError::Servfail)) => true,
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
        let got = resolver.lookup_blocking(&Name::parse(case.name), case.qtype);
        if !matches(case.verdict, &got) {
            failures.push(format!(
                "{} {} ({}): want {:?}, got {:?}",
                case.name,
                case.qtype,
                case.knob,
                case.verdict,
                got.map(|l| (l.status().clone(), l.answer().clone()))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn trusted_ad(server: &DnsServer) -> TrustedAdResolver {
    TrustedAdResolver::new(Arc::new(NetTransport::new(
        server.addr(),
        Duration::from_millis(500),
    )))
    .unwrap()
}

// D-04: trusted-AD mode against a validating upstream (the lab sets AD from its ground truth):
// the same answers; bogus data arrives as SERVFAIL.
#[test]
fn d04_trusted_ad_resolver_agrees_with_the_fixture() {
    let server = DnsServer::validating(world()).unwrap();
    let resolver = trusted_ad(&server);
    let mut failures = Vec::new();
    for case in fixtures::CASES {
        let got = resolver.lookup_blocking(&Name::parse(case.name), case.qtype);
        let want = match case.verdict {
            Verdict::Bogus => Verdict::Servfail,
            v => v,
        };
        if !matches(want, &got) {
            failures.push(format!(
                "{} {} ({}): want {:?}, got {:?}",
                case.name,
                case.qtype,
                case.knob,
                want,
                got.map(|l| (l.status().clone(), l.answer().clone()))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// D-04: the AD bit is accepted only over loopback.
#[test]
fn d04_trusted_ad_refuses_a_remote_resolver() {
    for addr in ["192.0.2.53:53", "[2001:db8::53]:53"] {
        let t = NetTransport::new(addr.parse().unwrap(), Duration::from_millis(100));
        let err = TrustedAdResolver::new(Arc::new(t)).err().unwrap();
        assert!(err.contains("not on a loopback address"), "{err}");
    }
    let t = NetTransport::new("[::1]:5353".parse().unwrap(), Duration::from_millis(100));
    assert!(TrustedAdResolver::new(Arc::new(t)).is_ok());
}

// D-04 (negative): without trusted-AD mode the AD bit is ignored. The upstream is a liar
// that sets AD on every answer, bogus ones included: trusted-AD mode believes it (which shows
// the liar works), the validating resolver judges the data itself and calls it bogus.
#[test]
fn d04_validating_mode_ignores_the_ad_bit() {
    let server = DnsServer::forging(
        world(),
        vec![mxdane_lab::dns::forge::Forgery::AdOnEverything],
    )
    .unwrap();
    let believer = trusted_ad(&server);
    let lie = believer
        .lookup_blocking(
            &Name::parse("_25._tcp.expired.faults.test."),
            mxdane_lab::dns::rdata::rtype::TLSA,
        )
        .unwrap();
    assert_eq!(*lie.status(), Status::Secure, "the liar's AD bit");
    let resolver = validating(&server);
    let l = resolver
        .lookup_blocking(
            &Name::parse("_25._tcp.expired.faults.test."),
            mxdane_lab::dns::rdata::rtype::TLSA,
        )
        .unwrap();
    assert!(
        matches!(l.status(), Status::Bogus(r) if r.contains("signature expired")),
        "{:?}",
        l.status()
    );
    let l = resolver
        .lookup_blocking(
            &Name::parse("mx.secure.test."),
            mxdane_lab::dns::rdata::rtype::A,
        )
        .unwrap();
    assert_eq!(*l.status(), Status::Secure);
}

// Issue 4: on the every-knob world too, both modes reach the same decision and TLSA base
// domain for every host of every domain.
#[test]
fn both_modes_agree_on_the_every_knob_world() {
    use mxdane_dns::plan::{self, Plan, Request};
    let plain = DnsServer::recursive(world()).unwrap();
    let validating_upstream = DnsServer::validating(world()).unwrap();
    let modes: Vec<Box<dyn Resolver>> = vec![
        Box::new(validating(&plain)),
        Box::new(trusted_ad(&validating_upstream)),
    ];
    let view = |p: &Plan| {
        let mut hosts: Vec<(String, &'static str, Option<Name>)> = p
            .hosts
            .iter()
            .map(|h| (h.name.to_string(), h.decision.name(), h.tlsa_base.clone()))
            .collect();
        hosts.sort();
        (p.outcome, hosts)
    };
    let mut compared = 0;
    for zone in world().zones() {
        if zone.apex.len() < 2 {
            continue;
        }
        let request = Request {
            destination: zone.apex.clone(),
            port: 25,
            kind: mxdane_dns::plan::Kind::Domain,
        };
        let plans: Vec<Plan> = modes
            .iter()
            .map(|r| plan::plan_blocking(r.as_ref(), &request))
            .collect();
        assert_eq!(view(&plans[0]), view(&plans[1]), "{}", zone.apex);
        compared += 1;
    }
    assert!(compared >= 10);
}
