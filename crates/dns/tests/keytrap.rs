//! F5, KeyTrap (CVE-2023-50387; CHECKLIST D-19): keys with colliding key tags times junk
//! signatures must cost bounded CPU and end bogus, both in libunbound (the lookups) and in our
//! own RRSIG check (the nameserver comparison). A test binary of its own, so that the process
//! CPU time it reads is this test's alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use mxdane_dns::rdata::{Rdata, Record, rtype};
use mxdane_dns::{
    LookupError, MAX_VERIFICATIONS, Name, Resolver, Status, UnboundResolver, Upstream,
    parse_trust_anchors, verify_rrset,
};
use mxdane_lab::dns::forge::{Forgery, colliding_key};
use mxdane_lab::dns::keys::Algorithm;
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::world::World;

/// CPU seconds (user + system) this process has used, from /proc/self/stat (clock ticks of
/// 1/100 s, Linux's USER_HZ).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3 of stat(5), utime 14 and stime 15.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

#[test]
fn d19_f5_keytrap_costs_bounded_cpu_and_ends_bogus() {
    let tlsa = "3 1 1 8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1";
    let world = Arc::new(
        World::builder()
            .zone("rsa.test", |z| {
                z.algorithm(Algorithm::RsaSha256)
                    .mx("@", 10, "mx")
                    .a("mx", "192.0.2.15")
                    .tlsa("_25._tcp.mx", tlsa)
            })
            .build(),
    );
    let anchors = parse_trust_anchors(&world.trust_anchor_text()).unwrap();
    let resolver_via = |server: &DnsServer| {
        let ctx =
            UnboundResolver::context(&Upstream::Forward(server.addr()), &anchors, None).unwrap();
        UnboundResolver::new(Arc::new(ctx), Duration::from_secs(10), "forger")
    };
    // Control: honest answers are secure.
    let honest = DnsServer::recursive(world.clone()).unwrap();
    let l = resolver_via(&honest)
        .lookup_blocking(&Name::parse("_25._tcp.mx.rsa.test."), rtype::TLSA)
        .unwrap();
    assert_eq!(*l.status(), Status::Secure);

    // 100 extra keys per real key tag (the most a 64 KiB DNSKEY response holds) and 40 junk
    // signatures per RRset.
    let server = DnsServer::forging(
        world,
        vec![Forgery::KeyTrap {
            zone: Name::parse("rsa.test."),
            keys: 100,
            sigs: 40,
        }],
    )
    .unwrap();
    let r = resolver_via(&server);
    let before = cpu_seconds();
    for (name, t) in [
        ("_25._tcp.mx.rsa.test.", rtype::TLSA),
        ("mx.rsa.test.", rtype::A),
        ("rsa.test.", rtype::MX),
    ] {
        match r.lookup_blocking(&Name::parse(name), t) {
            Ok(l) => assert!(matches!(l.status(), Status::Bogus(_)), "{name}: {l:?}"),
            Err(e) => assert!(
                matches!(e, LookupError::Servfail | LookupError::Timeout { .. }),
                "{name}: {e}"
            ),
        }
    }
    let spent = cpu_seconds() - before;
    println!("KeyTrap (100 colliding keys x 40 junk signatures): {spent:.2} s CPU for 3 lookups");
    // Without a bound this is minutes of RSA verifications; the margin is generous.
    assert!(spent < 10.0, "{spent} s CPU");
}

#[test]
fn d19_f5_our_rrsig_check_stops_after_a_bounded_number_of_tries() {
    let zone = Name::parse("rsa.test.");
    let owner = Name::parse("_25._tcp.mx.rsa.test.");
    let rrset = vec![Record::new(
        owner.clone(),
        3600,
        Rdata::Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: vec![0x8c; 32],
        },
    )];
    // 700 keys sharing one tag (the review's figure) and 50 junk signatures of that tag.
    let tag = 4242;
    let keys: Vec<Rdata> = (0..700).map(|i| colliding_key(tag, 256, i + 1)).collect();
    let now = 1_800_000_000;
    let sigs: Vec<Record> = (0..50u8)
        .map(|i| {
            Record::new(
                owner.clone(),
                3600,
                Rdata::Rrsig {
                    type_covered: rtype::TLSA,
                    algorithm: 8,
                    labels: 5,
                    original_ttl: 3600,
                    expiration: now + 86_400,
                    inception: now - 86_400,
                    key_tag: tag,
                    signer: zone.clone(),
                    signature: vec![i; 256],
                },
            )
        })
        .collect();
    let before = cpu_seconds();
    let err = verify_rrset(&rrset, &sigs, &zone, &keys, now).unwrap_err();
    let spent = cpu_seconds() - before;
    assert!(
        err.contains(&format!("more than {MAX_VERIFICATIONS}")),
        "{err}"
    );
    println!("our RRSIG check, 700 keys x 50 signatures: {spent:.3} s CPU");
    assert!(spent < 2.0, "{spent} s CPU");
}
