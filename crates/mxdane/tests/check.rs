//! `mxdane check` end to end against the lab's demo world (mxdane::demo): signed DNS served
//! in-process (recursive and every authoritative server), SMTP servers and men in the middle on
//! loopback reached through routes. One domain per situation of issue 7's "Done when", each
//! with its verdict; and the command line's exit codes against its JSON verdict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;
use std::time::Duration;

use mxdane::check::{self, CheckReport, Options, ProbeResult, Verdict};
use mxdane_dns::Name;
use mxdane_smtp::Settings;

fn lab() -> &'static mxdane::demo::Demo {
    static LAB: OnceLock<mxdane::demo::Demo> = OnceLock::new();
    LAB.get_or_init(|| mxdane::demo::start().unwrap())
}

mod common;

/// "Non-empty, and all of them": an assertion over an empty list proves nothing (issue 19).
fn every<'a, T: 'a>(items: impl IntoIterator<Item = &'a T>, pred: impl Fn(&T) -> bool) -> bool {
    let mut seen = 0;
    for item in items {
        seen += 1;
        if !pred(item) {
            return false;
        }
    }
    seen > 0
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
async fn m04_every_situation_gets_its_verdict() {
    let want = common::verdicts();
    // Every demo zone with an MX host has an expectation, and every expectation a zone.
    let zones: BTreeSet<String> = lab()
        .world
        .zones()
        .iter()
        .filter(|z| z.apex.len() == 2)
        .filter(|z| {
            z.servers[0]
                .nodes
                .get(&z.apex)
                .is_some_and(|n| n.rrsets.contains_key(&mxdane_lab::dns::rdata::rtype::MX))
        })
        .map(|z| z.apex.labels()[0].iter().map(|b| char::from(*b)).collect())
        .collect();
    let listed: BTreeSet<String> = want.iter().map(|(d, _, _)| d.clone()).collect();
    let unlisted: Vec<&String> = zones.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "demo zones without a verdict: {unlisted:?}"
    );
    let mut failures = Vec::new();
    for (domain, verdict, _) in &want {
        let (domain, verdict) = (domain.as_str(), *verdict);
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
async fn m01_probes_say_what_happened() {
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
    assert_eq!(p.matched.as_ref().unwrap().depth, 0);
    assert_eq!(p.chain.len(), 2);
    let ta = run("ta").await;
    assert_eq!(
        ta.hosts[0].probes[0].matched.as_ref().unwrap().depth,
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
    assert!(every(&strip.hosts[0].probes, |p| p.result
        == ProbeResult::NoStartTls));
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
    assert!(every(
        unusable.hosts[0]
            .probes
            .iter()
            .filter(|p| p.algorithm != "rsa"),
        |p| p.result == ProbeResult::Encrypted
    ));
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
    let taexp = run("taexp").await;
    assert!(
        taexp
            .warnings
            .iter()
            .any(|w| w.contains("chain certificate CN=Short-lived Issuer expires")),
        "{:?}",
        taexp.warnings
    );
    assert_eq!(Verdict::Critical.exit_code(), 2);
}

// The command line: exit code and JSON verdict agree, for each verdict; usage errors exit 3.
#[test]
fn m02_cli_exit_code_agrees_with_the_json_verdict() {
    let l = lab();
    let dir = std::env::temp_dir().join(format!("mxdane-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let anchor = dir.join("anchor");
    std::fs::write(&anchor, l.world.trust_anchor_text()).unwrap();
    let resolver = l.resolver.to_string();
    let routes: Vec<String> = l.routes.iter().map(|(a, b)| format!("{a}={b}")).collect();
    for (domain, verdict, code) in [
        ("ee", "ok", 0),
        ("insecure", "warning", 1),
        ("strip", "critical", 2),
    ] {
        let mut args = vec![
            "--json".to_owned(),
            "check".into(),
            format!("{domain}.test"),
            "--resolver".into(),
            resolver.clone(),
            "--trust-anchor".into(),
            anchor.display().to_string(),
            "--timeout".into(),
            "5".into(),
        ];
        for r in &routes {
            args.push("--route".into());
            args.push(r.clone());
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
            .args(&args)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{domain}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(
            v["verdict"],
            verdict,
            "{domain}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(out.status.code(), Some(code), "{domain}");
        assert!(
            v["hosts"][0]["probes"]
                .as_array()
                .is_some_and(|p| !p.is_empty()),
            "{domain}"
        );
    }
    // The resolver cannot be reached at all: unknown (3).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
        .args([
            "--json",
            "check",
            "ee.test",
            "--resolver",
            "127.0.0.1:9",
            "--timeout",
            "1",
            "--trust-anchor",
        ])
        .arg(&anchor)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["verdict"].as_str(), out.status.code()),
        (Some("unknown"), Some(3))
    );
    // Usage errors: 3, never 2 (which would read as "critical").
    for bad in [
        vec!["check"],
        vec!["check", "ee.test", "--port", "x"],
        vec!["check", "bad name.test", "--resolver", "127.0.0.1:9"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
            .args(&bad)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// The pre-deployment gate (issue 7): a new chain whose key is published as "next" on every
// authoritative server passes; one whose key is not published fails; one whose key only one of
// two servers publishes (a secondary still on old data) fails; and a host the gate cannot judge
// (insecure, bogus TLSA, dead resolver) is "unknown" (exit 3), not "fail" (issue 13).
#[test]
fn pre_deployment_gate() {
    use mxdane_lab::certs::{CertSpec, KeyAlg, Pki};
    let l = lab();
    let dir = std::env::temp_dir().join(format!("mxdane-gate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let anchor = dir.join("anchor");
    std::fs::write(&anchor, l.world.trust_anchor_text()).unwrap();
    let issuer = Pki::new(KeyAlg::EcdsaP256, "unused.test").intermediate;
    let gate_at = |host: &str, slot: usize, resolver: String| {
        let cert = CertSpec::leaf(&[host]).key_slot(slot).signed_by(&issuer);
        let path = dir.join(format!("new-{host}-{slot}.pem"));
        std::fs::write(&path, cert.pem() + &issuer.pem()).unwrap();
        let mut args = vec![
            "--json".to_owned(),
            "tlsa".into(),
            "verify".into(),
            "--chain".into(),
            path.display().to_string(),
            "--host".into(),
            host.into(),
            "--resolver".into(),
            resolver,
            "--timeout".into(),
            "2".into(),
            "--trust-anchor".into(),
            anchor.display().to_string(),
        ];
        for (a, b) in &l.routes {
            args.push("--route".into());
            args.push(format!("{a}={b}"));
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
            .args(&args)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), v)
    };
    let gate = |host: &str, slot: usize| gate_at(host, slot, l.resolver.to_string());
    let (code, v) = gate("mx.next.test", 7);
    assert_eq!((code, v["gate"].as_str()), (Some(0), Some("pass")), "{v}");
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    let (code, v) = gate("mx.next.test", 8);
    assert_eq!((code, v["gate"].as_str()), (Some(1), Some("fail")), "{v}");
    // disagree.test: the second server publishes the key of slot 5, the first does not.
    let (code, v) = gate("mx.disagree.test", 5);
    assert_eq!((code, v["gate"].as_str()), (Some(1), Some("fail")), "{v}");
    let results: Vec<&str> = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["result"].as_str())
        .collect();
    assert_eq!(results.len(), 2, "{v}");
    assert!(
        results.contains(&"pass") && results.contains(&"fail"),
        "{v}"
    );
    // The gate's document (docs/json.md), pinned.
    let mut pinned = v.clone();
    scrub(&mut pinned);
    common::golden("gate-disagree.json", &format!("{pinned}\n"));
    for host in ["mx.insecure.test", "mx.bogus.test"] {
        let (code, v) = gate(host, 7);
        assert_eq!(
            (code, v["gate"].as_str()),
            (Some(3), Some("unknown")),
            "{host}: {v}"
        );
    }
    let (code, v) = gate_at("mx.next.test", 7, "127.0.0.1:9".into());
    assert_eq!(
        (code, v["gate"].as_str()),
        (Some(3), Some("unknown")),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// `tlsa generate --from-server`: one handshake per key algorithm finds both chains of a dual
// RSA+ECDSA server; the records equal those generated from the certificate files.
#[test]
fn generate_from_a_live_server() {
    use mxdane_lab::certs::{KeyAlg, Pki};
    use mxdane_lab::smtp::{SmtpServer, SmtpSpec};
    use mxdane_lab::tls::Credential;
    let rsa = Pki::new(KeyAlg::Rsa2048, "mx.gen.test");
    let ec = Pki::new(KeyAlg::EcdsaP256, "mx.gen.test");
    let server = SmtpServer::start(SmtpSpec {
        default: vec![
            Credential::new(&[&ec.leaf, &ec.intermediate]),
            Credential::new(&[&rsa.leaf, &rsa.intermediate]),
        ],
        ..SmtpSpec::default()
    })
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split(" ; ").next().unwrap().to_owned())
            .collect();
        lines.sort();
        lines
    };
    let live = run(&[
        "tlsa",
        "generate",
        "--from-server",
        &server.addr().to_string(),
        "--host",
        "mx.gen.test",
        "--preset",
        "current",
    ]);
    let dir = std::env::temp_dir().join(format!("mxdane-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("rsa.pem"), dir.join("ec.pem"));
    std::fs::write(&a, rsa.leaf.pem()).unwrap();
    std::fs::write(&b, ec.leaf.pem()).unwrap();
    let files = run(&[
        "tlsa",
        "generate",
        "--cert",
        a.to_str().unwrap(),
        "--cert",
        b.to_str().unwrap(),
        "--host",
        "mx.gen.test",
        "--preset",
        "current",
    ]);
    assert_eq!(live.len(), 2, "{live:?}");
    assert_eq!(live, files);
    let _ = std::fs::remove_dir_all(&dir);
}

// --at: DANE-EE ignores dates, DANE-TA does not: two years on, the TA chain has expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_asks_whether_chains_still_verify_later() {
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(730);
    let opts = Options {
        at: Some(later),
        ..options()
    };
    let ee = check::check(lab().env.clone(), Name::parse("ee.test."), opts.clone()).await;
    assert!(every(
        ee.hosts[0]
            .probes
            .iter()
            .filter(|p| p.result == ProbeResult::Verified),
        |p| p.at_verifies == Some(true)
    ));
    assert_eq!(ee.verdict, Verdict::Ok);
    let ta = check::check(lab().env.clone(), Name::parse("ta.test."), opts).await;
    assert!(every(
        ta.hosts[0]
            .probes
            .iter()
            .filter(|p| p.result == ProbeResult::Verified),
        |p| p.at_verifies == Some(false)
    ));
    assert_eq!(ta.verdict, Verdict::Warning, "{:?}", ta.warnings);
}

/// A resolver that answers nothing for three seconds per lookup (each lookup bounded, the
/// whole plan not).
struct Stuck;

impl mxdane_dns::Resolver for Stuck {
    fn lookup<'a>(&'a self, name: &'a Name, _: u16) -> mxdane_dns::lookup::LookupFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Err(mxdane_dns::LookupError::Timeout {
                server: format!("stuck ({name})"),
            })
        })
    }

    fn mode(&self) -> &'static str {
        "validating"
    }
}

// D-19: the whole DNS phase has a deadline; past it the verdict is unknown and names the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d19_the_dns_phase_has_one_deadline() {
    let mut env = lab().env.clone();
    env.resolver = std::sync::Arc::new(Stuck);
    let started = std::time::Instant::now();
    let r = check::check(
        env,
        Name::parse("ee.test."),
        Options {
            dns_deadline: Duration::from_millis(300),
            ..options()
        },
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(
        r.critical.iter().any(|c| c.contains("dns_deadline")),
        "{:?}",
        r.critical
    );
    // Negative: with the default deadline the same domain is checked normally.
    assert_eq!(run("ee").await.verdict, Verdict::Ok);
}

/// A resolver that answers NXDOMAIN to every question, the root DNSKEY included (bounded: at
/// most 2000 answers or 60 s).
fn nxdomain_for_everything() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        for _ in 0..2000 {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                return;
            };
            if n < 12 {
                continue;
            }
            let mut r = buf[..n].to_vec();
            r[2] |= 0x80; // QR
            r[3] = (r[3] & 0xf0) | 3; // NXDOMAIN
            let _ = socket.send_to(&r, peer);
        }
    });
    addr
}

