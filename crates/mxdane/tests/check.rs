//! `mxdane check` end to end against the lab: signed DNS served in-process (recursive and every
//! authoritative server), SMTP servers and men in the middle on loopback reached through
//! routes. One domain per situation of issue 7's "Done when", each with its verdict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mxdane::check::{self, CheckReport, Environment, Options, ProbeResult, Verdict};
use mxdane_dns::{Name, NetTransport, Transport, ValidatingResolver, parse_trust_anchors};
use mxdane_lab::certs::{CertSpec, KeyAlg, Pki, TestCert};
use mxdane_lab::dns::rdata::rtype;
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::world::{ServerFault, SigFault, World, ZoneSpec, ns_address};
use mxdane_lab::smtp::{Behaviour, Mitm, MitmKind, SmtpServer, SmtpSpec};
use mxdane_lab::tls::Credential;
use mxdane_smtp::{Connector, Settings};
use mxdane_tlsa::{Certificate, MatchingType, Selector, Subject, Usage};

const DOMAINS: &[&str] = &[
    "ee", "ta", "mismatch", "twomx", "twoaddr", "dual", "nostls", "strip", "subst", "bogus",
    "nsfail", "insecure", "unusable", "disagree", "expiring",
];

fn tlsa(cert: &TestCert, usage: Usage) -> String {
    let c = Certificate::from_der(cert.der()).unwrap();
    mxdane_tlsa::matching::generate(
        Subject::Certificate(&c),
        usage,
        Selector::Spki,
        MatchingType::Sha256,
    )
    .unwrap()
    .to_string()
}

struct Lab {
    world: Arc<World>,
    env: Environment,
    _keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(build)
}

