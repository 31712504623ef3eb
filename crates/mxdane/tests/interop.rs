//! The interop tier (issue 8, first slice): the demo world served by real software inside a
//! network namespace, judged by mxdane in both resolver modes and by Postfix's posttls-finger.
//!
//! Outside the namespace the test creates it (`ip netns add`), gives it a resolv.conf pointing
//! at 127.0.0.1, re-runs itself inside (`ip netns exec`), and always deletes both afterwards.
//! Inside: the lab's signed zones exported to Knot, which answers on every nameserver address
//! of the world (127.0.X.Y port 53); Unbound on 127.0.0.1:53 iterating from the lab root (root
//! hints, the lab trust anchor, `do-not-query-localhost: no`); the lab's SMTP servers and men in
//! the middle reachable on port 25 of the MX addresses (192.0.2.x and 2001:db8::x, added to the
//! namespace's loopback), except 192.0.2.30, where a real Postfix smtpd with an RSA and an
//! ECDSA chain answers. Every scenario of `tests/verdicts.txt` (except the lab-only ones)
//! goes through `mxdane check --json` with the validating mode (libunbound in-process,
//! forwarding to Unbound), with `--recursive` (libunbound iterating from the lab root) and with
//! `--trust-ad`, each
//! host through `posttls-finger -l dane`, and each DANE host whose TLSA base is its own name
//! through `ldns-dane` (chain fetched with `openssl s_client -starttls smtp`). Disagreements fail the run unless listed in
//! tests/interop/divergences.txt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mxdane_lab::dns::world::ns_address;
use mxdane_lab::netns;
use mxdane_lab::smtp::Forwarder;

const INNER: &str = "MXDANE_INTEROP_INNER";

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

#[test]
#[ignore = "needs root, ip (iproute2), knotd (knot), unbound, posttls-finger (postfix), ldns-dane, openssl"]
fn interop_tier() {
    if std::env::var_os(INNER).is_some() {
        inner();
        return;
    }
    in_namespace(
        "interop_tier",
        &[
            "ip",
            "knotd",
            "unbound",
            "posttls-finger",
            "ldns-dane",
            "openssl",
            "dig",
        ],
    );
}

/// Creates a network namespace with a resolv.conf pointing at 127.0.0.1, runs the test
/// `name` of this binary inside it (with INNER set), and deletes both afterwards.
fn in_namespace(name: &str, programs: &[&str]) {
    assert!(
        netns::is_root(),
        "the interop tier needs root (it creates a network namespace); run it through .ci/run"
    );
    let missing = netns::missing(programs);
    assert!(
        missing.is_empty(),
        "{missing:?} not installed: the interop tier needs them (see .ci/run)"
    );
    let ns = netns::Namespace::create(name).unwrap();
    let started = Instant::now();
    let out = ns
        .command(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, "1")
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!("{name}: {:.1} s", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "{name} failed inside the namespace");
}

/// A real Postfix smtpd (master, smtpd, tlsmgr, ...) with an ECDSA and an RSA chain, on port
/// 25 of one address, with its own configuration directory.
struct PostfixServer(PathBuf);

impl PostfixServer {
    fn start(dir: &Path, ip: std::net::IpAddr, certs: &[mxdane_lab::certs::TestCert; 3]) -> Self {
        let conf = dir.join("postfix-server");
        std::fs::create_dir_all(&conf).unwrap();
        let [ec, rsa, issuer] = certs;
        std::fs::write(
            conf.join("ec.pem"),
            ec.key_pem() + &ec.pem() + &issuer.pem(),
        )
        .unwrap();
        std::fs::write(
            conf.join("rsa.pem"),
            rsa.key_pem() + &rsa.pem() + &issuer.pem(),
        )
        .unwrap();
        let c = conf.display().to_string();
        assert!(
            sh(&format!("chmod 600 {c}/ec.pem {c}/rsa.pem"))
                .status
                .success()
        );
        Self::start_with(&conf, ip, &format!("{c}/ec.pem, {c}/rsa.pem"))
    }

    /// A server in `conf` whose `smtpd_tls_chain_files` is `chain_files`.
    fn start_with(conf: &Path, ip: std::net::IpAddr, chain_files: &str) -> Self {
        for d in ["", "queue", "data"] {
            std::fs::create_dir_all(conf.join(d)).unwrap();
        }
        std::fs::copy("/etc/postfix/master.cf", conf.join("master.cf")).unwrap();
        let c = conf.display();
        std::fs::write(
            conf.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {c}/queue\ndata_directory = {c}/data\nmail_owner = postfix\ninet_interfaces = {ip}\ninet_protocols = ipv4\nmyhostname = mx.postfix.test\nmydestination = postfix.test, postfix1.test\nlocal_recipient_maps =\nlocal_transport = discard\nalias_maps =\nalias_database =\nsmtpd_tls_security_level = may\nsmtpd_tls_chain_files = {chain_files}\nmaillog_file = {c}/maillog\n"
            ),
        )
        .unwrap();
        assert!(
            sh(&format!("chown -R postfix {c}/queue {c}/data"))
                .status
                .success()
        );
        let out = sh(&format!("timeout 60 postfix -c {c} start 2>&1"));
        assert!(
            out.status.success(),
            "postfix start: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        wait_for("postfix smtpd", &conf.join("maillog"), || {
            std::net::TcpStream::connect((ip, 25)).is_ok()
        });
        Self(conf.to_path_buf())
    }
}