// Issue 13: a broken local resolver is "unknown: our resolver is broken", not a CRITICAL for
// the domain (a monitoring host would page for every domain at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m04_a_broken_resolver_is_unknown_not_critical() {
    let anchors = mxdane_dns::parse_trust_anchors(&lab().world.trust_anchor_text()).unwrap();
    let broken = mxdane_dns::UnboundResolver::forwarding(
        nxdomain_for_everything(),
        &anchors,
        Duration::from_secs(3),
    )
    .unwrap();
    let mut env = lab().env.clone();
    env.resolver = std::sync::Arc::new(broken);
    let r = check::check(env, Name::parse("ee.test."), options()).await;
    assert_eq!(r.verdict, Verdict::Unknown, "{:?}", r.critical);
    assert!(r.critical[0].contains("root DNSKEY"), "{:?}", r.critical);
    // A --trust-ad resolver that does not validate (no AD bit): unknown too.
    let plain = mxdane_lab::dns::server::DnsServer::recursive(lab().world.clone()).unwrap();
    let no_ad = mxdane_dns::TrustedAdResolver::new(std::sync::Arc::new(
        mxdane_dns::NetTransport::new(plain.addr(), Duration::from_secs(2)),
    ))
    .unwrap();
    let mut env = lab().env.clone();
    env.resolver = std::sync::Arc::new(no_ad);
    let r = check::check(env, Name::parse("ee.test."), options()).await;
    assert_eq!(r.verdict, Verdict::Unknown, "{:?}", r.critical);
    assert!(
        r.critical[0].contains("does not validate"),
        "{:?}",
        r.critical
    );
    // Negative: the lab's resolver is sound, and the same domain is ok.
    assert_eq!(run("ee").await.verdict, Verdict::Ok);
}