fn build() -> Lab {
    let mut names: Vec<String> = DOMAINS.iter().map(|d| format!("mx.{d}.test")).collect();
    names.extend(["mx1.twomx.test".to_owned(), "mx2.twomx.test".to_owned()]);
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let pki = Pki::new(KeyAlg::EcdsaP256, "unused.test");
    let leaf = CertSpec::leaf(&name_refs).signed_by(&pki.intermediate);
    let wrong = CertSpec::leaf(&name_refs)
        .key_slot(5)
        .signed_by(&pki.intermediate);
    let rsa = Pki::new(KeyAlg::Rsa2048, "mx.dual.test");
    let impostor_root = CertSpec::ca("Impostor").key_slot(120).self_signed();
    let impostor = CertSpec::leaf(&name_refs)
        .key_slot(121)
        .signed_by(&impostor_root);
    let chain = |l: &TestCert| Credential::new(&[l, &pki.intermediate]);
    let server = |default: Vec<Credential>, behaviour| {
        SmtpServer::start(SmtpSpec {
            default,
            behaviour,
            ..SmtpSpec::default()
        })
        .unwrap()
    };
    let good = server(vec![chain(&leaf)], Behaviour::Normal);
    let bad = server(vec![chain(&wrong)], Behaviour::Normal);
    let nostls = server(vec![chain(&leaf)], Behaviour::NoStartTls);
    let dual = server(
        vec![
            chain(&leaf),
            Credential::new(&[&rsa.leaf, &rsa.intermediate]),
        ],
        Behaviour::Normal,
    );
    let strip = Mitm::start(good.addr(), MitmKind::StripStartTls).unwrap();
    let subst = Mitm::start(
        good.addr(),
        MitmKind::OwnCertificate(vec![Credential::new(&[&impostor, &impostor_root])]),
    )
    .unwrap();
    let ee = tlsa(&leaf, Usage::DaneEe);
    let host = |z: ZoneSpec, ip: &str| z.mx("@", 10, "mx").a("mx", ip).tlsa("_25._tcp.mx", &ee);
    let world = Arc::new(
        World::builder()
            .zone("ee.test", |z| {
                host(z, "192.0.2.1").aaaa("mx", "2001:db8::1")
            })
            .zone("ta.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.2")
                    .tlsa("_25._tcp.mx", &tlsa(&pki.intermediate, Usage::DaneTa))
            })
            .zone("mismatch.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.3")
                    .tlsa("_25._tcp.mx", &tlsa(&wrong, Usage::DaneEe))
            })
            .zone("twomx.test", |z| {
                z.mx("@", 10, "mx1")
                    .mx("@", 20, "mx2")
                    .a("mx1", "192.0.2.4")
                    .a("mx2", "192.0.2.5")
                    .tlsa("_25._tcp.mx1", &ee)
                    .tlsa("_25._tcp.mx2", &ee)
            })
            .zone("twoaddr.test", |z| {
                host(z, "192.0.2.6").aaaa("mx", "2001:db8::6")
            })
            .zone("dual.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.7")
                    .tlsa("_25._tcp.mx", &tlsa(&rsa.leaf, Usage::DaneEe))
            })
            .zone("nostls.test", |z| host(z, "192.0.2.8"))
            .zone("strip.test", |z| host(z, "192.0.2.9"))
            .zone("subst.test", |z| host(z, "192.0.2.10"))
            .zone("bogus.test", |z| {
                host(z, "192.0.2.11").sig_fault("_25._tcp.mx", rtype::TLSA, SigFault::Expired)
            })
            .zone("nsfail.test", |z| {
                host(z, "192.0.2.12")
                    .second_server()
                    .server_fault(1, ServerFault::Servfail(rtype::TLSA))
            })
            .zone("insecure.test", |z| host(z, "192.0.2.13").unsigned())
            .zone("unusable.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.14")
                    .tlsa("_25._tcp.mx", &tlsa(&leaf, Usage::PkixEe))
            })
            .zone("disagree.test", |z| {
                host(z, "192.0.2.15").second_server().server_replaces(
                    1,
                    "_25._tcp.mx",
                    vec![mxdane_lab::dns::world::parse_tlsa(&tlsa(
                        &wrong,
                        Usage::DaneEe,
                    ))],
                )
            })
            .zone("expiring.test", |z| {
                host(z, "192.0.2.16").sig_fault("_25._tcp.mx", rtype::TLSA, SigFault::ExpiresSoon)
            })
            .build(),
    );
    let smtp = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 25);
    let connector = Connector::direct()
        .route(smtp("192.0.2.1"), good.addr())
        .route(smtp("2001:db8::1"), good.addr())
        .route(smtp("192.0.2.2"), good.addr())
        .route(smtp("192.0.2.3"), good.addr())
        .route(smtp("192.0.2.4"), good.addr())
        .route(smtp("192.0.2.5"), bad.addr())
        .route(smtp("192.0.2.6"), good.addr())
        .route(smtp("2001:db8::6"), bad.addr())
        .route(smtp("192.0.2.7"), dual.addr())
        .route(smtp("192.0.2.8"), nostls.addr())
        .route(smtp("192.0.2.9"), strip.addr())
        .route(smtp("192.0.2.10"), subst.addr())
        .route(smtp("192.0.2.11"), good.addr())
        .route(smtp("192.0.2.12"), good.addr())
        .route(smtp("192.0.2.13"), good.addr())
        .route(smtp("192.0.2.14"), good.addr())
        .route(smtp("192.0.2.15"), good.addr())
        .route(smtp("192.0.2.16"), good.addr());
    // Every authoritative server of every zone, reachable at its published address.
    let mut keep: Vec<Box<dyn std::any::Any + Send + Sync>> = Vec::new();
    let mut ns_routes: HashMap<SocketAddr, SocketAddr> = HashMap::new();
    for (zi, z) in world.zones().iter().enumerate() {
        for si in 0..z.servers.len() {
            let s = DnsServer::authoritative(world.clone(), &z.apex.to_string(), si).unwrap();
            ns_routes.insert(SocketAddr::new(ns_address(zi, si).into(), 53), s.addr());
            keep.push(Box::new(s));
        }
    }
    let recursive = DnsServer::recursive(world.clone()).unwrap();
    let resolver = Arc::new(ValidatingResolver::new(
        Arc::new(NetTransport::new(
            recursive.addr(),
            Duration::from_millis(500),
        )),
        parse_trust_anchors(&world.trust_anchor_text()).unwrap(),
    ));
    keep.push(Box::new(recursive));
    for s in [good, bad, nostls, dual] {
        keep.push(Box::new(s));
    }
    keep.push(Box::new(strip));
    keep.push(Box::new(subst));
    let nameserver = Arc::new(move |addr: SocketAddr| -> Arc<dyn Transport> {
        let to = ns_routes.get(&addr).copied().unwrap_or(addr);
        Arc::new(NetTransport::new(to, Duration::from_millis(500)))
    });
    Lab {
        world,
        env: Environment {
            resolver,
            connector,
            nameserver,
        },
        _keep: keep,
    }
}

