//! `mxdane dns` against an in-process lab world: the plan's text and JSON (golden files pin
//! the schema of docs/json.md), exit codes, and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, OnceLock};

use common::{golden, mxdane, scratch, write};
use mxdane_lab::dns::fixtures::DIGEST;
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::world::World;

struct Lab {
    world: Arc<World>,
    server: DnsServer,
    validating: DnsServer,
    anchor: String,
}

fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let tlsa = format!("3 1 1 {DIGEST}");
        let world = Arc::new(
            World::builder()
                .zone("example.test", |z| {
                    z.mx("@", 10, "mx1")
                        .mx("@", 20, "mx2")
                        .a("mx1", "192.0.2.1")
                        .aaaa("mx1", "2001:db8::1")
                        .tlsa("_25._tcp.mx1", &tlsa)
                        .a("mx2", "192.0.2.2")
                        .null_mx("nomail")
                })
                .build(),
        );
        let dir = scratch("dns-anchor");
        let anchor = write(&dir, "anchor.ds", world.trust_anchor_text());
        Lab {
            server: DnsServer::recursive(world.clone()).unwrap(),
            validating: DnsServer::validating(world.clone()).unwrap(),
            world,
            anchor,
        }
    })
}

fn dns(args: &[&str]) -> common::Run {
    let l = lab();
    let resolver = l.server.addr().to_string();
    let mut all = vec![
        "dns",
        "--resolver",
        resolver.as_str(),
        "--trust-anchor",
        l.anchor.as_str(),
    ];
    all.extend_from_slice(args);
    mxdane(&all, "")
}

fn without_port(text: &str) -> String {
    text.replace(&lab().server.addr().to_string(), "127.0.0.1:PORT")
}

#[test]
fn plan_text_and_json_are_pinned() {
    let text = dns(&["example.test"]);
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    golden("dns-example.txt", &without_port(&text.stdout));
    let json = mxdane(
        &[
            "--json",
            "dns",
            "--resolver",
            &lab().server.addr().to_string(),
            "--trust-anchor",
            &lab().anchor,
            "example.test",
        ],
        "",
    );
    assert_eq!(json.code, 0);
    // docs/json.md: one object on one line.
    assert_eq!(json.stdout.lines().count(), 1, "{}", json.stdout);
    golden("dns-example.json", &without_port(&json.stdout));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["mx_status"], "secure");
    assert_eq!(v["outcome"], "deliverable");
    assert_eq!(v["hosts"][0]["decision"], "dane");
    assert_eq!(v["hosts"][0]["tlsa_base"], "mx1.example.test.");
    assert_eq!(v["hosts"][1]["decision"], "opportunistic");
    assert_eq!(v["hosts"][1]["tlsa_status"], "secure-denial");
    assert_eq!(v["hosts"][0]["addresses"][1]["ip"], "2001:db8::1");
}

#[test]
fn host_mode_has_no_mx_status_and_outcomes_set_the_exit_code() {
    let run = mxdane(
        &[
            "--json",
            "dns",
            "--host",
            "--resolver",
            &lab().server.addr().to_string(),
            "--trust-anchor",
            &lab().anchor,
            "mx1.example.test",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(v.get("mx_status").is_none());
    assert_eq!(v["hosts"][0]["decision"], "dane");
    let nomail = dns(&["nomail.example.test"]);
    assert_eq!(nomail.code, 1);
    assert!(
        nomail.stdout.contains("outcome: null-mx"),
        "{}",
        nomail.stdout
    );
    let missing = dns(&["nothing.example.test"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stdout.contains("outcome: no-such-domain"),
        "{}",
        missing.stdout
    );
    // Trusted-AD mode against a validating upstream on loopback reaches the same plan.
    let ad = mxdane(
        &[
            "--json",
            "dns",
            "--trust-ad",
            "--resolver",
            &lab().validating.addr().to_string(),
            "example.test",
        ],
        "",
    );
    assert_eq!(ad.code, 0, "{}", ad.stderr);
    let v: serde_json::Value = serde_json::from_str(&ad.stdout).unwrap();
    assert_eq!(v["mode"], "trusted-ad");
    assert_eq!(v["hosts"][0]["decision"], "dane");
    let _ = &lab().world;
}

// D-16 and issue 4's bad-input line: clear errors, exit 2, never a panic; an unreachable
// resolver defers (exit 1) with the reason.
#[test]
fn d16_bad_input_is_named() {
    let dir = scratch("dns-bad");
    let long_label = format!("{}.test", "a".repeat(64));
    let long_name = vec!["abcdefghij"; 30].join(".");
    let garbage = write(&dir, "garbage.ds", "this is not a trust anchor\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["dns", "--resolver", "127.0.0.1:9", long_label.as_str()],
            "63",
        ),
        (
            vec!["dns", "--resolver", "127.0.0.1:9", long_name.as_str()],
            "255",
        ),
        (
            vec!["dns", "--resolver", "127.0.0.1:9", "bad name.test"],
            "invalid DNS name \"bad name.test\": character ' '",
        ),
        (
            vec!["dns", "--resolver", "not-an-address", "example.test"],
            "resolver \"not-an-address\"",
        ),
        (
            vec![
                "dns",
                "--trust-ad",
                "--resolver",
                "192.0.2.53",
                "example.test",
            ],
            "not on a loopback address",
        ),
        (
            vec![
                "dns",
                "--resolver",
                "127.0.0.1:9",
                "--trust-anchor",
                "/nonexistent/anchor",
                "example.test",
            ],
            "/nonexistent/anchor: cannot read",
        ),
        (
            vec![
                "dns",
                "--resolver",
                "127.0.0.1:9",
                "--trust-anchor",
                garbage.as_str(),
                "example.test",
            ],
            "trust anchor line 1",
        ),
    ];
    for (args, want) in cases {
        let run = mxdane(&args, "");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.starts_with("mxdane: ") && run.stderr.contains(want),
            "{args:?}: {}",
            run.stderr
        );
    }
    // --recursive iterates from the root servers itself: no --resolver, no --trust-ad; and
    // --root-hints only with it (clap's usage errors, exit 2).
    for args in [
        vec![
            "dns",
            "--recursive",
            "--resolver",
            "127.0.0.1",
            "example.test",
        ],
        vec!["dns", "--recursive", "--trust-ad", "example.test"],
        vec!["dns", "--root-hints", "/etc/hosts", "example.test"],
    ] {
        let run = mxdane(&args, "");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.contains("--recursive") || run.stderr.contains("--root-hints"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let missing_hints = mxdane(
        &[
            "dns",
            "--recursive",
            "--root-hints",
            "/nonexistent/hints",
            "example.test",
        ],
        "",
    );
    assert_eq!(missing_hints.code, 2, "{}", missing_hints.stdout);
    assert!(
        missing_hints
            .stderr
            .contains("/nonexistent/hints: cannot read"),
        "{}",
        missing_hints.stderr
    );
    let unreachable = mxdane(
        &[
            "dns",
            "--timeout",
            "1",
            "--resolver",
            "127.0.0.1:9",
            "--trust-anchor",
            &lab().anchor,
            "example.test",
        ],
        "",
    );
    assert_eq!(unreachable.code, 1, "{}", unreachable.stderr);
    assert!(
        unreachable
            .stdout
            .contains("outcome: defer: the MX lookup failed"),
        "{}",
        unreachable.stdout
    );
}
