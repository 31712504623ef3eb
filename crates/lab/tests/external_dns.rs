//! Independent validators confirm the lab's DNS worlds (external tier; `.ci/run` runs these
//! with `--ignored` after installing bind9-dnsutils, ldnsutils, knot and unbound):
//! - BIND's `delv` validates every fixture case against the in-process recursive server;
//! - `ldns-verify-zone` checks every exported zone file and finds each signature fault, and the
//!   DS mismatch, exactly where the knob put it;
//! - Knot serves the exported zones and Unbound validates them: AD where the fixture says
//!   secure, SERVFAIL where it says bogus ([`KnotUnbound`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use mxdane_lab::dns::fixtures::{self, Verdict};
use mxdane_lab::dns::interop::KnotUnbound;
use mxdane_lab::dns::name::Name;
use mxdane_lab::dns::rdata::type_name;
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::world::World;

fn require(program: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        found,
        "{program} is not installed: the external tier needs it (see .ci/run)"
    );
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxdane-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// delv's view of one query, as a fixture verdict.
fn delv_verdict(out: &str) -> Option<Verdict> {
    let negative = |secure, insecure| {
        if out.contains("negative response, fully validated") {
            Some(secure)
        } else if out.contains("negative response, unsigned answer") {
            Some(insecure)
        } else {
            None
        }
    };
    if out.contains("resolution failed: timed out") {
        Some(Verdict::Timeout)
    } else if out.contains("resolution failed: failure") {
        Some(Verdict::Servfail)
    } else if out.contains("ncache nxdomain") {
        negative(Verdict::SecureNxdomain, Verdict::InsecureNxdomain)
    } else if out.contains("ncache nxrrset") {
        negative(Verdict::SecureNodata, Verdict::Insecure)
    } else if out.contains("resolution failed") {
        Some(Verdict::Bogus)
    } else if out.contains("; unsigned answer") {
        Some(Verdict::Insecure)
    } else if out.contains("; fully validated") {
        Some(Verdict::Secure)
    } else {
        None
    }
}

#[test]
#[ignore = "needs delv (bind9-dnsutils)"]
fn delv_confirms_every_fixture_case() {
    require("delv");
    let world = Arc::new(fixtures::every_knob());
    let server = DnsServer::recursive(world.clone()).unwrap();
    let dir = scratch("delv");
    let anchors: String = world
        .trust_anchor_text()
        .lines()
        .filter(|l| l.contains(" DS "))
        .map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            format!(
                "  \".\" static-ds {} {} {} \"{}\";\n",
                p[4], p[5], p[6], p[7]
            )
        })
        .collect();
    let anchor_file = dir.join("anchors.conf");
    std::fs::write(&anchor_file, format!("trust-anchors {{\n{anchors}}};\n")).unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in fixtures::CASES {
        let out = run(Command::new("timeout")
            .arg("30")
            .arg("delv")
            .arg(format!("@{}", server.addr().ip()))
            .args(["-p", &server.addr().port().to_string()])
            .arg("-a")
            .arg(&anchor_file)
            .arg("+root=.")
            .arg(case.name)
            .arg(type_name(case.qtype)));
        let got = delv_verdict(&text(&out));
        // An answer delv did not give (no verdict line) is a failure, never a negative.
        if got.is_some() {
            compared += 1;
        }
        if got != Some(case.verdict) {
            failures.push(format!(
                "{} {} ({}): fixture says {:?}, delv {:?}\n{}",
                case.name,
                type_name(case.qtype),
                case.knob,
                case.verdict,
                got,
                text(&out)
            ));
        }
    }
    println!(
        "oracle delv: {compared} comparisons of {} cases",
        fixtures::CASES.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        compared,
        fixtures::CASES.len(),
        "every case was judged by delv"
    );
}

fn export(
    world: &World,
    name: &str,
    knot: u16,
    unbound: u16,
) -> (PathBuf, mxdane_lab::dns::export::Exported) {
    let dir = scratch(name);
    let e = world.export(&dir, knot, unbound).unwrap();
    (dir, e)
}

fn zone_file(dir: &Path, label: &str) -> PathBuf {
    dir.join("zones").join(format!("{label}.zone"))
}