fn options() -> Options {
    Options {
        settings: Settings {
            step: Duration::from_secs(5),
            total: Duration::from_secs(20),
            ..Settings::default()
        },
        ..Options::default()
    }
}

async fn run(domain: &str) -> CheckReport {
    let l = lab();
    let _ = &l.world;
    check::check(
        l.env.clone(),
        Name::parse(&format!("{domain}.test.")),
        options(),
    )
    .await
}

fn results(r: &CheckReport) -> Vec<(String, String, &'static str, &'static str)> {
    r.hosts
        .iter()
        .flat_map(|h| {
            h.probes.iter().map(move |p| {
                (
                    h.plan.name.to_string(),
                    p.ip.to_string(),
                    p.algorithm,
                    p.result.name(),
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_situation_gets_its_verdict() {
    let want = [
        ("ee", Verdict::Ok),
        ("ta", Verdict::Ok),
        ("mismatch", Verdict::Critical),
        ("twomx", Verdict::Critical),
        ("twoaddr", Verdict::Critical),
        ("dual", Verdict::Critical),
        ("nostls", Verdict::Critical),
        ("strip", Verdict::Critical),
        ("subst", Verdict::Critical),
        ("bogus", Verdict::Critical),
        ("nsfail", Verdict::Critical),
        ("insecure", Verdict::Warning),
        ("unusable", Verdict::Warning),
        ("disagree", Verdict::Warning),
        ("expiring", Verdict::Warning),
    ];
    let mut failures = Vec::new();
    for (domain, verdict) in want {
        let r = run(domain).await;
        if r.verdict != verdict {
            failures.push(format!(
                "{domain}: want {verdict:?}, got {:?}\n  critical: {:?}\n  warnings: {:?}\n  probes: {:?}",
                r.verdict,
                r.critical,
                r.warnings,
                results(&r)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_say_what_happened() {
    let ee = run("ee").await;
    let probes = results(&ee);
    assert_eq!(probes.len(), 6, "2 addresses x 3 handshakes: {probes:?}");
    for (_, ip, alg, result) in &probes {
        let want = if *alg == "rsa" {
            "no-such-certificate"
        } else {
            "verified"
        };
        assert_eq!(*result, want, "{ip} {alg}");
    }
    let p = &ee.hosts[0].probes[0];
    assert_eq!(p.tls_version.as_deref(), Some("TLSv1_3"));
    assert_eq!(p.matched.as_ref().unwrap().1, 0);
    assert_eq!(p.chain.len(), 2);
    let ta = run("ta").await;
    assert_eq!(
        ta.hosts[0].probes[0].matched.as_ref().unwrap().1,
        1,
        "DANE-TA at depth 1"
    );
    let dual = run("dual").await;
    let by_alg: HashMap<&str, &str> = dual.hosts[0]
        .probes
        .iter()
        .map(|p| (p.algorithm, p.result.name()))
        .collect();
    assert_eq!(by_alg["rsa"], "verified");
    assert_eq!(by_alg["ecdsa"], "mismatch");
    let strip = run("strip").await;
    assert!(
        strip.hosts[0]
            .probes
            .iter()
            .all(|p| p.result == ProbeResult::NoStartTls)
    );
    let subst = run("subst").await;
    assert!(
        subst.hosts[0]
            .probes
            .iter()
            .any(|p| p.result == ProbeResult::Mismatch)
    );
    let bogus = run("bogus").await;
    assert_eq!(bogus.hosts[0].plan.decision.name(), "skip");
    assert!(
        bogus.hosts[0].probes.is_empty(),
        "a skipped host is not probed"
    );
    let unusable = run("unusable").await;
    assert!(
        unusable.hosts[0]
            .probes
            .iter()
            .filter(|p| p.algorithm != "rsa")
            .all(|p| p.result == ProbeResult::Encrypted)
    );
    let disagree = run("disagree").await;
    assert_eq!(disagree.hosts[0].nameservers.len(), 2);
    assert!(
        disagree
            .warnings
            .iter()
            .any(|w| w.contains("different TLSA")),
        "{:?}",
        disagree.warnings
    );
    let expiring = run("expiring").await;
    assert!(
        expiring
            .warnings
            .iter()
            .any(|w| w.contains("RRSIG expires")),
        "{:?}",
        expiring.warnings
    );
    assert_eq!(Verdict::Critical.exit_code(), 2);
}