// Issue 13: the TLSA TTL is reported as the zone publishes it and advice about it is a note
// that leaves the verdict alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m06_a_short_tlsa_ttl_is_a_note_with_the_zone_s_ttl() {
    let r = run("shortttl").await;
    assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.warnings);
    assert!(
        r.notes.iter().any(|n| n.contains("TLSA TTL 300 s")),
        "{:?}",
        r.notes
    );
    // Asked again a while later (the validator's cache counting down), still the zone's TTL.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = run("shortttl").await;
    assert!(
        again.notes.iter().any(|n| n.contains("TLSA TTL 300 s")),
        "{:?}",
        again.notes
    );
    assert!(run("ee").await.notes.is_empty());
}

// Issue 13: port 465 (RFC 8314 implicit TLS) is checked with TLS on connect and the TLSA
// records at _465._tcp; probing it with STARTTLS fails, as a sender's would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s08_port_465_is_checked_with_implicit_tls() {
    use mxdane_dns::{NetTransport, Transport, UnboundResolver};
    use mxdane_lab::certs::{KeyAlg, Pki};
    use mxdane_lab::dns::server::DnsServer;
    use mxdane_lab::dns::world::{World, ns_address};
    use mxdane_lab::smtp::{SmtpServer, SmtpSpec};
    use mxdane_lab::tls::Credential;
    use std::net::SocketAddr;
    use std::sync::Arc;
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.smtps.test");
    let leaf = mxdane_tlsa::Certificate::from_der(pki.leaf.der()).unwrap();
    let tlsa = mxdane_tlsa::matching::generate(
        mxdane_tlsa::Subject::Certificate(&leaf),
        mxdane_tlsa::Usage::DaneEe,
        mxdane_tlsa::Selector::Spki,
        mxdane_tlsa::MatchingType::Sha256,
    )
    .unwrap()
    .to_string();
    let world = Arc::new(
        World::builder()
            .zone("smtps.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.40")
                    .tlsa("_465._tcp.mx", &tlsa)
            })
            .build(),
    );
    let smtps = SmtpServer::start(SmtpSpec {
        default: vec![Credential::new(&[&pki.leaf, &pki.intermediate])],
        implicit_tls: true,
        ..SmtpSpec::default()
    })
    .unwrap();
    let recursive = DnsServer::recursive(world.clone()).unwrap();
    let mut ns = HashMap::new();
    let mut keep = Vec::new();
    for (zi, z) in world.zones().iter().enumerate() {
        for si in 0..z.servers.len() {
            let s = DnsServer::authoritative(world.clone(), &z.apex.to_string(), si).unwrap();
            ns.insert(SocketAddr::new(ns_address(zi, si).into(), 53), s.addr());
            keep.push(s);
        }
    }
    let anchors = mxdane_dns::parse_trust_anchors(&world.trust_anchor_text()).unwrap();
    let env = check::Environment {
        resolver: Arc::new(
            UnboundResolver::forwarding(recursive.addr(), &anchors, Duration::from_secs(3))
                .unwrap(),
        ),
        connector: mxdane_smtp::Connector::direct()
            .route("192.0.2.40:465".parse().unwrap(), smtps.addr()),
        nameserver: Arc::new(move |a: SocketAddr| -> Arc<dyn Transport> {
            Arc::new(NetTransport::new(
                ns.get(&a).copied().unwrap_or(a),
                Duration::from_secs(2),
            ))
        }),
    };
    let with = |implicit_tls: bool| Options {
        port: 465,
        settings: Settings {
            tls_start: if implicit_tls {
                mxdane_smtp::TlsStart::Implicit
            } else {
                mxdane_smtp::TlsStart::Starttls
            },
            ..options().settings
        },
        ..options()
    };
    let r = check::check(env.clone(), Name::parse("smtps.test."), with(true)).await;
    assert_eq!(r.verdict, Verdict::Ok, "{:?} {:?}", r.critical, r.warnings);
    let probes: Vec<_> = r.hosts.iter().flat_map(|h| &h.probes).collect();
    // The default and ECDSA handshakes verify (the server has no RSA certificate).
    let verified: Vec<&str> = probes
        .iter()
        .filter(|p| p.result == ProbeResult::Verified)
        .map(|p| p.algorithm)
        .collect();
    assert!(
        verified.contains(&"default") && verified.contains(&"ecdsa"),
        "{probes:?}"
    );
    let r = check::check(env, Name::parse("smtps.test."), with(false)).await;
    assert_eq!(r.verdict, Verdict::Critical, "{:?}", r.warnings);
}