#[test]
#[ignore = "needs ldns-verify-zone (ldnsutils)"]
fn ldns_verify_zone_confirms_each_signature_fault() {
    require("ldns-verify-zone");
    let world = fixtures::every_knob();
    let (dir, exported) = export(&world, "ldns", 15353, 15354);
    let faults = std::fs::read_to_string(zone_file(&dir, "faults.test")).unwrap();
    assert!(faults.contains("_25._tcp.expired.faults.test."));
    // Every signed zone but faults.test verifies; each fault is named exactly once.
    let mut compared = 0;
    for (apex, _, file) in &exported.zone_files {
        compared += 1;
        let out = text(&run(Command::new("ldns-verify-zone").arg(file)));
        let unsigned = ["insecure.test.", "child.optout.test."].contains(&apex.as_str());
        if apex == "faults.test." {
            for (owner, what) in [
                ("_25._tcp.expired.faults.test.", "has expired"),
                ("_25._tcp.future.faults.test.", "not incepted yet"),
                ("_25._tcp.corrupt.faults.test.", "Bogus DNSSEC signature"),
                ("_25._tcp.nosig.faults.test.", "no signatures"),
            ] {
                let lines: Vec<&str> = out.lines().filter(|l| l.contains(owner)).collect();
                assert!(
                    lines.len() == 1 && lines[0].contains(what),
                    "{owner}: expected one \"{what}\" error\n{out}"
                );
            }
            assert!(!out.contains("ok.faults.test"), "{out}");
            assert_eq!(
                out.lines().filter(|l| l.starts_with("Error")).count(),
                4,
                "{out}"
            );
        } else if unsigned {
            assert!(out.contains("No DNSKEY records"), "{apex}: {out}");
        } else {
            assert!(
                out.contains("Zone is verified and complete"),
                "{apex}: {out}"
            );
        }
    }
    // The DS knob: the parent's DS authenticates secure.test's keys but not badds.test's.
    for (apex, label, want_ok) in [
        ("secure.test.", "secure.test", true),
        ("badds.test.", "badds.test", false),
    ] {
        let test_zone = std::fs::read_to_string(zone_file(&dir, "test")).unwrap();
        let ds: String = test_zone
            .lines()
            .filter(|l| l.starts_with(apex) && l.contains(" IN DS "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!ds.is_empty(), "test. publishes a DS for {apex}");
        let ds_file = dir.join(format!("{label}.ds"));
        std::fs::write(&ds_file, ds).unwrap();
        let out = run(Command::new("ldns-verify-zone")
            .arg("-k")
            .arg(&ds_file)
            .arg(zone_file(&dir, label)));
        assert_eq!(
            out.status.success(),
            want_ok,
            "{apex} against its DS: {}",
            text(&out)
        );
        compared += 1;
    }
    let cases = exported.zone_files.len() + 2;
    println!("oracle ldns-verify-zone: {compared} comparisons of {cases} cases");
    assert_eq!(compared, cases);
    assert!(exported.zone_files.len() >= 10, "every zone was exported");
}

#[test]
#[ignore = "needs knotd (knot), unbound"]
fn knot_serves_and_unbound_validates_the_exported_world() {
    for p in ["knotd", "unbound"] {
        require(p);
    }
    let world = fixtures::every_knob();
    let interop = KnotUnbound::start(&world, "lab").unwrap();
    let mut failures = Vec::new();
    let mut unbound_compared = 0;
    for case in fixtures::CASES {
        let got = interop.ask(&Name::parse(case.name), case.qtype);
        // Knot serves zone data: the in-process server faults (SERVFAIL, silence) do not exist
        // there, so those cases must validate like the intact data they hide.
        let want = match case.verdict {
            Verdict::Servfail | Verdict::Timeout => Verdict::Secure,
            v => v,
        };
        let ok = match (&got, want) {
            (None, _) => false,
            (Some(r), Verdict::Secure) => r.ad && r.rcode == 0 && !r.answer.is_empty(),
            (Some(r), Verdict::SecureNodata) => r.ad && r.rcode == 0 && r.answer.is_empty(),
            (Some(r), Verdict::SecureNxdomain) => r.ad && r.rcode == 3,
            (Some(r), Verdict::Insecure) => !r.ad && r.rcode == 0,
            (Some(r), Verdict::InsecureNxdomain) => !r.ad && r.rcode == 3,
            (Some(r), Verdict::Bogus) => r.rcode == 2,
            (Some(_), Verdict::Servfail | Verdict::Timeout) => false,
        };
        if got.is_some() {
            unbound_compared += 1;
        }
        if !ok {
            failures.push(format!(
                "{} {} ({}): want {want:?}, unbound said {:?}",
                case.name,
                type_name(case.qtype),
                case.knob,
                got.map(|r| (r.rcode, r.ad, r.answer.len()))
            ));
        }
    }
    println!(
        "oracle knotd + unbound: {unbound_compared} comparisons of {} cases",
        fixtures::CASES.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        unbound_compared,
        fixtures::CASES.len(),
        "every case was answered by unbound"
    );
}
