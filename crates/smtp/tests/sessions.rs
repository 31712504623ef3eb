//! SMTP sessions against lab servers: every misbehaviour and man in the middle under `dane`
//! (never success, never plaintext, always a reason) and under `may` (plaintext only where the
//! RFC allows it), per-algorithm probes, SNI, routes and latency (S-01 to S-07).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use mxdane_lab::certs::{CertSpec, KeyAlg, Pki, TestCert};
use mxdane_lab::smtp::{Behaviour, Mitm, MitmKind, SmtpServer, SmtpSpec};
use mxdane_lab::tls::Credential;
use mxdane_smtp::{
    Connector, Policy, Security, SessionReport, Settings, SmtpError, Stage, session,
};
use mxdane_tls::{DaneTarget, KeyFilter, TlsFailure};
use mxdane_tlsa::{Certificate, MatchingType, Name, Selector, Subject, Tlsa, Usage};

const HOST: &str = "mx.example.test";

fn ee(cert: &TestCert) -> Tlsa {
    let c = Certificate::from_der(cert.der()).unwrap();
    mxdane_tlsa::matching::generate(
        Subject::Certificate(&c),
        Usage::DaneEe,
        Selector::Spki,
        MatchingType::Sha256,
    )
    .unwrap()
}

fn target(records: Vec<Tlsa>) -> DaneTarget {
    DaneTarget::new(records, vec![Name::try_parse(HOST).unwrap()]).unwrap()
}

fn spec(pki: &Pki, behaviour: Behaviour) -> SmtpSpec {
    SmtpSpec {
        default: vec![Credential::new(&[&pki.leaf, &pki.intermediate])],
        behaviour,
        ..SmtpSpec::default()
    }
}

fn quick() -> Settings {
    Settings {
        step: Duration::from_secs(5),
        total: Duration::from_secs(20),
        ..Settings::default()
    }
}

async fn run(addr: SocketAddr, policy: &Policy) -> SessionReport {
    session(&Connector::direct(), addr, policy, "client.test", quick()).await
}

fn pki() -> Pki {
    Pki::new(KeyAlg::EcdsaP256, HOST)
}