/// Replaces what changes from run to run (keys and digests made at test time, dates, serials)
/// so that a golden file can pin the report's shape and words.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut words = Vec::new();
        for w in line.split(' ') {
            let core = w.trim_matches(|c: char| matches!(c, ',' | ';' | '"' | '(' | ')'));
            let replaced = if core.len() >= 16 && core.bytes().all(|b| b.is_ascii_hexdigit()) {
                w.replace(core, "<hex>")
            } else if core.len() >= 20 && core.contains('T') && core.ends_with('Z') {
                w.replace(core, "<time>")
            } else if core.len() >= 9 && core.bytes().all(|b| b.is_ascii_digit()) {
                w.replace(core, "<serial>")
            } else {
                w.to_owned()
            };
            words.push(replaced);
        }
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

/// A JSON document with what changes from run to run (hex, times, serials, durations, the
/// resolver's port) replaced by placeholders, for golden files.
fn scrub(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = normalize(s).trim_end().to_owned(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub),
        serde_json::Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k.contains("duration") || k == "serial" || k == "ttl" {
                    *x = serde_json::Value::from(0);
                } else if k == "resolver" {
                    *x = serde_json::Value::from("<resolver>");
                } else {
                    scrub(x);
                }
            }
        }
        _ => {}
    }
}

