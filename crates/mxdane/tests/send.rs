//! Delivering a message as a DANE sender (`mxdane::send`, used by the monitor's email alerts;
//! the start of issue 18), hermetic, against the lab world and its men in the middle: a
//! verified host gets the message; a stripped STARTTLS, a substituted certificate or bogus
//! TLSA records never do (the delivery is deferred); a null MX bounces; addresses cannot
//! smuggle commands; dot-stuffing keeps a line that starts with a dot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use mxdane::send::{Outcome, deliver};
use mxdane_smtp::{Envelope, Security, Settings};

fn lab() -> &'static mxdane::demo::Demo {
    static LAB: OnceLock<mxdane::demo::Demo> = OnceLock::new();
    LAB.get_or_init(|| mxdane::demo::start().unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends a message with a unique marker to `user@domain`; the delivery and how many messages
/// with the marker the lab's mail server holds.
fn send(domain: &str) -> (mxdane::send::Delivery, usize) {
    let marker = format!("marker-{domain}-{}", std::process::id());
    let to = format!("user@{domain}");
    let text = format!("Subject: test\n\n{marker}\n.starts with a dot\n");
    let envelope = Envelope::new("sender@lab.test", &[to], text.as_bytes()).unwrap();
    let d = runtime().block_on(deliver(
        &lab().env,
        &envelope,
        domain,
        "client.lab.test",
        Settings::default(),
    ));
    let n = lab()
        .mailbox
        .messages()
        .iter()
        .filter(|m| m.data.contains(&marker))
        .count();
    (d, n)
}

#[test]
fn s06_dane_delivers_to_a_verified_host_and_says_so_as_postfix_would() {
    let (d, n) = send("ee.test");
    assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
    assert_eq!(n, 1);
    let last = d.attempts.last().unwrap();
    assert_eq!(
        (last.policy, last.security),
        ("dane", Security::Authenticated)
    );
    assert!(
        last.log_line().starts_with(
            "Verified TLS connection established to mx.ee.test[192.0.2.1]:25: TLSv1_3 with cipher"
        ),
        "{}",
        last.log_line()
    );
    let m = lab()
        .mailbox
        .messages()
        .into_iter()
        .find(|m| m.to == ["user@ee.test"])
        .unwrap();
    assert!(m.tls);
    assert!(
        m.data.contains("\r\n.starts with a dot\r\n"),
        "dot-stuffing undone: {:?}",
        m.data
    );
}

#[test]
fn s01_a_stripped_starttls_a_substituted_certificate_or_bogus_tlsa_never_get_the_message() {
    for domain in ["strip.test", "subst.test", "bogus.test"] {
        let (d, n) = send(domain);
        assert!(matches!(d.outcome, Outcome::Deferred(_)), "{domain}: {d:?}");
        assert_eq!(
            n, 0,
            "{domain}: the message reached the server behind the attacker"
        );
        assert!(
            d.attempts
                .iter()
                .all(|a| a.security != Security::Plaintext || a.error.is_some()),
            "{domain}: {d:?}"
        );
    }
}

#[test]
fn a_null_mx_bounces_and_bad_addresses_are_refused_before_any_connection() {
    let (d, n) = send("nullmx.test");
    assert!(matches!(d.outcome, Outcome::Bounced(_)), "{d:?}");
    assert!(d.attempts.is_empty() && n == 0);
    for (from, to) in [
        ("a@lab.test>\r\nRCPT TO:<victim@x.test", "user@ee.test"),
        ("a@lab.test", "user@ee.test> NOTIFY=NEVER"),
        ("a@lab.test", "no-domain"),
    ] {
        let e = Envelope::new(from, &[to.to_owned()], b"x").unwrap_err();
        assert!(e.contains("not usable"), "{e}");
    }
}
