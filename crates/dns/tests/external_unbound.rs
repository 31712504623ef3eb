//! Our validating resolver (libunbound in this process) against the Unbound daemon (external
//! tier): the every-knob world plus a zone whose DS names RSASHA1-NSEC3-SHA1 (algorithm 7),
//! served in-process to us and by Knot to Unbound. Every name must get the same verdict. The
//! old embedded validator treated algorithm 7 as insecure (D-17); libunbound, like Unbound,
//! validates it, so the DS that matches no key makes the zone bogus for both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use mxdane_dns::{
    Answer, LookupError, Name, Resolver, Status, UnboundResolver, Upstream, parse_trust_anchors,
};
use mxdane_lab::dns::fixtures::{self, DIGEST};
use mxdane_lab::dns::interop::KnotUnbound;
use mxdane_lab::dns::rdata::{rtype, type_name};
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::world::{Delegation, World};

/// A verdict both sides can state.
fn ours(r: &Result<mxdane_dns::Lookup, LookupError>) -> &'static str {
    match r {
        Ok(l) => match (l.status(), l.answer()) {
            (Status::Secure, Answer::Records(_)) => "secure",
            (Status::Secure, _) => "secure-denial",
            (Status::Insecure, _) => "insecure",
            _ => "bogus",
        },
        Err(LookupError::Servfail | LookupError::Timeout { .. }) => "failed",
        Err(_) => "error",
    }
}

fn unbound(r: Option<&mxdane_dns::message::RawMessage>) -> &'static str {
    match r {
        None => "failed",
        Some(r) if r.rcode == 2 => "bogus",
        Some(r) if r.ad && r.rcode == 0 && !r.answer.is_empty() => "secure",
        Some(r) if r.ad => "secure-denial",
        Some(_) => "insecure",
    }
}

#[test]
#[ignore = "needs knotd (knot), unbound"]
fn d17_libunbound_agrees_with_the_unbound_daemon_on_every_fixture_name() {
    let tlsa = format!("3 1 1 {DIGEST}");
    let fixture = fixtures::every_knob();
    let alg7 = World::builder()
        .zone("alg7.test", |z| {
            z.delegation(Delegation::DsAlgorithm(7))
                .mx("@", 10, "mx")
                .a("mx", "192.0.2.8")
                .tlsa("_25._tcp.mx", &tlsa)
        })
        .build();
    let alg7_names: &[(&str, u16)] = &[
        ("mx.alg7.test.", rtype::A),
        ("_25._tcp.mx.alg7.test.", rtype::TLSA),
    ];
    // (name, type, ours, unbound): none left since libunbound validates.
    let listed: &[(&str, u16, &str, &str)] = &[];
    let mut divergences = Vec::new();
    let mut compared = 0;
    for (world, names) in [
        (
            Arc::new(fixture),
            fixtures::CASES
                .iter()
                .filter(|c| {
                    !matches!(
                        c.verdict,
                        fixtures::Verdict::Servfail | fixtures::Verdict::Timeout
                    )
                })
                .map(|c| (c.name, c.qtype))
                .collect::<Vec<_>>(),
        ),
        (Arc::new(alg7), alg7_names.to_vec()),
    ] {
        let server = DnsServer::recursive(world.clone()).unwrap();
        let anchors = parse_trust_anchors(&world.trust_anchor_text()).unwrap();
        let ctx =
            UnboundResolver::context(&Upstream::Forward(server.addr()), &anchors, None).unwrap();
        let resolver = UnboundResolver::new(Arc::new(ctx), Duration::from_secs(3), "lab");
        let interop = KnotUnbound::start(&world, "dns").unwrap();
        for (name, qtype) in names {
            let n = Name::parse(name);
            let a = ours(&resolver.lookup_blocking(&n, qtype));
            let b = unbound(interop.ask(&n, qtype).as_ref());
            compared += 1;
            if a != b {
                divergences.push((name.to_owned(), qtype, a, b));
            }
        }
    }
    for (n, t, a, b) in &divergences {
        println!("divergence: {n} {}: mxdane {a}, unbound {b}", type_name(*t));
    }
    let expected: Vec<(String, u16, &str, &str)> = listed
        .iter()
        .map(|(n, t, a, b)| ((*n).to_owned(), *t, *a, *b))
        .collect();
    assert_eq!(
        divergences, expected,
        "only the listed divergences ({compared} names compared)"
    );
    let want = fixtures::CASES
        .iter()
        .filter(|c| {
            !matches!(
                c.verdict,
                fixtures::Verdict::Servfail | fixtures::Verdict::Timeout
            )
        })
        .count()
        + alg7_names.len();
    println!("oracle unbound: {compared} comparisons of {want} cases");
    assert_eq!(compared, want, "every case was compared");
}
