//! The destination plan against lab worlds, in both resolver modes: one positive and one
//! negative case per CHECKLIST D-05 to D-17, and the two modes agreeing on every host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mxdane_dns::plan::{self, Decision, Outcome, Plan, Request, TlsaStatus};
use mxdane_dns::{
    Name, NetTransport, Resolver, Status, TrustedAdResolver, UnboundResolver, Upstream,
    parse_trust_anchors,
};
use mxdane_lab::dns::fixtures::DIGEST;
use mxdane_lab::dns::rdata::rtype;
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::world::{Delegation, ServerFault, SigFault, World};

fn tlsa() -> String {
    format!("3 1 1 {DIGEST}")
}

/// Every destination rule in one world.
fn world() -> Arc<World> {
    static W: OnceLock<Arc<World>> = OnceLock::new();
    W.get_or_init(|| {
        Arc::new(
            World::builder()
                .zone("signed.test", |z| {
                    z.mx("@", 10, "mx1")
                        .mx("@", 20, "mx2")
                        .mx("@", 20, "mx3")
                        .a("mx1", "192.0.2.1")
                        .aaaa("mx1", "2001:db8::1")
                        .tlsa("_25._tcp.mx1", &tlsa())
                        .tlsa("_587._tcp.mx1", &tlsa())
                        .a("mx2", "192.0.2.2")
                        .a("mx3", "192.0.2.3")
                        .tlsa("_25._tcp.mx3", &format!("1 1 1 {DIGEST}"))
                        // D-08
                        .a("implicit", "192.0.2.4")
                        .tlsa("_25._tcp.implicit", &tlsa())
                        .null_mx("nullmx")
                        .mx("literal", 10, "192.0.2.1.")
                        // D-09, D-10
                        .cname("h1", "mx1")
                        .cname("h2", "mx2")
                        .tlsa("_25._tcp.h2", &tlsa())
                        .cname("h3", "mx.sf.test.")
                        .tlsa("_25._tcp.h3", &tlsa())
                        .cname("h4", "mx.badtlsa.test.")
                        .tlsa("_25._tcp.h4", &tlsa())
                        .cname("h5", "mx.unsigned.test.")
                        .tlsa("_25._tcp.h5", &tlsa())
                        .mx("viacname", 10, "h1")
                        .cname("loop1", "loop2")
                        .cname("loop2", "loop1")
                        .mx("loops", 10, "loop1")
                        // D-12b
                        .a("badaddr", "192.0.2.9")
                        .sig_fault("badaddr", rtype::A, SigFault::Expired)
                        .mx("d12b", 10, "badaddr")
                        .mx("d12b", 20, "mx1")
                        // D-13: secure addresses, TLSA reached through a CNAME into an
                        // unsigned zone (insecure).
                        .a("tlsains", "192.0.2.10")
                        .cname("_25._tcp.tlsains", "_25._tcp.mx.unsigned.test.")
                        // D-08 + D-09: an implicit MX through a CNAME, TLSA only at the
                        // unexpanded name.
                        .cname("implcname", "plainhost")
                        .tlsa("_25._tcp.implcname", &tlsa())
                        // D-05: a host without DANE at a better preference than a DANE host.
                        .a("plainhost", "192.0.2.9")
                        .mx("d05", 10, "plainhost")
                        .mx("d05", 20, "mx1")
                        // D-14
                        .mx("d14", 10, "mx.badtlsa.test.")
                        .mx("bogusmx", 10, "mx1")
                        .sig_fault("bogusmx", rtype::MX, SigFault::Corrupt)
                })
                .zone("sf.test", |z| {
                    z.a("mx", "192.0.2.5")
                        .tlsa("_25._tcp.mx", &tlsa())
                        .server_fault(0, ServerFault::Servfail(rtype::TLSA))
                })
                .zone("badtlsa.test", |z| {
                    z.a("mx", "192.0.2.6")
                        .tlsa("_25._tcp.mx", &tlsa())
                        .sig_fault("_25._tcp.mx", rtype::TLSA, SigFault::Expired)
                })
                .zone("unsigned.test", |z| {
                    z.unsigned()
                        .a("mx", "192.0.2.7")
                        .tlsa("_25._tcp.mx", &tlsa())
                        .mx("@", 10, "mx1.signed.test.")
                })
                .zone("alg253.test", |z| {
                    z.delegation(Delegation::DsAlgorithm(253))
                        .mx("@", 10, "mx")
                        .a("mx", "192.0.2.8")
                        .tlsa("_25._tcp.mx", &tlsa())
                })
                .build(),
        )
    })
    .clone()
}