impl Drop for PostfixServer {
    fn drop(&mut self) {
        let _ = sh(&format!("timeout 30 postfix -c {} stop", self.0.display()));
    }
}

struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(dir: &Path, program: &str, args: &[&str], log: &str) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// A validating Unbound on 127.0.0.1:53 iterating from the lab root at `root_ns`, with the
/// lab trust anchor and `extra` server lines.
fn start_unbound(
    dir: &Path,
    trust_anchor: &Path,
    root_ns: std::net::Ipv4Addr,
    extra: &str,
    daemons: &mut Daemons,
) {
    std::fs::write(
        dir.join("root.hints"),
        format!(". 3600 IN NS ns1.\nns1. 3600 IN A {root_ns}\n"),
    )
    .unwrap();
    let conf = dir.join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n    interface: 127.0.0.1\n    port: 53\n    do-ip6: no\n    do-not-query-localhost: no\n    username: \"\"\n    chroot: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n    root-hints: \"{d}/root.hints\"\n    trust-anchor-file: \"{ta}\"\n{extra}remote-control:\n    control-enable: no\n",
            d = dir.display(),
            ta = trust_anchor.display()
        ),
    )
    .unwrap();
    daemons.0.push(spawn(
        dir,
        "unbound",
        &["-d", "-c", conf.to_str().unwrap()],
        "unbound.log",
    ));
}