/// Under DANE: no success, no plaintext, and an error that says what happened.
fn refused_under_dane(r: &SessionReport, what: &str) {
    assert!(!r.success, "{what}: {r:?}");
    assert_ne!(r.security, Security::Authenticated, "{what}");
    assert!(
        r.reached < Stage::EhloAfterTls,
        "{what}: no session continues after a failure"
    );
    assert!(
        !r.plaintext_retry_allowed,
        "{what}: never plaintext under dane"
    );
    assert!(r.error.is_some(), "{what}: says why");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s01_s03_authenticated_session_with_sni_and_second_ehlo() {
    let pki = pki();
    let server = SmtpServer::start(spec(&pki, Behaviour::Normal)).unwrap();
    let r = run(server.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
    assert!(r.success && r.error.is_none(), "{r:?}");
    assert_eq!(
        (r.security, r.reached),
        (Security::Authenticated, Stage::Done)
    );
    let tls = r.tls.as_ref().unwrap();
    assert_eq!(tls.version, "TLSv1_3");
    assert!(tls.report.as_ref().unwrap().is_authenticated());
    assert!(
        r.ehlo.contains(&"STARTTLS".to_owned()) && !r.ehlo_tls.contains(&"STARTTLS".to_owned())
    );
    assert_eq!(server.server_names(), [Some(HOST.to_owned())], "S-02");
    // The transcript: the dialogue in order, the handshake between the two EHLOs.
    let t = &r.transcript;
    let at = |prefix: &str| t.iter().position(|l| l.starts_with(prefix));
    let (banner, starttls, tls_line, quit) = (
        at("S: 220 lab.test"),
        at("C: STARTTLS"),
        at("TLS: TLSv1_3"),
        at("C: QUIT"),
    );
    assert!(
        banner < starttls && starttls < tls_line && tls_line < quit && banner.is_some(),
        "{t:?}"
    );
    assert_eq!(
        t.iter()
            .filter(|l| l.starts_with("C: EHLO client.test"))
            .count(),
        2,
        "{t:?}"
    );
    assert!(t[tls_line.unwrap()].contains("DANE authenticated"), "{t:?}");
    // A TLS 1.2-only server still gets through, authenticated (issue 19), and a key that the
    // records do not pin still fails there.
    let tls12 = SmtpServer::start(SmtpSpec {
        tls12_only: true,
        ..spec(&pki, Behaviour::Normal)
    })
    .unwrap();
    let r = run(tls12.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
    assert!(r.success && r.security == Security::Authenticated, "{r:?}");
    assert_eq!(r.tls.as_ref().unwrap().version, "TLSv1_2");
    let other = CertSpec::leaf(&[HOST]).key_slot(62).self_signed();
    let r = run(tls12.addr(), &Policy::Dane(target(vec![ee(&other)]))).await;
    refused_under_dane(&r, "TLS 1.2, wrong key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s01_no_starttls_refused_starttls_and_no_ehlo() {
    let pki = pki();
    for (behaviour, what) in [
        (Behaviour::NoStartTls, "no STARTTLS"),
        (Behaviour::RefuseStartTls, "STARTTLS refused"),
        (Behaviour::NoEhlo, "HELO only"),
    ] {
        let server = SmtpServer::start(spec(&pki, behaviour)).unwrap();
        let dane = run(server.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
        refused_under_dane(&dane, what);
        assert!(
            matches!(
                dane.error,
                Some(SmtpError::NoStartTls | SmtpError::Rejected(Stage::StartTls, _))
            ),
            "{what}: {:?}",
            dane.error
        );
        // D-12: `encrypt` (TLS mandatory, secure but unusable TLSA) never goes plaintext
        // either (issue 19: a policy that only ever met honest servers).
        let encrypt = run(server.addr(), &Policy::Encrypt(target(Vec::new()))).await;
        refused_under_dane(&encrypt, what);
        // `may` carries on in plaintext: RFC 3207 allows it without DANE.
        let may = run(server.addr(), &Policy::May(target(Vec::new()))).await;
        assert!(
            may.success && may.security == Security::Plaintext,
            "{what}: {may:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s04_aborted_handshake_garbage_and_injection() {
    let pki = pki();
    for behaviour in [
        Behaviour::AbortHandshake,
        Behaviour::GarbageAfterStartTls,
        Behaviour::InjectAfterStartTls,
    ] {
        let server = SmtpServer::start(spec(&pki, behaviour)).unwrap();
        let dane = run(server.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
        refused_under_dane(&dane, &format!("{behaviour:?}"));
        let may = run(server.addr(), &Policy::May(target(Vec::new()))).await;
        assert!(
            !may.success && may.security == Security::Plaintext,
            "{behaviour:?}: {may:?}"
        );
        assert!(
            may.reached < Stage::EhloAfterTls,
            "never continues in plaintext after STARTTLS"
        );
        if behaviour == Behaviour::InjectAfterStartTls {
            assert!(
                matches!(dane.error, Some(SmtpError::Injection(n)) if n > 0),
                "{:?}",
                dane.error
            );
        }
        if behaviour == Behaviour::AbortHandshake {
            // Postfix's `may` retries a failed handshake in plaintext on a new connection.
            assert!(may.plaintext_retry_allowed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_without_its_private_key_fails() {
    let pki = pki();
    let impostor = CertSpec::leaf(&[HOST])
        .key_slot(9)
        .signed_by(&pki.intermediate);
    let server = SmtpServer::start(SmtpSpec {
        default: vec![Credential::new(&[&pki.leaf, &pki.intermediate]).with_key_of(&impostor)],
        ..SmtpSpec::default()
    })
    .unwrap();
    let r = run(server.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
    refused_under_dane(&r, "replayed chain");
    match &r.error {
        Some(SmtpError::Tls(TlsFailure::Handshake {
            report: Some(rep), ..
        })) => assert!(rep.is_authenticated()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s07_slow_banner_split_replies_and_long_lines() {
    let pki = pki();
    let slow = SmtpServer::start(spec(
        &pki,
        Behaviour::SlowBanner(Duration::from_millis(800)),
    ))
    .unwrap();
    let tight = Settings {
        step: Duration::from_millis(200),
        ..quick()
    };
    let r = session(
        &Connector::direct(),
        slow.addr(),
        &Policy::Dane(target(vec![ee(&pki.leaf)])),
        "client.test",
        tight,
    )
    .await;
    assert!(
        matches!(r.error, Some(SmtpError::Timeout(Stage::Banner))),
        "{:?}",
        r.error
    );
    let r = run(slow.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
    assert!(r.success, "a patient client waits: {:?}", r.error);
    let split = SmtpServer::start(spec(&pki, Behaviour::SplitReplies)).unwrap();
    let r = run(split.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
    assert!(
        r.success && r.security == Security::Authenticated,
        "{:?}",
        r.error
    );
    let long = SmtpServer::start(spec(&pki, Behaviour::LongLine)).unwrap();
    let r = run(long.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
    assert!(
        matches!(&r.error, Some(SmtpError::Protocol(e)) if e.contains("longer than")),
        "{:?}",
        r.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn men_in_the_middle() {
    let pki = pki();
    let real = SmtpServer::start(spec(&pki, Behaviour::Normal)).unwrap();
    let dane = Policy::Dane(target(vec![ee(&pki.leaf)]));
    // Stripping STARTTLS: DANE refuses, `may` is downgraded (which is why DANE exists).
    let strip = Mitm::start(real.addr(), MitmKind::StripStartTls).unwrap();
    let r = run(strip.addr(), &dane).await;
    refused_under_dane(&r, "stripped STARTTLS");
    assert!(matches!(r.error, Some(SmtpError::NoStartTls)));
    let encrypt = run(strip.addr(), &Policy::Encrypt(target(Vec::new()))).await;
    refused_under_dane(&encrypt, "stripped STARTTLS under encrypt");
    let may = run(strip.addr(), &Policy::May(target(Vec::new()))).await;
    assert!(may.success && may.security == Security::Plaintext);
    // Its own certificate: DANE refuses it, `may` encrypts to the impostor.
    let impostor_root = CertSpec::ca("Impostor Root").key_slot(120).self_signed();
    let impostor = CertSpec::leaf(&[HOST])
        .key_slot(121)
        .signed_by(&impostor_root);
    let own = Mitm::start(
        real.addr(),
        MitmKind::OwnCertificate(vec![Credential::new(&[&impostor, &impostor_root])]),
    )
    .unwrap();
    let r = run(own.addr(), &dane).await;
    refused_under_dane(&r, "substituted certificate");
    assert!(
        matches!(
            r.error,
            Some(SmtpError::Tls(TlsFailure::NotAuthenticated(_)))
        ),
        "{:?}",
        r.error
    );
    let may = run(own.addr(), &Policy::May(target(Vec::new()))).await;
    assert!(
        may.success && may.security == Security::Encrypted,
        "{:?}",
        may.error
    );
    // A pipelined reply injected ahead of the handshake.
    let inject = Mitm::start(real.addr(), MitmKind::Inject).unwrap();
    let r = run(inject.addr(), &dane).await;
    refused_under_dane(&r, "injection");
    assert!(
        matches!(r.error, Some(SmtpError::Injection(_))),
        "{:?}",
        r.error
    );
}

// S-05: each certificate of a dual RSA+ECDSA server is probed on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s05_dual_certificate_server_per_algorithm() {
    let rsa = Pki::new(KeyAlg::Rsa2048, HOST);
    let ecdsa = Pki::new(KeyAlg::EcdsaP256, HOST);
    let server = SmtpServer::start(SmtpSpec {
        default: vec![
            Credential::new(&[&ecdsa.leaf, &ecdsa.intermediate]),
            Credential::new(&[&rsa.leaf, &rsa.intermediate]),
        ],
        ..SmtpSpec::default()
    })
    .unwrap();
    let both = vec![ee(&rsa.leaf), ee(&ecdsa.leaf)];
    for (filter, want_key) in [
        (KeyFilter::Rsa, "RSA-2048"),
        (KeyFilter::Ecdsa, "ECDSA P-256"),
    ] {
        let r = run(
            server.addr(),
            &Policy::Dane(target(both.clone()).key_filter(filter)),
        )
        .await;
        assert!(r.success, "{filter:?}: {:?}", r.error);
        let rep = r.tls.unwrap().report.unwrap();
        let mxdane_tls::Verdict::Authenticated { record, .. } = rep.verdict() else {
            panic!()
        };
        assert_eq!(
            *record,
            usize::from(filter == KeyFilter::Ecdsa),
            "{want_key}"
        );
    }
    // Only the ECDSA key published: the RSA probe fails, the ECDSA probe passes.
    let only_ecdsa = vec![ee(&ecdsa.leaf)];
    let r = run(
        server.addr(),
        &Policy::Dane(target(only_ecdsa.clone()).key_filter(KeyFilter::Rsa)),
    )
    .await;
    refused_under_dane(&r, "RSA probe");
    let r = run(
        server.addr(),
        &Policy::Dane(target(only_ecdsa).key_filter(KeyFilter::Ecdsa)),
    )
    .await;
    assert!(r.success);
}

// S-02: the matching chain is held only under the TLSA base domain's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s02_sni_selects_the_chain() {
    let pki = pki();
    let other = CertSpec::leaf(&["default.example.test"])
        .key_slot(33)
        .signed_by(&pki.intermediate);
    let server = SmtpServer::start(SmtpSpec {
        default: vec![Credential::new(&[&other, &pki.intermediate])],
        by_name: vec![(
            HOST.to_owned(),
            vec![Credential::new(&[&pki.leaf, &pki.intermediate])],
        )],
        ..SmtpSpec::default()
    })
    .unwrap();
    let records = vec![ee(&pki.leaf)];
    let right = run(server.addr(), &Policy::Dane(target(records.clone()))).await;
    assert!(right.success, "{:?}", right.error);
    let wrong_target = DaneTarget::new(
        records,
        vec![Name::try_parse("wrong.example.test").unwrap()],
    )
    .unwrap();
    let wrong = run(server.addr(), &Policy::Dane(wrong_target)).await;
    refused_under_dane(&wrong, "wrong SNI");
    assert_eq!(
        server.server_names(),
        [Some(HOST.to_owned()), Some("wrong.example.test".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_ipv6_latency_and_encrypt() {
    let pki = pki();
    let server = SmtpServer::start(SmtpSpec {
        latency: Duration::from_millis(15),
        ..spec(&pki, Behaviour::Normal)
    })
    .unwrap();
    // A public address routed to the loopback port (no root needed).
    let public: SocketAddr = "192.0.2.25:25".parse().unwrap();
    let connector = Connector::direct().route(public, server.addr());
    let started = std::time::Instant::now();
    let r = session(
        &connector,
        public,
        &Policy::Dane(target(vec![ee(&pki.leaf)])),
        "client.test",
        quick(),
    )
    .await;
    assert!(r.success, "{:?}", r.error);
    assert_eq!(r.address, public);
    // The latency knob applies to every server read and write (a behaviour, not a benchmark).
    assert!(
        started.elapsed() >= Duration::from_millis(15 * 6),
        "{:?}",
        started.elapsed()
    );
    // Encrypt: TLS required, the chain reported but not required to match (D-12).
    let r = run(
        server.addr(),
        &Policy::Encrypt(target(vec![ee(&CertSpec::leaf(&[HOST])
            .key_slot(44)
            .self_signed())])),
    )
    .await;
    assert!(
        r.success && r.security == Security::Encrypted,
        "{:?}",
        r.error
    );
    assert!(!r.tls.unwrap().report.unwrap().is_authenticated());
    // IPv6 loopback, when the machine has it.
    if let Ok(v6) = SmtpServer::start_on("[::1]:0", spec(&pki, Behaviour::Normal)) {
        let r = run(v6.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
        assert!(r.success, "{:?}", r.error);
    }
}

/// Issue 13: implicit TLS (RFC 8314 section 3.3, port 465): TLS from the first octet, DANE
/// verified in the handshake, banner and EHLO inside TLS; never a plaintext session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s08_implicit_tls_sessions_on_port_465() {
    let pki = pki();
    let implicit = SmtpServer::start(SmtpSpec {
        implicit_tls: true,
        ..spec(&pki, Behaviour::Normal)
    })
    .unwrap();
    let settings = Settings {
        tls_start: mxdane_smtp::TlsStart::Implicit,
        ..quick()
    };
    let go = |addr, policy| async move {
        session(&Connector::direct(), addr, &policy, "client.test", settings).await
    };
    let r = go(implicit.addr(), Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
    assert!(r.success && r.error.is_none(), "{r:?}");
    assert_eq!(r.security, Security::Authenticated);
    assert!(
        r.banner.is_some() && !r.ehlo_tls.is_empty() && r.ehlo.is_empty(),
        "{r:?}"
    );
    // A record that does not match fails the handshake, before any SMTP.
    let other = CertSpec::leaf(&[HOST]).key_slot(61).self_signed();
    let r = go(implicit.addr(), Policy::Dane(target(vec![ee(&other)]))).await;
    refused_under_dane(&r, "implicit TLS, wrong key");
    assert!(r.banner.is_none(), "{r:?}");
    // Implicit TLS to a STARTTLS server fails, and even `may` never falls back to plaintext.
    let starttls = SmtpServer::start(spec(&pki, Behaviour::Normal)).unwrap();
    let may = Policy::May(target(vec![ee(&pki.leaf)]));
    let r = go(starttls.addr(), may).await;
    assert!(!r.success && !r.plaintext_retry_allowed, "{r:?}");
    assert_eq!(r.security, Security::Plaintext);
    assert!(r.banner.is_none());
    // And a STARTTLS client sees no banner from an implicit-TLS server.
    let r = run(implicit.addr(), &Policy::Dane(target(vec![ee(&pki.leaf)]))).await;
    assert!(!r.success, "{r:?}");
}

/// A server that counts how many connections it holds at once: it sends its banner after a
/// pause and then closes.
async fn counting_server() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let now = std::sync::Arc::new(AtomicUsize::new(0));
    let max = std::sync::Arc::new(AtomicUsize::new(0));
    let (now2, max2) = (now.clone(), max.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (now, max) = (now2.clone(), max2.clone());
            tokio::spawn(async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(150)).await;
                // Counted out before the client can see the banner and let the next one in.
                now.fetch_sub(1, Ordering::SeqCst);
                let _ = s.write_all(b"554 no service\r\n").await;
            });
        }
    });
    (addr, max)
}

// The monitor's and surveys' politeness: however many sessions go to one address at once,
// at most the limit are open (and without a limit, all of them are).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_to_one_address_respect_the_per_address_limit() {
    for limit in [Some(2), None] {
        let (server, max) = counting_server().await;
        let public: SocketAddr = "192.0.2.99:25".parse().unwrap();
        let mut connector = Connector::direct().route(public, server);
        if let Some(n) = limit {
            connector = connector.limit_per_address(n);
        }
        let settings = Settings {
            step: Duration::from_secs(5),
            total: Duration::from_secs(10),
            ..Settings::default()
        };
        let sessions: Vec<_> = (0..6)
            .map(|_| {
                let c = connector.clone();
                tokio::spawn(async move {
                    session(
                        &c,
                        public,
                        &Policy::May(target(Vec::new())),
                        "client.test",
                        settings,
                    )
                    .await
                })
            })
            .collect();
        let mut reports = Vec::new();
        for s in sessions {
            reports.push(s.await.unwrap());
        }
        assert_eq!(reports.len(), 6);
        assert!(
            reports.iter().all(|r| !r.success),
            "the server refuses every session"
        );
        let max = max.load(std::sync::atomic::Ordering::SeqCst);
        match limit {
            Some(n) => assert!(max <= n, "{max} sessions at once under a limit of {n}"),
            // Without a limit they overlap (each holds its connection 150 ms).
            None => assert!(max >= 3, "only {max} sessions at once without a limit"),
        }
    }
}

// The mail transaction one command at a time (a server without PIPELINING: HELO only) and
// pipelined (the lab's usual server), with the same per-recipient replies either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transaction_is_pipelined_only_when_offered_and_replies_land_per_recipient() {
    use mxdane_smtp::{Envelope, transfer};
    let pki = pki();
    for (behaviour, pipelined) in [(Behaviour::NoEhlo, false), (Behaviour::Normal, true)] {
        let mailbox = mxdane_lab::smtp::Mailbox::default();
        let server = SmtpServer::start(SmtpSpec {
            mailbox: Some(mailbox.clone()),
            ..spec(&pki, behaviour)
        })
        .unwrap();
        let to = ["a@x.test", "reject-b@x.test", "defer-c@x.test", "d@x.test"].map(String::from);
        let e = Envelope::new("s@y.test", &to, b"Subject: t\n\nbody\n").unwrap();
        let r = transfer(
            &Connector::direct(),
            server.addr(),
            &Policy::May(target(Vec::new())),
            "client.test",
            quick(),
            Some(&e),
        )
        .await;
        assert!(r.accepted.is_some(), "{behaviour:?}: {r:?}");
        let codes: Vec<u16> = r.recipients.iter().map(|(_, r)| r.code).collect();
        assert_eq!(codes, [250, 550, 450, 250], "{behaviour:?}");
        assert_eq!(mailbox.messages()[0].to, ["a@x.test", "d@x.test"]);
        // Pipelined: every command went out before the first reply came back.
        let t = &r.transcript;
        let mail = t.iter().position(|l| l.starts_with("C: MAIL")).unwrap();
        let first_reply = t[mail..].iter().position(|l| l.starts_with("S: ")).unwrap() + mail;
        let data = t.iter().position(|l| l == "C: DATA").unwrap();
        assert_eq!(data < first_reply, pipelined, "{behaviour:?}: {t:?}");
    }
}