struct Servers {
    plain: DnsServer,
    validating: DnsServer,
}

fn servers() -> &'static Servers {
    static S: OnceLock<Servers> = OnceLock::new();
    S.get_or_init(|| Servers {
        plain: DnsServer::recursive(world()).unwrap(),
        validating: DnsServer::validating(world()).unwrap(),
    })
}

fn resolvers() -> Vec<Box<dyn Resolver>> {
    let s = servers();
    let anchors = parse_trust_anchors(&world().trust_anchor_text()).unwrap();
    vec![
        Box::new(UnboundResolver::new(
            Arc::new(
                UnboundResolver::context(&Upstream::Forward(s.plain.addr()), &anchors, None)
                    .unwrap(),
            ),
            Duration::from_secs(3),
            "lab",
        )),
        Box::new(
            TrustedAdResolver::new(Arc::new(NetTransport::new(
                s.validating.addr(),
                Duration::from_millis(500),
            )))
            .unwrap(),
        ),
    ]
}

fn plan_in(r: &dyn Resolver, destination: &str, port: u16, host: bool) -> Plan {
    plan::plan_blocking(
        r,
        &Request {
            destination: Name::parse(destination),
            port,
            kind: if host {
                plan::Kind::Host
            } else {
                plan::Kind::Domain
            },
        },
    )
}

/// Runs `check` on the plan in both modes.
fn both(destination: &str, port: u16, host: bool, check: impl Fn(&Plan, &str)) {
    for r in resolvers() {
        let p = plan_in(r.as_ref(), destination, port, host);
        check(&p, r.mode());
    }
}

fn decisions(p: &Plan) -> Vec<(String, &'static str)> {
    p.hosts
        .iter()
        .map(|h| (h.name.to_string(), h.decision.name()))
        .collect()
}

#[test]
fn d05_hosts_by_preference_equal_ones_in_random_order() {
    both("signed.test.", 25, false, |p, mode| {
        assert_eq!(p.outcome, Outcome::Deliverable, "{mode}");
        assert_eq!(p.mx_status(), Some("secure"));
        let prefs: Vec<Option<u16>> = p.hosts.iter().map(|h| h.preference).collect();
        assert_eq!(prefs, [Some(10), Some(20), Some(20)], "{mode}");
        assert_eq!(
            p.hosts[0].decision,
            Decision::Dane,
            "TLS ability does not reorder ({mode})"
        );
    });
    // TLS ability never reorders preferences: the opportunistic host at 10 stays before the
    // DANE host at 20 (issue 19: the assertion above cannot tell, its first host is the DANE
    // one anyway).
    both("d05.signed.test.", 25, false, |p, mode| {
        let got: Vec<(Option<u16>, Decision)> =
            p.hosts.iter().map(|h| (h.preference, h.decision)).collect();
        assert_eq!(
            got,
            [
                (Some(10), Decision::Opportunistic),
                (Some(20), Decision::Dane)
            ],
            "{mode}"
        );
    });
    // Negative: equal preferences are not in a fixed order (both orders show up).
    let r = &resolvers()[0];
    let mut orders = std::collections::HashSet::new();
    for _ in 0..40 {
        let p = plan_in(r.as_ref(), "signed.test.", 25, false);
        orders.insert(p.hosts[1].name.to_string());
    }
    assert_eq!(orders.len(), 2, "{orders:?}");
}