fn wait_for(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not come up: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mxdane(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_mxdane"))
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "mxdane {args:?}: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

fn inner() {
    assert!(sh("ip link set lo up").status.success());
    let lab = mxdane::demo::start().unwrap();
    let dir = PathBuf::from(format!("/var/tmp/mxdane-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The MX addresses on this namespace's loopback, each forwarded to its lab server.
    let mut forwarders = Vec::new();
    let (postfix_addr, postfix_certs) = &lab.postfix;
    for (public, to) in &lab.smtp_routes {
        let ip = public.ip();
        let cmd = if ip.is_ipv6() {
            format!("ip -6 addr add {ip}/128 dev lo nodad")
        } else {
            format!("ip addr add {ip}/32 dev lo")
        };
        assert!(sh(&cmd).status.success(), "{cmd}");
        // A real Postfix smtpd takes the place of the lab's dual RSA+ECDSA server.
        if public != postfix_addr {
            forwarders.push(Forwarder::start(*public, *to).unwrap());
        }
    }
    let postfix_server = PostfixServer::start(&dir, postfix_addr.ip(), postfix_certs);
    std::thread::sleep(Duration::from_millis(300));
    // Knot: every zone (first server's copy) on every nameserver address; the second servers'
    // copies on their own addresses from a second instance.
    let world = lab.world.clone();
    let exported = world.export(&dir, 5300, 5301).unwrap();
    let mut daemons = Daemons(Vec::new());
    for server in 0..2 {
        let zones: Vec<_> = exported
            .zone_files
            .iter()
            .filter(|(_, s, _)| *s == server)
            .collect();
        let apexes: BTreeSet<&String> = zones.iter().map(|(a, _, _)| a).collect();
        let mut listen = String::new();
        for (zi, z) in world.zones().iter().enumerate() {
            if z.servers.len() > server && (server == 0 || apexes.contains(&z.apex.to_string())) {
                listen.push_str(&format!("  listen: {}@53\n", ns_address(zi, server)));
            }
        }
        let mut zone_conf = String::new();
        for (apex, _, file) in &zones {
            zone_conf.push_str(&format!(
                "  - domain: \"{apex}\"\n    file: \"{}\"\n",
                file.display()
            ));
        }
        let storage = dir.join(format!("knot{server}"));
        std::fs::create_dir_all(&storage).unwrap();
        let conf = dir.join(format!("knot{server}.conf"));
        std::fs::write(
            &conf,
            format!(
                "server:\n{listen}  rundir: \"{s}\"\ndatabase:\n  storage: \"{s}\"\nlog:\n  - target: stderr\n    any: warning\ntemplate:\n  - id: default\n    semantic-checks: off\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\nzone:\n{zone_conf}",
                s = storage.display()
            ),
        )
        .unwrap();
        if !zone_conf.is_empty() {
            daemons.0.push(spawn(
                &dir,
                "knotd",
                &["-c", conf.to_str().unwrap()],
                &format!("knot{server}.log"),
            ));
        }
    }
    let root_ns = ns_address(0, 0);
    wait_for("knotd", &dir.join("knot0.log"), || {
        String::from_utf8_lossy(&sh(&format!("dig +short +norec @{root_ns} . SOA")).stdout)
            .contains("hostmaster")
    });
    // Unbound iterating from the lab root.
    let tlds: String = world
        .zones()
        .iter()
        .filter(|z| z.apex.len() == 1)
        .map(|z| format!("    local-zone: \"{}\" nodefault\n", z.apex))
        .collect();
    start_unbound(
        &dir,
        &exported.trust_anchor,
        root_ns,
        &format!(
            "    verbosity: 1\n    module-config: \"validator iterator\"\n    qname-minimisation: no\n    aggressive-nsec: no\n{tlds}"
        ),
        &mut daemons,
    );
    wait_for("unbound", &dir.join("unbound.log"), || {
        String::from_utf8_lossy(&sh("dig +short @127.0.0.1 mx.ee.test A").stdout)
            .contains("192.0.2.1")
    });
    let ta = exported.trust_anchor.display().to_string();
    let hints = dir.join("root.hints").display().to_string();
    // posttls-finger reads main.cf: a minimal one with DNSSEC lookups (DANE needs them).
    let postfix = dir.join("postfix");
    std::fs::create_dir_all(&postfix).unwrap();
    std::fs::write(
        postfix.join("main.cf"),
        "compatibility_level = 3.6\nsmtp_dns_support_level = dnssec\nsmtp_host_lookup = dns\nsmtp_tls_loglevel = 1\n",
    )
    .unwrap();
    let divergences = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/divergences.txt"
    ))
    .unwrap();
    let listed = |line: &str| {
        divergences
            .lines()
            .any(|l| !l.starts_with('#') && l.starts_with(line))
    };
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    let mut posttls_checked = 0;
    let mut recursive_checked = 0;
    let mut ldns_checked = 0;
    let mut ldns_skipped = 0;
    let mut posttls_expected = 0;
    for (domain, want, lab_only) in common::verdicts() {
        if lab_only {
            continue;
        }
        let (domain, want) = (domain.as_str(), &want);
        let d = format!("{domain}.test");
        let (code_v, validating) = mxdane(&[
            "--json",
            "check",
            &d,
            "--resolver",
            "127.0.0.1",
            "--trust-anchor",
            &ta,
            "--timeout",
            "5",
        ]);
        let (code_a, trusted) = mxdane(&[
            "--json",
            "check",
            &d,
            "--resolver",
            "127.0.0.1",
            "--trust-ad",
            "--timeout",
            "5",
        ]);
        // --recursive: libunbound iterates from the lab root itself (no upstream at all).
        let (code_r, recursive) = mxdane(&[
            "--json",
            "check",
            &d,
            "--recursive",
            "--root-hints",
            &hints,
            "--trust-anchor",
            &ta,
            "--timeout",
            "5",
        ]);
        let (vv, va, vr) = (
            validating["verdict"].as_str().unwrap_or("?"),
            trusted["verdict"].as_str().unwrap_or("?"),
            recursive["verdict"].as_str().unwrap_or("?"),
        );
        recursive_checked += 1;
        for (mode, verdict, code) in [
            ("validating", vv, code_v),
            ("trusted-ad", va, code_a),
            ("recursive", vr, code_r),
        ] {
            if verdict != want.name() && !listed(&format!("{domain} mxdane-{mode} ")) {
                failures.push(format!(
                    "{domain}: mxdane {mode} says {verdict}, the lab says {} ({})",
                    want.name(),
                    validating["critical"]
                ));
            }
            if code != Some(i32::from(want.exit_code())) && verdict == want.name() {
                failures.push(format!("{domain}: {mode} exit code {code:?} for {verdict}"));
            }
        }
        // mxdane dns in both modes: the same decision and TLSA base for every host.
        let (_, dns_v) = mxdane(&[
            "--json",
            "dns",
            &d,
            "--resolver",
            "127.0.0.1",
            "--trust-anchor",
            &ta,
            "--timeout",
            "5",
        ]);
        let (_, dns_a) = mxdane(&[
            "--json",
            "dns",
            &d,
            "--resolver",
            "127.0.0.1",
            "--trust-ad",
            "--timeout",
            "5",
        ]);
        let view = |v: &serde_json::Value| -> Vec<(String, String, String)> {
            let mut hosts: Vec<(String, String, String)> = v["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    (
                        h["name"].to_string(),
                        h["decision"].to_string(),
                        h["tlsa_base"].to_string(),
                    )
                })
                .collect();
            hosts.sort();
            hosts
        };
        if (view(&dns_v), &dns_v["outcome"]) != (view(&dns_a), &dns_a["outcome"])
            && !listed(&format!("{domain} mxdane-dns "))
        {
            failures.push(format!(
                "{domain}: mxdane dns disagrees between modes: {:?} / {:?}",
                view(&dns_v),
                view(&dns_a)
            ));
        }
        // An insecure MX in front of a DANE host: Postfix with smtp_tls_dane_insecure_mx_policy
        // = dane (its default) must verify the host too (D-07).
        if validating["mx_status"] == "insecure"
            && validating["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|h| h["decision"] == "dane")
        {
            let out = sh(&format!(
                "MAIL_CONFIG={} timeout 60 posttls-finger -o inet_protocols=ipv4 -o smtp_tls_dane_insecure_mx_policy=dane -c -l dane -t 10 -T 30 '{d}' 2>&1",
                postfix.display()
            ));
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            posttls_checked += 1;
            // Postfix authenticates the host by DANE but logs it as "Trusted", not "Verified",
            // because the MX RRset is insecure: the same judgement as our warning.
            let authenticated = text.contains("Verified TLS connection established")
                || (text.contains("Trusted TLS connection established")
                    && text.contains("Matched DANE"));
            if !authenticated && !listed(&format!("{domain} posttls-finger-insecure-mx ")) {
                failures.push(format!(
                    "{domain}: posttls-finger with an insecure MX did not verify\n{text}"
                ));
            }
        }
        // posttls-finger at DANE level, host by host, per address family.
        let mut posttls = Vec::new();
        for h in validating["hosts"].as_array().into_iter().flatten() {
            let name = h["name"].as_str().unwrap_or("").trim_end_matches('.');
            // Each address family the host has: posttls-finger picks one address of it.
            let mut ours = "none";
            for (family, v6) in [("ipv4", false), ("ipv6", true)] {
                let has = h["addresses"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|a| a["ip"].as_str().is_some_and(|ip| ip.contains(':') == v6))
                });
                if !has && (v6 || h["decision"] != "skip") {
                    continue;
                }
                let mine = h["probes"]
                    .as_array()
                    .and_then(|p| {
                        p.iter().find(|p| {
                            p["algorithm"] == "default"
                                && p["ip"].as_str().is_some_and(|ip| ip.contains(':') == v6)
                        })
                    })
                    .and_then(|p| p["result"].as_str())
                    .unwrap_or(if h["decision"] == "skip" {
                        "skip"
                    } else {
                        "none"
                    });
                if !v6 {
                    ours = mine;
                }
                posttls_expected += 1;
                let out = sh(&format!(
                    "MAIL_CONFIG={} timeout 60 posttls-finger -o inet_protocols={family} -l dane -t 10 -T 30 '[{name}]' 2>&1",
                    postfix.display()
                ));
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                // The oracle must have run: not killed by the timeout (124), not missing (127),
                // and printing its own log lines; otherwise "failed" would agree with every
                // negative of ours by default (issue 19).
                if matches!(out.status.code(), Some(124 | 126 | 127) | None)
                    || !text.contains("posttls-finger: ")
                {
                    failures.push(format!(
                        "{domain}: host {name} ({family}): posttls-finger did not run properly (status {:?})\n{text}",
                        out.status.code()
                    ));
                    continue;
                }
                let theirs = if text.contains("Verified TLS connection established") {
                    "verified"
                } else if text.contains("certificate verification failed")
                    && h["decision"] == "dane"
                {
                    // num=65 (no matching TLSA record) or num=62 (hostname mismatch under DANE-TA).
                    "mismatch"
                } else if text.contains("Untrusted TLS connection established")
                    || text.contains("Anonymous TLS connection established")
                {
                    "encrypted"
                } else {
                    "failed"
                };
                let agree = match mine {
                    "verified" => theirs == "verified",
                    "mismatch" => theirs == "mismatch",
                    "encrypted" | "plaintext" => theirs == "encrypted",
                    _ => theirs == "failed",
                };
                posttls_checked += 1;
                if !agree && !listed(&format!("{domain} posttls-finger {name} ")) {
                    failures.push(format!(
                        "{domain}: host {name} ({family}): mxdane {mine}, posttls-finger {theirs}\n{text}"
                    ));
                }
                posttls.push(format!("{name}/{family}={theirs}"));
            }
            // ldns-dane (no STARTTLS of its own): the chain from openssl s_client, then TLSA
            // lookup and signature chasing from the lab trust anchor.
            let ip = h["addresses"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find_map(|a| a["ip"].as_str().filter(|ip| ip.contains('.')))
                })
                .unwrap_or("");
            if h["decision"] == "dane"
                && h["tlsa_base"].as_str().map(|b| b.trim_end_matches('.')) == Some(name)
                && !ip.is_empty()
            {
                let chain = dir.join(format!("{name}.pem"));
                let _ = sh(&format!(
                    "timeout 30 openssl s_client -starttls smtp -connect {ip}:25 -servername {name} -showcerts </dev/null 2>/dev/null | awk '/BEGIN CERT/,/END CERT/' > {}",
                    chain.display()
                ));
                // No chain: fine only where there was no TLS to fetch it from (no STARTTLS, a
                // failed handshake); anywhere else the oracle did not run.
                if std::fs::metadata(&chain).map_or(0, |m| m.len()) == 0 {
                    if matches!(ours, "verified" | "mismatch" | "encrypted") {
                        failures.push(format!(
                            "{domain}: host {name}: no chain fetched for ldns-dane although mxdane saw TLS ({ours})"
                        ));
                    } else {
                        ldns_skipped += 1;
                    }
                    continue;
                }
                // RFC 7672 section 3.1.1: no name check for DANE-EE(3); ldns-dane checks names
                // unless told not to (-n), so -n when every record is DANE-EE.
                let ee_only = h["tlsa"].as_array().is_some_and(|t| {
                    t.iter()
                        .all(|r| r.as_str().is_some_and(|r| r.starts_with("3 ")))
                });
                let out = sh(&format!(
                    "timeout 30 ldns-dane -r 127.0.0.1 -S -k {} -c {} {} verify {name} 25 2>&1",
                    dir.join("trust-anchor.dnskey").display(),
                    chain.display(),
                    if ee_only { "-n" } else { "" }
                ));
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                // Success is exit 0 with its line; a refusal is another exit status with
                // ldns-dane's own words; anything else is the oracle not running properly.
                let ldns = match out.status.code() {
                    Some(0) if text.contains("dane-validated successfully") => "verified",
                    Some(c)
                        if c != 0
                            && !matches!(c, 124 | 126 | 127)
                            && (text.contains("dane-validate")
                                || text.to_ascii_lowercase().contains("error")) =>
                    {
                        "failed"
                    }
                    other => {
                        failures.push(format!(
                            "{domain}: host {name}: ldns-dane did not run properly (status {other:?})\n{text}"
                        ));
                        continue;
                    }
                };
                let want = if ours == "verified" {
                    "verified"
                } else {
                    "failed"
                };
                ldns_checked += 1;
                if ldns != want && !listed(&format!("{domain} ldns-dane {name} ")) {
                    failures.push(format!(
                        "{domain}: host {name}: mxdane {ours}, ldns-dane {ldns}\n{text}"
                    ));
                }
                posttls.push(format!("ldns-dane={ldns}"));
            }
        }
        rows.push(format!(
            "{domain:10} lab {:9} validating {vv:9} recursive {vr:9} trusted-ad {va:9} posttls-finger {}",
            want.name(),
            posttls.join(" ")
        ));
    }
    // Issue 18: `mxdane send` through the same world, beside posttls-finger's verdict for the
    // domain: delivered (with "Verified TLS connection established") exactly where
    // posttls-finger verifies, and never sent where it does not. postfix.test's server is the
    // real Postfix smtpd, which takes mail for it.
    let mut sends = 0;
    for d in [
        "postfix.test",
        "postfix1.test",
        "ee.test",
        "strip.test",
        "subst.test",
        "mismatch.test",
        "bogus.test",
    ] {
        let finger = sh(&format!(
            "MAIL_CONFIG={} timeout 60 posttls-finger -o inet_protocols=ipv4 -c -l dane -t 10 -T 30 '{d}' 2>&1",
            postfix.display()
        ));
        let finger = String::from_utf8_lossy(&finger.stdout).to_string();
        let verified = finger.contains("Verified TLS connection established");
        let msg = dir.join("message.txt");
        std::fs::write(&msg, format!("Subject: interop {d}\n\nhello\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mxdane"))
            .args([
                "send",
                "--from",
                "sender@lab.test",
                "--to",
                &format!("postmaster@{d}"),
                "--resolver",
                "127.0.0.1",
                "--trust-anchor",
                &ta,
                "--timeout",
                "5",
                "--helo",
                "client.lab.test",
                "--message",
            ])
            .arg(&msg)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let sent = out.status.code() == Some(0)
            && text.contains("Verified TLS connection established")
            && text.contains("status=sent");
        let refused = out.status.code() == Some(75) && !text.contains("status=sent");
        sends += 1;
        if !(if verified { sent } else { refused }) {
            failures.push(format!(
                "{d}: posttls-finger {} but mxdane send exited {:?}\n{text}\n{finger}",
                if verified {
                    "verified"
                } else {
                    "did not verify"
                },
                out.status.code()
            ));
        }
        rows.push(format!(
            "{d:14} send: posttls-finger {} / mxdane send exit {:?}",
            if verified { "Verified" } else { "not verified" },
            out.status.code()
        ));
    }
    let postfix_log =
        std::fs::read_to_string(dir.join("postfix-server/maillog")).unwrap_or_default();
    if !postfix_log.contains("postmaster@postfix.test") {
        failures.push(format!(
            "the real Postfix smtpd did not log the message for postfix.test:\n{postfix_log}"
        ));
    }
    println!("\ninterop tier summary (Knot + Unbound in a network namespace):");
    for r in &rows {
        println!("  {r}");
    }
    println!(
        "  {} scenarios, {posttls_checked} posttls-finger runs, {ldns_checked} ldns-dane runs, {recursive_checked} mxdane --recursive runs, {sends} mxdane send runs",
        rows.len() - sends
    );
    assert_eq!(
        recursive_checked,
        rows.len() - sends,
        "every scenario ran --recursive"
    );
    println!(
        "oracle posttls-finger: {posttls_checked} comparisons ({posttls_expected} host runs); oracle ldns-dane: {ldns_checked} comparisons ({ldns_skipped} hosts without TLS)"
    );
    drop(daemons);
    drop(forwarders);
    drop(postfix_server);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every oracle run was compared (one that did not run properly fails above), and the
    // oracles ran on every scenario.
    assert!(
        posttls_checked >= posttls_expected && posttls_expected >= rows.len() - sends,
        "posttls-finger: {posttls_checked} comparisons, {posttls_expected} host runs, {} scenarios",
        rows.len()
    );
    assert!(
        ldns_checked >= 15,
        "ldns-dane compared only {ldns_checked} hosts"
    );
}