// Issue 13: the text report of a healthy dual-stack domain fits one screen (25 lines), each
// chain printed once with its names and dates in RFC 3339; text and JSON are pinned.
#[test]
fn text_report_of_a_healthy_domain_fits_one_screen() {
    let l = lab();
    let dir = common::scratch("report");
    let anchor = common::write(&dir, "anchor", l.world.trust_anchor_text());
    let mut args = vec![
        "check".to_owned(),
        "ee.test".into(),
        "--resolver".into(),
        l.resolver.to_string(),
        "--trust-anchor".into(),
        anchor,
    ];
    for (a, b) in &l.routes {
        args.push("--route".into());
        args.push(format!("{a}={b}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = common::mxdane(&argv, "");
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    let lines = text.stdout.lines().count();
    assert!(lines <= 25, "{lines} lines:\n{}", text.stdout);
    assert_eq!(
        text.stdout.matches("chain 1:").count(),
        1,
        "the one chain is printed once:\n{}",
        text.stdout
    );
    common::golden("check-ee.txt", &normalize(&text.stdout));
    let mut json_args = vec!["--json"];
    json_args.extend(argv.iter().copied());
    let json = common::mxdane(&json_args, "");
    assert_eq!(json.stdout.lines().count(), 1);
    let mut v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["verdict"], "ok");
    scrub(&mut v);
    common::golden("check-ee.json", &format!("{v}\n"));
    let quiet = {
        let mut q = argv.clone();
        q.push("--quiet");
        common::mxdane(&q, "")
    };
    assert_eq!(quiet.stdout.lines().count(), 1, "{}", quiet.stdout);
    assert!(quiet.stdout.starts_with("OK ee.test."), "{}", quiet.stdout);
    // --verbose adds every DNS lookup with its status and each probe's SMTP dialogue.
    let verbose = {
        let mut v = argv.clone();
        v.push("--verbose");
        common::mxdane(&v, "")
    };
    for want in [
        "DNS _25._tcp.mx.ee.test. TLSA: secure",
        "C: STARTTLS",
        "TLS: TLSv1_3",
        "S: 220 lab.test",
    ] {
        assert!(verbose.stdout.contains(want), "{want}:\n{}", verbose.stdout);
    }
}

// Issue 13: `mxdane lab serve` keeps the lab up and prints flags with which any command can be
// pointed at it; `check` with them gives the lab's verdict.
#[test]
fn lab_serve_prints_flags_that_work() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
        .args(["lab", "serve", "--seconds", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut flags = String::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(30)
    {
        let line = line.unwrap();
        if let Some(f) = line.trim().strip_prefix("FLAGS=\"") {
            flags = f.trim_end_matches('"').to_owned();
            break;
        }
    }
    assert!(
        flags.contains("--resolver") && flags.contains("--route"),
        "{flags}"
    );
    let mut args = vec!["--json", "check", "ee.test"];
    args.extend(flags.split(' '));
    let run = common::mxdane(&args, "");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["verdict"], "ok");
}

/// The exit statuses a command's `--help` lists (a line "Exit status...", then "  N  meaning").
fn help_exit_codes(command: &[&str]) -> BTreeSet<i32> {
    let mut args = command.to_vec();
    args.push("--help");
    let run = common::mxdane(&args, "");
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    let (_, tail) = run
        .stdout
        .split_once("\nExit status")
        .and_then(|(_, t)| t.split_once('\n'))
        .unwrap_or_else(|| panic!("{command:?} --help lists no exit status:\n{}", run.stdout));
    tail.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let (code, rest) = t.split_once("  ")?;
            (l.starts_with("  ") && !rest.is_empty()).then_some(())?;
            code.parse().ok()
        })
        .collect()
}

/// The exit statuses README's tables give a command (the columns that say something; the
/// table's header names the statuses).
fn readme_exit_codes(command: &str) -> BTreeSet<i32> {
    let readme = include_str!("../../../README.md");
    let lines: Vec<&str> = readme.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(&format!("| `{command}` |")))
        .unwrap_or_else(|| panic!("README's exit table has no row for {command}"));
    let header = lines[..at]
        .iter()
        .rev()
        .find(|l| l.starts_with("| command |"))
        .unwrap_or_else(|| panic!("README's exit table of {command} has no header"));
    let codes: Vec<i32> = header
        .split('|')
        .skip(2)
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    lines[at]
        .split('|')
        .skip(2)
        .zip(codes)
        .filter(|(cell, _)| !cell.trim().is_empty())
        .map(|(_, code)| code)
        .collect()
}