#[test]
fn d06_bogus_or_failed_mx_lookup_defers() {
    both("bogusmx.signed.test.", 25, false, |p, mode| {
        assert_eq!(p.outcome, Outcome::Defer, "{mode}: {}", p.reason);
        assert!(p.hosts.is_empty(), "never downgraded to a host list");
    });
    both("signed.test.", 25, false, |p, _| {
        assert_eq!(p.outcome, Outcome::Deliverable)
    });
    // An unreachable resolver: defer, with the reason.
    let dead = UnboundResolver::forwarding(
        "127.0.0.1:9".parse().unwrap(),
        &parse_trust_anchors(&world().trust_anchor_text()).unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    let p = plan_in(&dead, "signed.test.", 25, false);
    assert_eq!(p.outcome, Outcome::Defer);
    assert!(p.reason.contains("MX lookup failed"), "{}", p.reason);
}

#[test]
fn d07_insecure_mx_still_gets_dane_for_a_secure_host() {
    both("unsigned.test.", 25, false, |p, mode| {
        assert_eq!(p.mx_status(), Some("insecure"));
        assert_eq!(
            decisions(p),
            [("mx1.signed.test.".to_owned(), "dane")],
            "{mode}"
        );
        assert!(p.reason.contains("MX lookup is insecure"), "{}", p.reason);
        // T-08: after an insecure MX lookup only the TLSA base domain is a reference id.
        assert_eq!(p.hosts[0].reference_ids, [Name::parse("mx1.signed.test.")]);
    });
    // Negative: after a secure MX lookup the next-hop domain is a reference id too.
    both("signed.test.", 25, false, |p, _| {
        assert!(
            p.hosts[0]
                .reference_ids
                .contains(&Name::parse("signed.test."))
        );
    });
}

#[test]
fn d08_implicit_mx_nxdomain_null_mx_and_address_literals() {
    both("implicit.signed.test.", 25, false, |p, mode| {
        assert_eq!(
            decisions(p),
            [("implicit.signed.test.".to_owned(), "dane")],
            "{mode}"
        );
    });
    // The implicit MX host is the domain itself, CNAME rules included (RFC 7672 section
    // 2.2.2): TLSA at the expanded name (none there) and then at the domain (issue 13).
    both("implcname.signed.test.", 25, false, |p, mode| {
        assert_eq!(
            decisions(p),
            [("implcname.signed.test.".to_owned(), "dane")],
            "{mode}"
        );
        assert_eq!(
            p.hosts[0].tlsa_base,
            Some(Name::parse("implcname.signed.test.")),
            "{mode}"
        );
    });
    both("nothing.signed.test.", 25, false, |p, _| {
        assert_eq!(p.outcome, Outcome::NoSuchDomain);
        assert!(p.hosts.is_empty(), "NXDOMAIN is not an implicit MX");
    });
    both("nullmx.signed.test.", 25, false, |p, _| {
        assert_eq!(p.outcome, Outcome::NullMx)
    });
    both("literal.signed.test.", 25, false, |p, _| {
        assert!(
            p.hosts.is_empty() && p.outcome == Outcome::Defer,
            "{:?}",
            decisions(p)
        );
        assert!(p.reason.contains("address literal"), "{}", p.reason);
    });
}

#[test]
fn d09_tlsa_at_the_expanded_name_then_the_unexpanded_one_never_after_failure() {
    both("h1.signed.test.", 25, true, |p, mode| {
        assert_eq!(
            p.hosts[0].tlsa_base,
            Some(Name::parse("mx1.signed.test.")),
            "{mode}"
        );
        assert_eq!(p.hosts[0].decision, Decision::Dane);
    });
    // Expanded name has no TLSA (secure denial): fall back to the unexpanded name.
    both("h2.signed.test.", 25, true, |p, mode| {
        assert_eq!(
            p.hosts[0].tlsa_base,
            Some(Name::parse("h2.signed.test.")),
            "{mode}"
        );
        assert_eq!(p.hosts[0].decision, Decision::Dane);
    });
    // Negative: a failed or bogus TLSA lookup at the expanded name never falls back.
    for host in ["h3.signed.test.", "h4.signed.test."] {
        both(host, 25, true, |p, mode| {
            let h = &p.hosts[0];
            assert_eq!(h.decision, Decision::Skip, "{host} {mode}: {}", h.reason);
            assert_ne!(
                h.tlsa_base,
                Some(Name::parse(host)),
                "{host} {mode}: no fallback"
            );
        });
    }
}

#[test]
fn d10_mx_exchange_that_is_a_cname_and_loops() {
    both("viacname.signed.test.", 25, false, |p, mode| {
        assert_eq!(
            decisions(p),
            [("h1.signed.test.".to_owned(), "dane")],
            "{mode}"
        );
        assert_eq!(p.hosts[0].tlsa_base, Some(Name::parse("mx1.signed.test.")));
    });
    both("loops.signed.test.", 25, false, |p, mode| {
        assert_eq!(
            decisions(p),
            [("loop1.signed.test.".to_owned(), "skip")],
            "{mode}"
        );
        assert_eq!(p.outcome, Outcome::Defer);
    });
}

#[test]
fn d11_tlsa_name_uses_the_real_port() {
    both("mx1.signed.test.", 587, true, |p, mode| {
        assert_eq!(p.hosts[0].decision, Decision::Dane, "{mode}");
        let asked: Vec<String> = p.hosts[0]
            .lookups
            .iter()
            .map(|l| l.name.to_string())
            .collect();
        assert!(
            asked.contains(&"_587._tcp.mx1.signed.test.".to_owned()),
            "{asked:?}"
        );
    });
    // Negative: port 465 has no records there.
    both("mx1.signed.test.", 465, true, |p, _| {
        assert_eq!(p.hosts[0].decision, Decision::Opportunistic);
        assert_eq!(p.hosts[0].tlsa_status, TlsaStatus::SecureDenial);
    });
}

#[test]
fn d12_secure_tlsa_commits_to_tls_even_when_unusable() {
    both("mx3.signed.test.", 25, true, |p, mode| {
        assert_eq!(p.hosts[0].decision, Decision::TlsMandatory, "{mode}");
        assert_eq!(p.hosts[0].tlsa.len(), 1);
    });
    both("mx1.signed.test.", 25, true, |p, _| {
        assert_eq!(p.hosts[0].decision, Decision::Dane)
    });
}

#[test]
fn d12b_bogus_address_lookup_skips_only_that_host() {
    both("d12b.signed.test.", 25, false, |p, mode| {
        assert_eq!(
            decisions(p),
            [
                ("badaddr.signed.test.".to_owned(), "skip"),
                ("mx1.signed.test.".to_owned(), "dane")
            ],
            "{mode}"
        );
        assert_eq!(p.outcome, Outcome::Deliverable);
    });
}

#[test]
fn d13_secure_denial_or_insecure_tlsa_means_no_dane() {
    both("mx2.signed.test.", 25, true, |p, mode| {
        assert_eq!(p.hosts[0].decision, Decision::Opportunistic, "{mode}");
        assert_eq!(p.hosts[0].tlsa_status, TlsaStatus::SecureDenial);
    });
    // The insecure half (issue 19): records that are there but insecure are no DANE either.
    both("tlsains.signed.test.", 25, true, |p, mode| {
        assert_eq!(p.hosts[0].decision, Decision::Opportunistic, "{mode}");
        assert_eq!(p.hosts[0].tlsa_status, TlsaStatus::Insecure, "{mode}");
        assert!(
            !p.hosts[0].tlsa.is_empty(),
            "{mode}: the records were found"
        );
    });
    both("mx1.signed.test.", 25, true, |p, _| {
        assert_ne!(p.hosts[0].decision, Decision::Opportunistic)
    });
}

#[test]
fn d14_bogus_or_failed_tlsa_skips_the_host_and_defers_when_none_is_left() {
    both("d14.signed.test.", 25, false, |p, mode| {
        assert_eq!(
            decisions(p),
            [("mx.badtlsa.test.".to_owned(), "skip")],
            "{mode}"
        );
        assert_eq!(p.outcome, Outcome::Defer);
    });
    both("mx.sf.test.", 25, true, |p, mode| {
        assert_eq!(p.hosts[0].decision, Decision::Skip, "{mode}");
        assert_eq!(p.hosts[0].tlsa_status.name(), "failed");
    });
}

#[test]
fn d15_insecure_host_gets_no_tlsa_lookup_but_an_insecure_cname_target_does() {
    both("mx.unsigned.test.", 25, true, |p, mode| {
        let h = &p.hosts[0];
        assert_eq!(h.decision, Decision::Opportunistic, "{mode}");
        assert_eq!(h.tlsa_status, TlsaStatus::NotLooked);
        assert!(
            h.lookups.iter().all(|l| l.qtype != rtype::TLSA),
            "no TLSA query"
        );
    });
    // A secure alias of an insecure host: TLSA at the unexpanded name.
    both("h5.signed.test.", 25, true, |p, mode| {
        let h = &p.hosts[0];
        assert_eq!(h.decision, Decision::Dane, "{mode}: {}", h.reason);
        assert_eq!(h.tlsa_base, Some(Name::parse("h5.signed.test.")));
    });
}

#[test]
fn d16_bad_names_are_refused_clearly() {
    let long = format!("{}.test", "a".repeat(64));
    let err = Name::try_parse(&long).unwrap_err();
    assert!(err.to_string().contains("63"), "{err}");
    let too_long = vec!["abcdefghij"; 30].join(".");
    assert!(
        Name::try_parse(&too_long)
            .unwrap_err()
            .to_string()
            .contains("255")
    );
    assert!(Name::try_parse("bad name.test").is_err());
    // Case and the trailing dot do not matter.
    assert_eq!(
        Name::parse("MX1.Signed.TEST"),
        Name::parse("mx1.signed.test.")
    );
}

#[test]
fn d03_unsupported_ds_algorithm_is_insecure_not_bogus_rfc4035_5_2() {
    both("alg253.test.", 25, false, |p, mode| {
        assert_eq!(p.mx_status(), Some("insecure"), "{mode}");
        assert_eq!(
            p.hosts[0].decision,
            Decision::Opportunistic,
            "{mode}: {}",
            p.hosts[0].reason
        );
    });
    // Negative: a supported algorithm validates.
    let r = &resolvers()[0];
    let l = r
        .lookup_blocking(&Name::parse("signed.test."), rtype::MX)
        .unwrap();
    assert_eq!(*l.status(), Status::Secure);
}

// Issue 4: for every lab world, both modes reach the same decision and TLSA base domain.
#[test]
fn both_modes_agree_on_every_destination() {
    let destinations: Vec<(String, bool)> = [
        "signed.test.",
        "bogusmx.signed.test.",
        "unsigned.test.",
        "implicit.signed.test.",
        "nothing.signed.test.",
        "nullmx.signed.test.",
        "literal.signed.test.",
        "viacname.signed.test.",
        "loops.signed.test.",
        "d12b.signed.test.",
        "d14.signed.test.",
        "alg253.test.",
    ]
    .iter()
    .map(|d| ((*d).to_owned(), false))
    .chain(
        ["h1", "h2", "h3", "h4", "h5", "mx1", "mx2", "mx3", "badaddr"]
            .iter()
            .map(|h| (format!("{h}.signed.test."), true)),
    )
    .chain(
        ["mx.sf.test.", "mx.unsigned.test.", "mx.badtlsa.test."]
            .iter()
            .map(|h| ((*h).to_owned(), true)),
    )
    .collect();
    let rs = resolvers();
    for (d, host) in &destinations {
        let plans: Vec<Plan> = rs
            .iter()
            .map(|r| plan_in(r.as_ref(), d, 25, *host))
            .collect();
        let view = |p: &Plan| {
            let mut hosts: Vec<(String, &'static str, Option<Name>)> = p
                .hosts
                .iter()
                .map(|h| (h.name.to_string(), h.decision.name(), h.tlsa_base.clone()))
                .collect();
            hosts.sort();
            (p.outcome, hosts)
        };
        assert_eq!(view(&plans[0]), view(&plans[1]), "{d}");
    }
}

// D-19, F7: hostile DNS data cannot make the plan unbounded: 40 MX hosts and a host with 300
// addresses are cut to the limits, and each cut is named.
#[test]
fn d19_f7_mx_hosts_and_addresses_are_bounded_and_the_bound_is_named() {
    use mxdane_dns::plan::{MAX_ADDRESSES, MAX_MX_HOSTS};
    let tlsa = format!("3 1 1 {}", mxdane_lab::dns::fixtures::DIGEST);
    let world = Arc::new(
        World::builder()
            .zone("many.test", |mut z| {
                for i in 0..40u16 {
                    z = z
                        .mx("@", i, &format!("mx{i}"))
                        .a(&format!("mx{i}"), "192.0.2.1");
                }
                z
            })
            .zone("fat.test", |mut z| {
                z = z.mx("@", 10, "mx").tlsa("_25._tcp.mx", &tlsa);
                for i in 0..300u32 {
                    z = z.a("mx", &format!("10.0.{}.{}", i / 250, i % 250 + 1));
                }
                z
            })
            .build(),
    );
    let server = DnsServer::recursive(world.clone()).unwrap();
    let anchors = parse_trust_anchors(&world.trust_anchor_text()).unwrap();
    let r = UnboundResolver::new(
        Arc::new(
            UnboundResolver::context(&Upstream::Forward(server.addr()), &anchors, None).unwrap(),
        ),
        Duration::from_secs(5),
        "lab",
    );
    let p = plan_in(&r, "many.test.", 25, false);
    assert_eq!(p.hosts.len(), MAX_MX_HOSTS);
    // The most preferred ones.
    assert_eq!(p.hosts[0].preference, Some(0));
    assert!(
        p.limits.iter().any(|l| l.contains("MAX_MX_HOSTS")),
        "{:?}",
        p.limits
    );
    assert!(p.reason.contains("40 MX hosts"), "{}", p.reason);
    let p = plan_in(&r, "fat.test.", 25, false);
    assert_eq!(p.hosts[0].addresses.len(), MAX_ADDRESSES);
    assert_eq!(p.hosts[0].decision, Decision::Dane);
    assert!(
        p.limits
            .iter()
            .any(|l| l.contains("300 addresses") && l.contains("MAX_ADDRESSES")),
        "{:?}",
        p.limits
    );
    // Negative: an ordinary destination hits no bound.
    let ordinary = World::builder()
        .zone("one.test", |z| z.mx("@", 10, "mx").a("mx", "192.0.2.1"))
        .build();
    let ordinary = Arc::new(ordinary);
    let s2 = DnsServer::recursive(ordinary.clone()).unwrap();
    let r2 = UnboundResolver::forwarding(
        s2.addr(),
        &parse_trust_anchors(&ordinary.trust_anchor_text()).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(plan_in(&r2, "one.test.", 25, false).limits.is_empty());
}