// P-03, P-08 with real software (issue 14's interop tier): inside a network namespace, Knot
// serves the lab's zones on their published addresses, a Knot primary and secondary serve the
// dynamic zone (TSIG updates, NOTIFY and transfer), Unbound validates for posttls-finger, and a
// real Postfix smtpd holds the ECDSA and RSA key and chain files. `mxdane`'s rollover engine
// adopts them, publishes current + next, switches the ECDSA key twice with `postfix reload`
// (the second time after the secondary lagged behind `knotc zone-freeze`, which holds the
// gate), and posttls-finger confirms `Verified` before the first switch and after each one.
#[test]
#[ignore = "needs root, ip (iproute2), knotd, knotc, keymgr (knot), unbound, postfix, posttls-finger"]
fn p08_rollover_with_knot_and_postfix_verified_by_posttls_finger() {
    if std::env::var_os(INNER).is_some() {
        rollover_inner();
        return;
    }
    in_namespace(
        "p08_rollover_with_knot_and_postfix_verified_by_posttls_finger",
        &[
            "ip",
            "knotd",
            "knotc",
            "keymgr",
            "unbound",
            "postfix",
            "posttls-finger",
            "pebble",
        ],
    );
}

fn rollover_inner() {
    use mxdane_lab::certs::{CertSpec, KeyAlg, Pki};
    use mxdane_rollover::store::LaneId;
    const SECRET: &str = "bXhkYW5lLWxhYi11cGRhdGUta2V5LTEyMzQ1Njc4OTA=";
    assert!(sh("ip link set lo up").status.success());
    assert!(sh("ip addr add 192.0.2.50/32 dev lo").status.success());
    let dir = PathBuf::from(format!(
        "/var/tmp/mxdane-rollover-interop-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let world = mxdane_lab::dns::World::builder()
        .zone("example.test.", |z| {
            z.ttl(300).servers(2).a("mx", "192.0.2.50")
        })
        .build();
    let zi = world
        .zones()
        .iter()
        .position(|z| z.apex.as_str() == "example.test.")
        .unwrap();
    // The static zones on their published addresses.
    let exported = world.export(&dir, 5300, 5301).unwrap();
    let mut daemons = Daemons(Vec::new());
    let mut listen = String::new();
    let mut zone_conf = String::new();
    for (apex, server, file) in &exported.zone_files {
        if *server != 0 || apex == "example.test." {
            continue;
        }
        let i = world
            .zones()
            .iter()
            .position(|z| z.apex.to_string() == *apex)
            .unwrap();
        listen.push_str(&format!("  listen: {}@53\n", ns_address(i, 0)));
        zone_conf.push_str(&format!(
            "  - domain: \"{apex}\"\n    file: \"{}\"\n",
            file.display()
        ));
    }
    let storage = dir.join("knot-static");
    std::fs::create_dir_all(&storage).unwrap();
    std::fs::write(
        dir.join("knot-static.conf"),
        format!(
            "server:\n{listen}  rundir: \"{s}\"\ndatabase:\n  storage: \"{s}\"\ntemplate:\n  - id: default\n    semantic-checks: off\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\nzone:\n{zone_conf}",
            s = storage.display()
        ),
    )
    .unwrap();
    let conf = dir.join("knot-static.conf").display().to_string();
    daemons
        .0
        .push(spawn(&dir, "knotd", &["-c", &conf], "knot-static.log"));
    let root_ns = ns_address(0, 0);
    wait_for("knotd", &dir.join("knot-static.log"), || {
        String::from_utf8_lossy(&sh(&format!("dig +short +norec @{root_ns} . SOA")).stdout)
            .contains("hostmaster")
    });
    // The dynamic zone: Knot primary and secondary.
    let dynamic = dir.join("knot-dynamic");
    std::fs::create_dir_all(&dynamic).unwrap();
    let (ns1, ns2) = (ns_address(zi, 0), ns_address(zi, 1));
    let knot = mxdane_lab::dns::interop::KnotPair::start(
        &world,
        "example.test.",
        &dynamic,
        ((ns1, 53).into(), (ns2, 53).into()),
        ("rollover.example.test.", SECRET),
        "mx A 192.0.2.50\n",
    )
    .unwrap();
    // Unbound for posttls-finger, caching nothing (the engine's clock is injected; real
    // caches would still hold what the gate waited out).
    start_unbound(
        &dir,
        &exported.trust_anchor,
        root_ns,
        "    cache-max-ttl: 0\n    cache-max-negative-ttl: 0\n    qname-minimisation: no\n    local-zone: \"test.\" nodefault\n",
        &mut daemons,
    );
    wait_for("unbound", &dir.join("unbound.log"), || {
        String::from_utf8_lossy(&sh("dig +short @127.0.0.1 mx.example.test A").stdout)
            .contains("192.0.2.50")
    });
    // Postfix with the key and chain files the engine rolls.
    let pf = dir.join("postfix-server");
    std::fs::create_dir_all(&pf).unwrap();
    let ecdsa_pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let rsa_pki = Pki::new(KeyAlg::Rsa2048, "mx.example.test");
    for (alg, pki) in [("ecdsa", &ecdsa_pki), ("rsa", &rsa_pki)] {
        std::fs::write(pf.join(format!("{alg}.key")), pki.leaf.key_pem()).unwrap();
        std::fs::write(
            pf.join(format!("{alg}.pem")),
            pki.leaf.pem() + &pki.intermediate.pem(),
        )
        .unwrap();
    }
    let p = pf.display();
    assert!(
        sh(&format!("chmod 600 {p}/ecdsa.key {p}/rsa.key"))
            .status
            .success()
    );
    let postfix_server = PostfixServer::start_with(
        &pf,
        "192.0.2.50".parse().unwrap(),
        &format!("{p}/ecdsa.key, {p}/ecdsa.pem, {p}/rsa.key, {p}/rsa.pem"),
    );
    // posttls-finger's own main.cf (DNSSEC lookups).
    let finger_conf = dir.join("postfix");
    std::fs::create_dir_all(&finger_conf).unwrap();
    std::fs::write(
        finger_conf.join("main.cf"),
        "compatibility_level = 3.6\nsmtp_dns_support_level = dnssec\nsmtp_host_lookup = dns\nsmtp_tls_loglevel = 1\n",
    )
    .unwrap();
    let mut fingers = 0;
    let mut verified = |when: &str| {
        let out = sh(&format!(
            "MAIL_CONFIG={} timeout 60 posttls-finger -o inet_protocols=ipv4 -l dane -t 10 -T 30 '[mx.example.test]' 2>&1",
            finger_conf.display()
        ));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && text.contains("Verified TLS connection established"),
            "posttls-finger {when}: {text}"
        );
        fingers += 1;
    };
    // The engine, as `mxdane rollover` builds it, pointed at this namespace's DNS.
    std::fs::write(
        dir.join("update.key"),
        format!(
            "key \"rollover.example.test.\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};\n"
        ),
    )
    .unwrap();
    let config = mxdane_rollover::config::Config::parse(
        &format!(
            "state = \"{d}/state.db\"\nkeys = \"{d}/keys\"\n[[service]]\nname = \"mail\"\nbases = [\"mx.example.test\"]\nreload = [\"postfix\", \"-c\", \"{p}\", \"reload\"]\nttl = 300\n[[service.algorithm]]\nkind = \"ecdsa\"\nkey = \"{p}/ecdsa.key\"\nchain = \"{p}/ecdsa.pem\"\n[[service.algorithm]]\nkind = \"rsa\"\nkey = \"{p}/rsa.key\"\nchain = \"{p}/rsa.pem\"\n[service.dns]\nmethod = \"rfc2136\"\nzone = \"example.test\"\nserver = \"{ns1}:53\"\ntsig-key = \"{d}/update.key\"\n",
            d = dir.display()
        ),
        "interop.toml",
    )
    .unwrap();
    let anchors =
        mxdane_dns::parse_trust_anchors(&std::fs::read_to_string(&exported.trust_anchor).unwrap())
            .unwrap();
    let env = mxdane::check::Environment {
        resolver: std::sync::Arc::new(
            mxdane_dns::UnboundResolver::forwarding(
                "127.0.0.1:53".parse().unwrap(),
                &anchors,
                Duration::from_secs(5),
            )
            .unwrap(),
        ),
        connector: mxdane_smtp::Connector::direct(),
        nameserver: std::sync::Arc::new(|addr| -> std::sync::Arc<dyn mxdane_dns::Transport> {
            std::sync::Arc::new(mxdane_dns::NetTransport::new(addr, Duration::from_secs(3)))
        }),
    };
    let world_io = mxdane::rollover::RealWorld::new(
        config.clone(),
        env,
        std::collections::HashMap::new(),
        Duration::from_secs(10),
    )
    .unwrap();
    let mut e = mxdane_rollover::engine::Engine::new(
        mxdane_rollover::store::Sqlite::open(&config.state).unwrap(),
        world_io,
        mxdane::rollover::lanes(&config).unwrap(),
    );
    let ecdsa = LaneId {
        service: "mail".into(),
        algorithm: "ecdsa".into(),
    };
    let rsa = LaneId {
        service: "mail".into(),
        algorithm: "rsa".into(),
    };
    let t0 = 2_000_000_000;
    for l in [&ecdsa, &rsa] {
        assert!(mxdane::rollover::adopt_running(&mut e, &config, l, t0).unwrap());
    }
    let mut now = t0;
    for switch in 1..=2 {
        if switch == 2 {
            // The secondary lags (`knotc zone-freeze`): the new next key's record reaches the
            // primary only, and a certificate for that key waits however long it takes.
            knot.knotc("secondary", &["zone-freeze", "example.test."])
                .unwrap();
            for _ in 0..5 {
                e.step(now).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                now += 1;
            }
            let l = e.lanes().unwrap()[&ecdsa].clone();
            let next = l.next.clone().unwrap();
            let rdata = mxdane_rollover::lane::ee(&next.spki_sha256);
            assert!(
                l.records[&rdata].visible_since.is_none(),
                "the frozen secondary must not serve {rdata}"
            );
            let leaf = CertSpec::leaf(&["mx.example.test"])
                .issue_for_key(
                    &std::fs::read_to_string(&next.file).unwrap(),
                    &ecdsa_pki.intermediate,
                )
                .unwrap();
            let early = mxdane::rollover::cert_from_pem(
                (leaf + &ecdsa_pki.intermediate.pem()).as_bytes(),
                "early",
            )
            .unwrap();
            e.submit(&ecdsa, early, now).unwrap();
            now += 20_000;
            let r = e.step(now).unwrap();
            assert!(
                r.done[&ecdsa].iter().all(|d| !d.starts_with("deployed")),
                "the gate must hold while the secondary lags: {:?}",
                r.done
            );
            knot.knotc("secondary", &["zone-thaw", "example.test."])
                .unwrap();
            knot.knotc("secondary", &["zone-refresh", "example.test."])
                .unwrap();
        }
        // Until every record is on both Knot servers (real transfers).
        let mut seen = None;
        for _ in 0..100 {
            let r = e.step(now).unwrap();
            assert!(r.errors.values().all(Vec::is_empty), "{:?}", r.errors);
            let l = &e.lanes().unwrap()[&ecdsa];
            if l.records
                .values()
                .all(|r| r.visible_since.is_some() && !r.withdrawn)
                && !l.records.is_empty()
            {
                seen = Some(now);
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            now += 1;
        }
        let seen = seen.expect("the records reached both Knot servers");
        if switch == 1 {
            verified("with current + next published, before the switch");
        }
        let next = e.lanes().unwrap()[&ecdsa].next.clone().unwrap();
        let leaf = CertSpec::leaf(&["mx.example.test"])
            .issue_for_key(
                &std::fs::read_to_string(&next.file).unwrap(),
                &ecdsa_pki.intermediate,
            )
            .unwrap();
        let cert = mxdane::rollover::cert_from_pem(
            (leaf + &ecdsa_pki.intermediate.pem()).as_bytes(),
            "issued",
        )
        .unwrap();
        e.submit(&ecdsa, cert.clone(), seen).unwrap();
        now = seen + 600;
        let r = e.step(now).unwrap();
        assert!(
            r.done[&ecdsa].iter().any(|d| d.starts_with("deployed")),
            "switch {switch}: {:?} {:?}\n{}",
            r.done,
            r.errors,
            std::fs::read_to_string(pf.join("maillog")).unwrap_or_default()
        );
        assert_eq!(e.lanes().unwrap()[&ecdsa].current.as_ref().unwrap().1, cert);
        verified(&format!("after switch {switch}"));
        now += 10;
    }
    // Switch 3, end to end with issuance (issue 15): `rollover run`'s ACME side orders the
    // certificate for the staged key from Pebble, a real ACME server; the dns-01 record goes
    // to the Knot primary by RFC 2136, reaches the secondary by a real transfer, and Pebble
    // looks it up through Unbound; then the switch, and posttls-finger verifies.
    let pebble = common::pebble::Pebble::start(
        &dir,
        "127.0.0.1:53".parse().unwrap(),
        common::pebble::free_tcp_port(),
    );
    let mut with_acme = config.clone();
    with_acme.acme = Some(pebble.acme(mxdane_rollover::config::Challenge::Dns01));
    let mut staged = false;
    for _ in 0..100 {
        e.step(now).unwrap();
        let l = &e.lanes().unwrap()[&ecdsa];
        if let Some(n) = &l.next
            && l.records[&mxdane_rollover::lane::ee(&n.spki_sha256)]
                .visible_since
                .is_some()
        {
            staged = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        now += 1;
    }
    assert!(staged, "a new next key is staged and published");
    let out = mxdane::issuance::run(&mut e, &with_acme, now + 1, &pebble.client());
    assert!(
        out.iter()
            .all(|(_, o)| matches!(o, mxdane::issuance::Outcome::Obtained(_))),
        "{out:?}\n{}",
        pebble.log()
    );
    now += 700;
    let r = e.step(now).unwrap();
    assert!(
        r.done[&ecdsa].iter().any(|d| d.starts_with("deployed")),
        "switch 3: {:?} {:?}",
        r.done,
        r.errors
    );
    let live = e.lanes().unwrap()[&ecdsa].current.clone().unwrap().1;
    assert!(
        live.pem.contains("BEGIN CERTIFICATE") && !live.pem.contains(&ecdsa_pki.intermediate.pem()),
        "the live chain is Pebble's"
    );
    verified("after switch 3 (a certificate from Pebble through dns-01)");
    drop(pebble);
    println!("\noracle posttls-finger (rollover): {fingers} comparisons of 4 cases");
    assert_eq!(fingers, 4);
    drop(postfix_server);
    drop(knot);
    drop(daemons);
    let _ = std::fs::remove_dir_all(&dir);
}
