//! Delivering one message with DANE from a Rust program, through the lab world (no network
//! beyond loopback): `cargo run -p mxdane --example deliver`.
//!
//! `mxdane_smtp::deliver::deliver` looks up the recipient domain's MX hosts and TLSA records
//! (DNSSEC-validated by libunbound), follows RFC 7672 host by host under the chosen TLS level,
//! and says for each recipient whether it was sent, deferred or bounced. In a program of your
//! own, pass a validating resolver (`mxdane_dns::UnboundResolver::forwarding` to your
//! resolver with the IANA root anchors, `mxdane_dns::iana_root_anchors()`) and
//! `mxdane_smtp::Connector::direct()` instead of the lab's.

use mxdane_smtp::deliver::{TlsPolicy, deliver};
use mxdane_smtp::{Envelope, Settings};

fn main() -> Result<(), String> {
    // The lab: signed zones, a validating resolver, mail servers (good ones and attackers).
    let lab = mxdane::demo::start()?;
    let message =
        b"From: sender@lab.test\nTo: user@ee.test\nSubject: hello\n\nDelivered with DANE.\n";
    let envelope = Envelope::new("sender@lab.test", &["user@ee.test".to_owned()], message)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    for domain in ["ee.test", "strip.test"] {
        let envelope = envelope.for_recipients(&[format!("user@{domain}")]);
        let d = runtime.block_on(deliver(
            lab.env.resolver.as_ref(),
            &lab.env.connector,
            &envelope,
            domain,
            "client.lab.test",
            Settings::default(),
            &TlsPolicy::Dane,
        ));
        for attempt in &d.attempts {
            println!("{}", attempt.log_line());
        }
        for r in &d.recipients {
            println!("{}", r.log_line());
        }
    }
    println!(
        "the lab's mail server holds {} message(s); the one for strip.test (STARTTLS stripped on the way) was never sent",
        lab.mailbox.messages().len()
    );
    Ok(())
}