// Issue 13, "every command's --help and README agree with the behaviour": for each command,
// the statuses its --help lists equal README's row, and real runs reach each one of them.
#[test]
fn m02_documented_exit_codes_are_the_real_ones() {
    use mxdane_lab::certs::{CertSpec, KeyAlg, Pki};
    let l = lab();
    let dir = common::scratch("exit-codes");
    let anchor = common::write(&dir, "anchor", l.world.trust_anchor_text());
    let chain = |slot: usize, ca: &str| {
        let issuer = Pki::new(KeyAlg::EcdsaP256, ca).intermediate;
        let leaf = CertSpec::leaf(&["mx.next.test"])
            .key_slot(slot)
            .signed_by(&issuer);
        common::write(
            &dir,
            &format!("chain-{slot}.pem"),
            leaf.pem() + &issuer.pem(),
        )
    };
    let (chain7, chain8) = (chain(7, "exit.test"), chain(8, "other.test"));
    let generated = common::mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &chain7,
            "--host",
            "mx.next.test",
        ],
        "",
    );
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    // The leaf's "3 1 1" only (the issuer's "2 1 1" would match any chain under that issuer).
    let leaf_records: String = generated
        .stdout
        .lines()
        .filter(|l| l.contains(" 3 1 1 "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!leaf_records.is_empty(), "{}", generated.stdout);
    let records7 = common::write(&dir, "records7", &leaf_records);
    let resolver = l.resolver.to_string();
    let mut lab_flags = vec![
        "--resolver".to_owned(),
        resolver,
        "--trust-anchor".into(),
        anchor.clone(),
        "--timeout".into(),
        "5".into(),
    ];
    let dns_flags = lab_flags.clone();
    for (a, b) in &l.routes {
        lab_flags.push("--route".into());
        lab_flags.push(format!("{a}={b}"));
    }
    let dead = [
        "--resolver",
        "127.0.0.1:9",
        "--timeout",
        "1",
        "--trust-anchor",
        &anchor,
    ];
    let with = |base: &[&str], extra: &[String]| -> Vec<String> {
        base.iter()
            .map(|s| (*s).to_owned())
            .chain(extra.iter().cloned())
            .collect()
    };
    let no = &[][..];
    // The monitor: a good file, a bad one, and one whose listen address is taken.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let monitor_good = common::write(
        &dir,
        "monitor.toml",
        format!(
            "history = \"{}/monitor.db\"\n[[target]]\ndomain = \"ee.test\"\n",
            dir.display()
        ),
    );
    let monitor_bad = common::write(&dir, "monitor-bad.toml", "interval = 1\n");
    let monitor_busy = common::write(
        &dir,
        "monitor-busy.toml",
        format!(
            "history = \"{}/monitor.db\"\nlisten = \"{}\"\n[[target]]\ndomain = \"ee.test\"\n",
            dir.display(),
            busy.local_addr().unwrap()
        ),
    );
    // (README row, --help of, arguments, standard input, expected status)
    type Scenario<'a> = (&'a str, &'a [&'a str], Vec<String>, &'a str, i32);
    let mut scenarios: Vec<Scenario<'_>> = vec![
        (
            "tlsa generate",
            &["tlsa", "generate"],
            with(
                &[
                    "tlsa",
                    "generate",
                    "--cert",
                    &chain7,
                    "--host",
                    "mx.next.test",
                ],
                no,
            ),
            "",
            0,
        ),
        (
            "tlsa generate",
            &["tlsa", "generate"],
            with(
                &[
                    "tlsa",
                    "generate",
                    "--cert",
                    "/nonexistent.pem",
                    "--host",
                    "mx.next.test",
                ],
                no,
            ),
            "",
            2,
        ),
        (
            "tlsa lint",
            &["tlsa", "lint"],
            with(&["tlsa", "lint", &records7], no),
            "",
            0,
        ),
        (
            "tlsa lint",
            &["tlsa", "lint"],
            with(&["tlsa", "lint"], no),
            "3 1 1 abcd\n",
            1,
        ),
        (
            "tlsa lint",
            &["tlsa", "lint"],
            with(&["tlsa", "lint", "/nonexistent"], no),
            "",
            2,
        ),
        (
            "tlsa verify",
            &["tlsa", "verify"],
            with(
                &[
                    "tlsa",
                    "verify",
                    "--chain",
                    &chain7,
                    "--tlsa-file",
                    &records7,
                    "--name",
                    "mx.next.test",
                ],
                no,
            ),
            "",
            0,
        ),
        (
            "tlsa verify",
            &["tlsa", "verify"],
            with(
                &[
                    "tlsa",
                    "verify",
                    "--chain",
                    &chain8,
                    "--tlsa-file",
                    &records7,
                    "--name",
                    "mx.next.test",
                ],
                no,
            ),
            "",
            1,
        ),
        (
            "tlsa verify",
            &["tlsa", "verify"],
            with(
                &[
                    "tlsa",
                    "verify",
                    "--chain",
                    "/nonexistent",
                    "--tlsa",
                    "3 1 1 00",
                    "--name",
                    "x.test",
                ],
                no,
            ),
            "",
            2,
        ),
        (
            "tlsa verify",
            &["tlsa", "verify"],
            with(
                &[
                    "tlsa",
                    "verify",
                    "--chain",
                    &chain7,
                    "--host",
                    "mx.next.test",
                ],
                &dead.map(str::to_owned),
            ),
            "",
            3,
        ),
        (
            "dns",
            &["dns"],
            with(&["dns", "ee.test"], &dns_flags),
            "",
            0,
        ),
        (
            "dns",
            &["dns"],
            with(&["dns", "nullmx.test"], &dns_flags),
            "",
            1,
        ),
        (
            "dns",
            &["dns"],
            with(&["dns", "bad name.test"], &dns_flags),
            "",
            2,
        ),
        (
            "check",
            &["check"],
            with(&["check", "ee.test"], &lab_flags),
            "",
            0,
        ),
        (
            "check",
            &["check"],
            with(&["check", "insecure.test"], &lab_flags),
            "",
            1,
        ),
        (
            "check",
            &["check"],
            with(&["check", "strip.test"], &lab_flags),
            "",
            2,
        ),
        (
            "check",
            &["check"],
            with(&["check", "ee.test"], &dead.map(str::to_owned)),
            "",
            3,
        ),
        (
            "lab demo",
            &["lab", "demo"],
            with(&["lab", "demo"], no),
            "",
            0,
        ),
        (
            "monitor",
            &["monitor"],
            with(&["monitor", "-c", &monitor_good, "--check-config"], no),
            "",
            0,
        ),
        (
            "monitor",
            &["monitor"],
            with(&["monitor", "-c", &monitor_bad, "--check-config"], no),
            "",
            2,
        ),
        (
            "monitor",
            &["monitor"],
            with(&["monitor", "-c", &monitor_busy], &lab_flags),
            "",
            3,
        ),
        (
            "survey",
            &["survey"],
            with(&["survey"], &lab_flags),
            "ee.test\nnostls.test\n",
            0,
        ),
        (
            "survey",
            &["survey"],
            with(&["survey", "--resume"], &lab_flags),
            "ee.test\n",
            2,
        ),
        (
            "survey",
            &["survey"],
            with(&["survey", "-o", "/nonexistent/dir/out.jsonl"], &lab_flags),
            "ee.test\n",
            3,
        ),
    ];
    // The one status no scenario here can reach: the lab failing to start needs a machine
    // without loopback sockets.
    let unreachable: &[(&str, i32)] = &[("lab demo", 2)];
    // `send`: delivered, deferred (STARTTLS stripped), bounced (null MX), a bad level.
    let message = "Subject: exit codes\n\nhello\n";
    for (to, extra, code) in [
        ("user@ee.test", &[][..], 0),
        ("user@strip.test", &[][..], 75),
        ("user@nullmx.test", &[][..], 69),
        ("user@ee.test", &["--policy", "secure"][..], 64),
    ] {
        let mut args = vec![
            "send".to_owned(),
            "--from".into(),
            "a@lab.test".into(),
            "--to".into(),
            to.into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        scenarios.push((
            "send",
            &["send"],
            with(&[], &[args, lab_flags.clone()].concat()),
            message,
            code,
        ));
    }
    let mut reached: HashMap<&str, BTreeSet<i32>> = HashMap::new();
    let mut help_of: HashMap<&str, &[&str]> = HashMap::new();
    for (row, help, args, stdin, expected) in &scenarios {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = common::mxdane(&args, stdin);
        assert_eq!(
            run.code, *expected,
            "mxdane {args:?}: stdout {} stderr {}",
            run.stdout, run.stderr
        );
        reached.entry(row).or_default().insert(run.code);
        help_of.insert(row, help);
    }
    for (row, help) in help_of {
        let documented = help_exit_codes(help);
        assert_eq!(
            documented,
            readme_exit_codes(row),
            "{row}: --help and README list different exit statuses"
        );
        let mut expected = reached[row].clone();
        expected.extend(
            unreachable
                .iter()
                .filter(|(r, _)| *r == row)
                .map(|(_, c)| c),
        );
        assert_eq!(
            documented, expected,
            "{row}: the statuses documented are not the ones real runs reach"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// Issue 19: a task of the check that panics (here: the nameserver comparison, through a
// transport that panics) is the checker's failure, reported and `unknown`, never a line that
// silently goes missing while the verdict stays ok. Probes are joined by the same code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_makes_the_check_unknown() {
    let mut env = lab().env.clone();
    env.nameserver = std::sync::Arc::new(|addr| panic!("injected failure for {addr}"));
    let r = check::check(env, Name::parse("ee.test."), options()).await;
    assert_eq!(r.verdict, Verdict::Unknown, "{:?}", r.critical);
    assert!(
        r.critical
            .iter()
            .any(|c| c.contains("the nameserver comparison did not finish")),
        "{:?}",
        r.critical
    );
    // The probes still ran and are reported.
    assert!(
        r.hosts[0]
            .probes
            .iter()
            .any(|p| p.result == ProbeResult::Verified),
        "{:?}",
        r.hosts[0].probes
    );
    // Negative: the lab's own transport leaves the same domain ok.
    assert_eq!(run("ee").await.verdict, Verdict::Ok);
}

// Issue 13: a probe's `reason` is a closed list (prose goes to `detail`), each code says what
// happened, and docs/json.md lists every code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m03_probe_reasons_are_a_closed_documented_list() {
    use mxdane::check::ProbeReason;
    for (domain, algorithm, result, reason) in [
        ("ee", "default", "verified", None),
        ("ee", "rsa", "no-such-certificate", Some("other-key-type")),
        ("unusable", "default", "encrypted", None),
        ("mismatch", "default", "mismatch", Some("no-match")),
        ("taname", "default", "mismatch", Some("name-mismatch")),
        (
            "nostls",
            "default",
            "no-starttls",
            Some("starttls-not-offered"),
        ),
        (
            "strip",
            "default",
            "no-starttls",
            Some("starttls-not-offered"),
        ),
        ("abort", "default", "tls-failed", Some("closed")),
    ] {
        let r = run(domain).await;
        let seen: Vec<_> = r.hosts[0]
            .probes
            .iter()
            .filter(|p| p.algorithm == algorithm)
            .map(|p| (p.result.name(), p.reason.map(ProbeReason::name)))
            .collect();
        assert!(
            every(&seen, |s| *s == (result, reason)),
            "{domain} {algorithm}: {seen:?}"
        );
    }
    let docs = include_str!("../../../docs/json.md");
    for r in ProbeReason::ALL {
        assert!(
            docs.contains(&format!("\"{}\"", r.name())),
            "docs/json.md does not list the probe reason {}",
            r.name()
        );
    }
}

// The monitor's require-next: a lone DANE-EE record warns (no next key, no issuer record); two
// DANE-EE records ("current + next") or a DANE-TA record do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_next_warns_about_a_lone_dane_ee_record_only() {
    let opts = Options {
        require_next: true,
        ..options()
    };
    let lone = |r: &CheckReport| {
        r.warnings
            .iter()
            .any(|w| w.contains("one DANE-EE record and nothing else"))
    };
    for (domain, want) in [("ee", true), ("next", false), ("ta", false)] {
        let r = check::check(
            lab().env.clone(),
            Name::parse(&format!("{domain}.test.")),
            opts.clone(),
        )
        .await;
        assert_eq!(lone(&r), want, "{domain}: {:?}", r.warnings);
        if want {
            assert_eq!(r.verdict, Verdict::Warning, "{domain}");
        }
        // Without the option nothing changes.
        assert!(!lone(&run(domain).await), "{domain}");
    }
}

