//! Delivering a message as a DANE sender (`mxdane_smtp::deliver`, used by the monitor's email alerts;
//! the start of issue 18), hermetic, against the lab world and its men in the middle: a
//! verified host gets the message; a stripped STARTTLS, a substituted certificate or bogus
//! TLSA records never do (the delivery is deferred); a null MX bounces; addresses cannot
//! smuggle commands; dot-stuffing keeps a line that starts with a dot. Then issue 18's
//! levels and per-recipient results: a man in the middle on the first MX host sends the
//! message to the second; `dane-only`, `encrypt`, `fingerprint`, `may`, `none`; a 4xx to one
//! RCPT defers that recipient only, a 5xx bounces it; a connection lost mid-DATA is a
//! temporary failure; SIZE, 8BITMIME, SMTPUTF8, long lines, pipelining; a dry run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use mxdane_smtp::deliver::{Delivery, Outcome, Status, TlsPolicy, deliver};
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
fn send(domain: &str) -> (mxdane_smtp::deliver::Delivery, usize) {
    send_with(domain, &TlsPolicy::Dane)
}

fn send_with(domain: &str, level: &TlsPolicy) -> (Delivery, usize) {
    let marker = format!("marker-{domain}-{}-{}", level.name(), std::process::id());
    let to = format!("user@{domain}");
    let text = format!("Subject: test\n\n{marker}\n.starts with a dot\n");
    let envelope = Envelope::new("sender@lab.test", &[to], text.as_bytes()).unwrap();
    let d = runtime().block_on(deliver(
        lab().env.resolver.as_ref(),
        &lab().env.connector,
        &envelope,
        domain,
        "client.lab.test",
        Settings::default(),
        level,
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
    for (domain, level) in ["strip.test", "subst.test", "bogus.test"]
        .into_iter()
        .flat_map(|d| [(d, TlsPolicy::Dane), (d, TlsPolicy::DaneOnly)])
    {
        let (d, n) = send_with(domain, &level);
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

/// Sends `text` to `to` (all in `domain`) through `env` under `level`.
fn deliver_through(
    env: &mxdane::check::Environment,
    to: &[&str],
    text: &[u8],
    level: &TlsPolicy,
    dry_run: bool,
) -> Delivery {
    let to: Vec<String> = to.iter().map(|s| (*s).to_owned()).collect();
    let domain = to[0].rsplit_once('@').unwrap().1.to_owned();
    let mut envelope = Envelope::new("sender@lab.test", &to, text).unwrap();
    if dry_run {
        envelope = envelope.verify_only();
    }
    runtime().block_on(deliver(
        env.resolver.as_ref(),
        &env.connector,
        &envelope,
        &domain,
        "client.lab.test",
        Settings::default(),
        level,
    ))
}

/// Each recipient's address, status and DSN, in the envelope's order.
fn ends(d: &Delivery) -> Vec<(&str, Status, &str)> {
    d.recipients
        .iter()
        .map(|r| (r.address.as_str(), r.status, r.dsn.as_str()))
        .collect()
}

fn messages_with(marker: &str) -> Vec<mxdane_lab::smtp::Received> {
    lab()
        .mailbox
        .messages()
        .into_iter()
        .filter(|m| m.data.contains(marker))
        .collect()
}

fn marker(tag: &str) -> String {
    format!("marker-{tag}-{}", std::process::id())
}

/// The lab's connector, except that port 25 of each `victim` leads where port 25 of its
/// `via` address leads (a man in the middle's address puts the attacker on the path).
fn env_with(paths: &[(&str, &str)]) -> mxdane::check::Environment {
    let l = lab();
    let port25 = |ip: &str| std::net::SocketAddr::new(ip.parse().unwrap(), 25);
    let lab_route = |ip: &str| {
        l.smtp_routes
            .iter()
            .find(|(from, _)| *from == port25(ip))
            .map(|(_, to)| *to)
            .unwrap()
    };
    let mut connector = mxdane_smtp::Connector::direct();
    for (from, to) in &l.routes {
        let to = paths
            .iter()
            .find(|(victim, _)| *from == port25(victim))
            .map_or(*to, |(_, via)| lab_route(via));
        connector = connector.route(*from, to);
    }
    mxdane::check::Environment {
        connector,
        ..l.env.clone()
    }
}

#[test]
fn s02_a_man_in_the_middle_on_the_first_mx_host_sends_the_message_to_the_second() {
    // twomx.test: mx1 (192.0.2.4) and mx2 (192.0.2.5), both with DANE-EE records; here mx2
    // is the good server too (192.0.2.1's). The path to mx1 goes through the STARTTLS
    // stripper (192.0.2.9's), then through the certificate substituter (192.0.2.10's).
    for attacker in ["192.0.2.9", "192.0.2.10"] {
        let env = env_with(&[("192.0.2.4", attacker), ("192.0.2.5", "192.0.2.1")]);
        let m = marker(&format!("failover-{attacker}"));
        let d = deliver_through(
            &env,
            &["user@twomx.test"],
            format!("Subject: x\n\n{m}\n").as_bytes(),
            &TlsPolicy::DaneOnly,
            false,
        );
        assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
        assert_eq!(d.attempts.len(), 2, "{d:?}");
        assert!(d.attempts[0].error.is_some() && d.attempts[0].host.starts_with("mx1"));
        assert_eq!(d.attempts[1].security, Security::Authenticated);
        assert!(d.attempts[1].host.starts_with("mx2"));
        assert_eq!(
            d.recipients[0].relay.as_deref(),
            Some("mx2.twomx.test[192.0.2.5]:25")
        );
        let got = messages_with(&m);
        assert_eq!(got.len(), 1, "delivered once, by mx2");
        assert!(got[0].tls);
    }
    // With the attacker on both paths, nothing is delivered: deferred.
    let env = env_with(&[("192.0.2.4", "192.0.2.9"), ("192.0.2.5", "192.0.2.10")]);
    let m = marker("both-attacked");
    let d = deliver_through(
        &env,
        &["user@twomx.test"],
        format!("Subject: x\n\n{m}\n").as_bytes(),
        &TlsPolicy::Dane,
        false,
    );
    assert!(matches!(d.outcome, Outcome::Deferred(_)), "{d:?}");
    assert_eq!(d.recipients[0].status, Status::Deferred);
    assert!(messages_with(&m).is_empty());
}

#[test]
fn s07_encrypt_refuses_plaintext_may_falls_back_to_it_none_never_starts_tls() {
    // strip.test: STARTTLS stripped on the way; the server behind the stripper takes mail.
    let (d, n) = send_with("strip.test", &TlsPolicy::Encrypt);
    assert!(matches!(d.outcome, Outcome::Deferred(_)), "{d:?}");
    assert_eq!(n, 0, "encrypt never sends in plaintext");
    let (d, n) = send_with("strip.test", &TlsPolicy::May);
    assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
    assert_eq!((n, d.attempts[0].security), (1, Security::Plaintext));
    // none: plaintext although the server offers STARTTLS.
    let m = marker("none");
    let d = deliver_through(
        &lab().env,
        &["user@ee.test"],
        format!("Subject: x\n\n{m}\n").as_bytes(),
        &TlsPolicy::None,
        false,
    );
    assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
    assert!(!messages_with(&m)[0].tls);
    // encrypt and may over TLS: unauthenticated, said as Postfix says it.
    let (d, _) = send_with("subst.test", &TlsPolicy::Encrypt);
    assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
    assert_eq!(d.attempts[0].security, Security::Encrypted);
    assert!(
        d.attempts[0]
            .log_line()
            .starts_with("Untrusted TLS connection established to mx.subst.test[192.0.2.10]:25"),
        "{}",
        d.attempts[0].log_line()
    );
}

#[test]
fn s08_fingerprint_delivers_only_to_a_server_whose_key_matches_a_pin() {
    // The pin: ee.test's DANE-EE 3 1 1 record is the SHA-256 of its server's key.
    let l = lab();
    let name = mxdane_dns::Name::try_parse("_25._tcp.mx.ee.test").unwrap();
    let lookup = runtime()
        .block_on(l.env.resolver.lookup(&name, mxdane_dns::rdata::rtype::TLSA))
        .unwrap();
    let pin: [u8; 32] = lookup
        .records()
        .iter()
        .find_map(|r| match r {
            mxdane_dns::rdata::Rdata::Tlsa { data, .. } => data.as_slice().try_into().ok(),
            _ => None,
        })
        .unwrap();
    let m = marker("fingerprint");
    let d = deliver_through(
        &l.env,
        &["user@ee.test"],
        format!("Subject: x\n\n{m}\n").as_bytes(),
        &TlsPolicy::Fingerprint(vec![[7; 32], pin]),
        false,
    );
    assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
    assert_eq!(
        (d.attempts[0].policy, d.attempts[0].security),
        ("fingerprint", Security::Authenticated)
    );
    assert!(
        d.attempts[0]
            .log_line()
            .starts_with("Verified TLS connection")
    );
    assert_eq!(messages_with(&m).len(), 1);
    // The same server behind a certificate substituter, or a pin that matches nothing.
    for (env, pins) in [
        (
            env_with(&[("192.0.2.1", "192.0.2.10"), ("2001:db8::1", "192.0.2.10")]),
            vec![pin],
        ),
        (l.env.clone(), vec![[7; 32]]),
    ] {
        let m = marker("fingerprint-wrong");
        let d = deliver_through(
            &env,
            &["user@ee.test"],
            format!("Subject: x\n\n{m}\n").as_bytes(),
            &TlsPolicy::Fingerprint(pins),
            false,
        );
        assert!(matches!(d.outcome, Outcome::Deferred(_)), "{d:?}");
        assert!(messages_with(&m).is_empty());
    }
}

#[test]
fn s09_each_recipient_ends_on_its_own_4xx_defers_5xx_bounces_the_rest_are_sent() {
    let m = marker("per-recipient");
    let d = deliver_through(
        &lab().env,
        &[
            "user@ee.test",
            "defer-me@ee.test",
            "reject-me@ee.test",
            "other@ee.test",
        ],
        format!("Subject: x\n\n{m}\n").as_bytes(),
        &TlsPolicy::Dane,
        false,
    );
    assert_eq!(
        ends(&d),
        [
            ("user@ee.test", Status::Sent, "2.0.0"),
            ("defer-me@ee.test", Status::Deferred, "4.2.1"),
            ("reject-me@ee.test", Status::Bounced, "5.1.1"),
            ("other@ee.test", Status::Sent, "2.0.0"),
        ]
    );
    assert!(matches!(d.outcome, Outcome::Deferred(_)), "{d:?}");
    let msgs = messages_with(&m);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].to, ["user@ee.test", "other@ee.test"]);
    let bounced = &d.recipients[2];
    assert_eq!(
        bounced.log_line(),
        "to=<reject-me@ee.test>, relay=mx.ee.test[192.0.2.1]:25, dsn=5.1.1, status=bounced (host mx.ee.test[192.0.2.1]:25 said: 550 5.1.1 no such user (in reply to RCPT TO command))"
    );
    // The deferred recipient was tried at the host's other address too, alone, and says what
    // that last attempt met.
    assert_eq!(d.attempts.len(), 2, "{d:?}");
    assert_eq!(
        d.recipients[1].log_line(),
        "to=<defer-me@ee.test>, relay=mx.ee.test[2001:db8::1]:25, dsn=4.2.1, status=deferred (host mx.ee.test[2001:db8::1]:25 said: 450 4.2.1 mailbox busy, try again later (in reply to RCPT TO command))"
    );
    // Only rejected recipients: bounced, nothing sent.
    let d = deliver_through(
        &lab().env,
        &["reject-a@ee.test", "reject-b@ee.test"],
        b"Subject: x\n\nnothing\n",
        &TlsPolicy::Dane,
        false,
    );
    assert!(matches!(d.outcome, Outcome::Bounced(_)), "{d:?}");
    assert!(d.recipients.iter().all(|r| r.status == Status::Bounced));
}

#[test]
fn s11_a_connection_lost_mid_data_is_a_temporary_failure() {
    let m = marker("dropdata");
    let d = deliver_through(
        &lab().env,
        &["dropdata@ee.test"],
        format!("Subject: x\n\n{m}\nmore\nlines\n").as_bytes(),
        &TlsPolicy::Dane,
        false,
    );
    assert!(matches!(d.outcome, Outcome::Deferred(_)), "{d:?}");
    assert_eq!(d.recipients[0].status, Status::Deferred);
    assert!(
        d.attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| !e.is_empty()),
        "{d:?}"
    );
    assert!(messages_with(&m).is_empty());
}

#[test]
fn s12_size_8bitmime_smtputf8_and_long_lines_as_the_server_offers_them() {
    // 8-bit text and a 2,500-octet line: BODY=8BITMIME and SIZE sent; the line folded.
    let m = marker("8bit");
    let long = "x".repeat(2500);
    let d = deliver_through(
        &lab().env,
        &["user@ee.test"],
        format!("Subject: caf\u{e9}\n\n{m}\n{long}\n").as_bytes(),
        &TlsPolicy::Dane,
        false,
    );
    assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
    let got = &messages_with(&m)[0];
    assert!(got.params.contains("BODY=8BITMIME"), "{}", got.params);
    assert!(got.params.contains("SIZE="), "{}", got.params);
    assert!(!got.params.contains("SMTPUTF8"), "{}", got.params);
    assert!(got.data.lines().all(|l| l.len() <= 998), "a line over 998");
    let unfolded = got.data.replace("\r\n ", "");
    assert!(unfolded.contains(&long), "the folded line comes back whole");
    // A non-ASCII address: SMTPUTF8.
    let m = marker("utf8");
    let d = deliver_through(
        &lab().env,
        &["j\u{fc}rgen@ee.test"],
        format!("Subject: x\n\n{m}\n").as_bytes(),
        &TlsPolicy::Dane,
        false,
    );
    assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
    assert!(messages_with(&m)[0].params.contains("SMTPUTF8"));
    // Larger than the server's SIZE: bounced before MAIL, nothing sent.
    let big = vec![b'a'; mxdane_lab::smtp::SIZE_LIMIT + 10];
    let d = deliver_through(&lab().env, &["user@ee.test"], &big, &TlsPolicy::Dane, false);
    assert!(matches!(d.outcome, Outcome::Bounced(_)), "{d:?}");
    assert_eq!(d.recipients[0].dsn, "5.3.4");
}

#[test]
fn s13_a_dry_run_stops_after_rcpt_and_sends_nothing() {
    let m = marker("dry-run");
    let d = deliver_through(
        &lab().env,
        &["user@ee.test", "reject-x@ee.test"],
        format!("Subject: x\n\n{m}\n").as_bytes(),
        &TlsPolicy::Dane,
        true,
    );
    let got: Vec<Status> = d.recipients.iter().map(|r| r.status).collect();
    assert_eq!(got, [Status::Deliverable, Status::Bounced], "{d:?}");
    assert!(messages_with(&m).is_empty());
    assert_eq!(d.attempts[0].security, Security::Authenticated);
}

mod common;

#[test]
fn s14_mxdane_send_reads_a_postfix_policy_table_and_logs_as_postfix_does() {
    let l = lab();
    let dir = common::scratch("send-cli");
    // Postfix's text form: strip.test may (so its stripped STARTTLS is tolerated), every
    // subdomain of .test at dane-only, a relay entry skipped.
    let table = common::write(
        &dir,
        "tls_policy",
        "# reused from Postfix\nstrip.test may\n.test dane-only\n[relay.test]:587 encrypt\n",
    );
    let mut base: Vec<String> = vec![
        "send".into(),
        "--from".into(),
        "sender@lab.test".into(),
        "--helo".into(),
        "client.lab.test".into(),
        "--policy-file".into(),
        table,
    ];
    base.extend(common::lab_flags(l, &dir));
    let run = |extra: &[&str], stdin: &str| {
        let mut args = base.clone();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        common::mxdane(&a, stdin)
    };
    let m = marker("cli");
    let r = run(
        &["--to", "user@ee.test", "--to", "user@strip.test"],
        &format!("Subject: cli\n\n{m}\n"),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("1 relay entries"), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "ee.test: TLS level dane-only", "{}", r.stdout);
    assert!(lines[1].starts_with(
        "  Verified TLS connection established to mx.ee.test[192.0.2.1]:25: TLSv1_3 with cipher"
    ));
    assert!(lines[2].starts_with(
        "  to=<user@ee.test>, relay=mx.ee.test[192.0.2.1]:25, dsn=2.0.0, status=sent (250"
    ));
    assert_eq!(lines[3], "strip.test: TLS level may");
    assert!(
        r.stdout
            .contains("plaintext connection to mx.strip.test[192.0.2.9]:25")
    );
    assert_eq!(messages_with(&m).len(), 2, "one per domain");
    // --policy overrides the default only: strip.test stays may, nullmx bounces (69).
    let r = run(&["--to", "user@nullmx.test", "--json"], "x\n");
    assert_eq!(r.code, 69, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["deliveries"][0]["recipients"][0]["status"], "bounced");
    // A dry run: deliverable and bounced, nothing sent, exit 69 (a recipient bounced).
    let m = marker("cli-dry");
    let r = run(
        &[
            "--to",
            "user@ee.test",
            "--to",
            "reject-1@ee.test",
            "--dry-run",
        ],
        &format!("Subject: dry\n\n{m}\n"),
    );
    assert_eq!(r.code, 69, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("status=deliverable"), "{}", r.stdout);
    assert!(messages_with(&m).is_empty());
    // A deferral (4xx) wins over a bounce: 75.
    let r = run(
        &["--to", "defer-1@ee.test", "--to", "reject-1@ee.test"],
        "x\n",
    );
    assert_eq!(r.code, 75, "{}{}", r.stdout, r.stderr);
    // A recipient given twice: one RCPT, one copy.
    let m = marker("cli-twice");
    let r = run(
        &["--to", "user@ee.test", "--to", "user@ee.test"],
        &format!("Subject: twice\n\n{m}\n"),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.matches("status=sent").count(), 1, "{}", r.stdout);
    assert_eq!(messages_with(&m)[0].to, ["user@ee.test"]);
    // A timeout too large for the clock is taken as "very long", not a crash.
    let mut args = base.clone();
    let at = args.iter().position(|a| a == "--timeout").unwrap();
    args[at + 1] = u64::MAX.to_string();
    args.extend(["--to".to_owned(), "user@ee.test".to_owned()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::mxdane(&a, "Subject: t\n\nx\n");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // A message too large to hold: refused before any connection.
    let huge = dir.join("huge.eml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let huge = huge.display().to_string();
    // Bad input: named, 64, nothing sent.
    for (extra, want) in [
        (
            &["--to", "a@ee.test", "--message", &huge][..],
            "larger than 64 MiB",
        ),
        (&["--to", "no-domain"][..], "has no domain"),
        (
            &["--to", "a@ee.test", "--policy", "fingerprint"][..],
            "SHA-256",
        ),
        (
            &["--to", "a@ee.test", "--message", "/nonexistent/msg"][..],
            "/nonexistent/msg",
        ),
    ] {
        let r = run(extra, "x\n");
        assert_eq!(r.code, 64, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{extra:?}: {}", r.stderr);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn s15_a_temporary_refusal_of_mail_from_defers_everyone_and_a_spam_refusal_bounces_only_the_taken()
{
    // MAIL gets 452: the pipelined RCPTs get "503 need MAIL", which must not bounce anyone.
    let text = b"Subject: x\n\nbody\n";
    let to = ["a@ee.test".to_owned(), "b@ee.test".to_owned()];
    let e = Envelope::new("defer-sender@lab.test", &to, text).unwrap();
    let d = runtime().block_on(deliver(
        lab().env.resolver.as_ref(),
        &lab().env.connector,
        &e,
        "ee.test",
        "client.lab.test",
        Settings::default(),
        &TlsPolicy::Dane,
    ));
    assert!(
        d.recipients.iter().all(|r| r.status == Status::Deferred),
        "{d:?}"
    );
    assert!(matches!(d.outcome, Outcome::Deferred(_)));
    // The end of the message gets 554: the recipients the server took bounce with it; the
    // one it deferred at RCPT stays deferred with its own reply.
    let m = marker("spam");
    let d = deliver_through(
        &lab().env,
        &["ok@ee.test", "defer-x@ee.test", "spam-y@ee.test"],
        format!("Subject: x\n\n{m}\n").as_bytes(),
        &TlsPolicy::Dane,
        false,
    );
    assert_eq!(
        ends(&d),
        [
            ("ok@ee.test", Status::Bounced, "5.7.1"),
            ("defer-x@ee.test", Status::Deferred, "4.2.1"),
            ("spam-y@ee.test", Status::Bounced, "5.7.1"),
        ],
        "{d:?}"
    );
    assert!(messages_with(&m).is_empty());
}

#[test]
fn s16_levels_that_ignore_tlsa_are_not_stopped_by_a_bogus_tlsa_lookup() {
    // bogus.test: its host's TLSA records are bogus. dane and dane-only never use it (s01);
    // encrypt and may, which never look at TLSA (as in Postfix), deliver.
    for level in [TlsPolicy::Encrypt, TlsPolicy::May] {
        let (d, n) = send_with("bogus.test", &level);
        assert!(
            matches!(d.outcome, Outcome::Delivered(_)),
            "{}: {d:?}",
            level.name()
        );
        assert_eq!(n, 1);
        assert_eq!(d.attempts[0].security, Security::Encrypted);
    }
}

#[test]
fn s17_a_bare_cr_cannot_end_the_message_early() {
    // "\r.\r" would end the message at a lenient server; it is sent as a line "..".
    let m = marker("bare-cr");
    let d = deliver_through(
        &lab().env,
        &["user@ee.test"],
        format!("Subject: x\n\n{m}\r.\rMAIL FROM:<evil@x.test>\r\nlast line\n").as_bytes(),
        &TlsPolicy::Dane,
        false,
    );
    assert!(matches!(d.outcome, Outcome::Delivered(_)), "{d:?}");
    let got = messages_with(&m);
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .data
            .contains("\r\n.\r\nMAIL FROM:<evil@x.test>\r\nlast line\r\n"),
        "{:?}",
        got[0].data
    );
}