/// Issue 26, M-01/D-18: a man in the middle on the path to the authoritative servers puts an
/// unsigned TLSA RRset of its own in every direct answer for ee.test's MX host. `check`
/// reports each server as failing (its answer does not verify), never as agreeing, and warns
/// about it; the host's verdict comes from the validated lookup alone. The same for denials
/// without proof, answers without AA and answers stripped of signatures. Breaks if `direct.rs`
/// stops checking the RRSIGs of an answer (or the AA bit, or the denial's proof).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m01_d18_forged_direct_answers_make_the_servers_fail_not_agree() {
    use mxdane_lab::dns::tamper::{Lie, Tampering};
    use std::sync::Arc;
    let l = lab();
    let forged = mxdane_dns::rdata::Rdata::Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
        data: vec![0xab; 32],
    };
    let tlsa = mxdane_dns::rdata::rtype::TLSA;
    // Issue 26 cases (1) and (3): forged records, and answers without proof, without AA or
    // without signatures: each server fails (never "absent", never agreeing).
    let cases = [
        ("forged", Lie::Records(tlsa, vec![forged])),
        ("empty without proof", Lie::EmptyNoProof),
        ("nxdomain without proof", Lie::NxdomainNoProof),
        ("not authoritative", Lie::NotAuthoritative),
        ("unsigned", Lie::Unsigned),
    ];
    for (what, lie) in cases {
        let inner = l.env.nameserver.clone();
        let env = mxdane::check::Environment {
            nameserver: Arc::new(move |a| {
                Arc::new(Tampering::new(inner(a), Some(tlsa), lie.clone()))
                    as Arc<dyn mxdane_dns::Transport>
            }),
            ..l.env.clone()
        };
        let r = check::check(env, Name::parse("ee.test."), options()).await;
        let host = &r.hosts[0];
        assert!(!host.nameservers.is_empty(), "{what}: {r:?}");
        assert!(
            host.nameservers
                .iter()
                .all(|n| n.tlsa.is_err() && n.signed.is_err()),
            "{what}: {:?}",
            host.nameservers
        );
        assert!(
            !host.nameservers.iter().any(|n| n
                .tlsa
                .as_ref()
                .is_ok_and(|t| t.iter().any(|r| r.to_string().contains("abab")))),
            "{what}: the forged record is nowhere"
        );
        assert!(
            r.warnings
                .iter()
                .chain(&r.critical)
                .any(|w| w.contains("ns1.ee.test")),
            "{what}: {:?} {:?}",
            r.warnings,
            r.critical
        );
    }
    // The honest view of the same host: every server agrees.
    let honest = run("ee").await;
    assert!(honest.hosts[0].nameservers.iter().all(|n| n.tlsa.is_ok()));
}
