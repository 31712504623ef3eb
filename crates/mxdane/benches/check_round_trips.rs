//! Issue 12's cost targets: `mxdane check` in round trips and CPU, with the lab's latency knob
//! at 50 ms per round trip (every DNS and mail server answers 50 ms late; a TCP connection to a
//! mail server costs 50 ms too).
//!
//! The lab runs in a child process (this binary with `--serve-lab`), so the CPU time read from
//! /proc/self/stat is the checker's alone: libunbound, the resolver threads, TLS and SMTP.
//! For each domain it prints the wall time of `check` in round trips with a cold validator
//! cache (a new libunbound context per run) and a warm one (the same context again, as in the
//! monitor and the survey), and the CPU per domain (warm). Targets: warm at most 9 round
//! trips, cold at most 18, CPU per one-host domain at most 20 ms in a release build.
//!
//! `cargo bench -p mxdane --bench check_round_trips` (the bench profile is a release build).
//! Nothing is asserted: the figures are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mxdane::check::{self, Environment, Options};
use mxdane_dns::{NetTransport, Transport, UnboundResolver, Upstream, parse_trust_anchors};
use mxdane_smtp::Connector;

const RTT: Duration = Duration::from_millis(50);

/// Serves the demo world with the latency knob until standard input closes.
fn serve_lab() {
    let demo = mxdane::demo::start_with(RTT).unwrap();
    let anchor = std::env::temp_dir().join(format!("mxdane-bench-ta-{}", std::process::id()));
    std::fs::write(&anchor, demo.world.trust_anchor_text()).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "resolver {}", demo.resolver).unwrap();
    writeln!(out, "anchor {}", anchor.display()).unwrap();
    for (from, to) in &demo.smtp_routes {
        writeln!(out, "smtp {from} {to}").unwrap();
    }
    for (from, to) in &demo.routes {
        if !demo.smtp_routes.iter().any(|(f, _)| f == from) {
            writeln!(out, "ns {from} {to}").unwrap();
        }
    }
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    drop(out);
    // Until the parent closes our standard input (bounded by the parent's runs).
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let _ = std::fs::remove_file(anchor);
}

struct Lab {
    resolver: SocketAddr,
    anchor_file: String,
    anchors: Vec<mxdane_dns::TrustAnchor>,
    smtp: Vec<(SocketAddr, SocketAddr)>,
    ns: HashMap<SocketAddr, SocketAddr>,
}

fn env(lab: &Lab, ctx: Arc<mxdane_unbound::Context>) -> Environment {
    let mut connector = Connector::direct();
    for (from, to) in &lab.smtp {
        connector = connector.route(*from, *to);
    }
    let ns = lab.ns.clone();
    Environment {
        resolver: Arc::new(UnboundResolver::new(ctx, Duration::from_secs(5), "lab")),
        connector,
        nameserver: Arc::new(move |addr: SocketAddr| -> Arc<dyn Transport> {
            let to = ns.get(&addr).copied().unwrap_or(addr);
            Arc::new(NetTransport::new(to, Duration::from_secs(2)))
        }),
    }
}

/// CPU seconds from /proc/self/stat (ticks of 1/100 s): this process's own (`utime`,
/// `stime`), or its waited-for children's (`cutime`, `cstime`).
fn cpu(children: bool) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let at = if children { 13 } else { 11 };
    let ticks: u64 = f.get(at).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(at + 1).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn cpu_seconds() -> f64 {
    cpu(false)
}

/// As users run it: one `mxdane check` process per domain (a cold cache every time).
fn cli(lab: &Lab, domain: &str) -> (f64, f64, String) {
    let mut args = vec![
        "--json".to_owned(),
        "check".to_owned(),
        domain.to_owned(),
        "--resolver".to_owned(),
        lab.resolver.to_string(),
        "--trust-anchor".to_owned(),
        lab.anchor_file.clone(),
    ];
    let routes = lab.smtp.iter().map(|(a, b)| (a, b)).chain(lab.ns.iter());
    for (from, to) in routes {
        args.push("--route".to_owned());
        args.push(format!("{from}={to}"));
    }
    let before = cpu(true);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mxdane"))
        .args(&args)
        .output()
        .unwrap();
    let rtt = started.elapsed().as_secs_f64() / RTT.as_secs_f64();
    let verdict = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v["verdict"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    (rtt, (cpu(true) - before) * 1000.0, verdict)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--serve-lab") {
        serve_lab();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--serve-lab")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lab = Lab {
        resolver: "127.0.0.1:53".parse().unwrap(),
        anchor_file: String::new(),
        anchors: Vec::new(),
        smtp: Vec::new(),
        ns: HashMap::new(),
    };
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["resolver", a] => lab.resolver = a.parse().unwrap(),
            ["anchor", p] => {
                lab.anchors = parse_trust_anchors(&std::fs::read_to_string(p).unwrap()).unwrap();
                lab.anchor_file = (*p).to_owned();
            }
            ["smtp", a, b] => lab.smtp.push((a.parse().unwrap(), b.parse().unwrap())),
            ["ns", a, b] => {
                lab.ns.insert(a.parse().unwrap(), b.parse().unwrap());
            }
            ["ready"] => break,
            _ => {}
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let context = || {
        Arc::new(
            UnboundResolver::context(&Upstream::Forward(lab.resolver), &lab.anchors, None).unwrap(),
        )
    };
    let run = |ctx: Arc<mxdane_unbound::Context>, domain: &str| {
        let started = Instant::now();
        let report = runtime.block_on(check::check(
            env(&lab, ctx),
            mxdane_dns::Name::parse(domain),
            Options::default(),
        ));
        let probes: usize = report.hosts.iter().map(|h| h.probes.len()).sum();
        (
            started.elapsed().as_secs_f64() / RTT.as_secs_f64(),
            probes,
            report.verdict,
        )
    };
    println!(
        "mxdane check, {} ms per round trip (lab in a child process)",
        RTT.as_millis()
    );
    println!(
        "{:<12} {:>6} {:>8} {:>12} {:>12} {:>16}",
        "domain", "probes", "verdict", "cold (RTT)", "warm (RTT)", "CPU/domain warm"
    );
    for (domain, what) in [
        ("ee.test.", "one host, dual-stack, 3 handshakes per address"),
        ("bench.test.", "2 MX x 2 addresses x 3 handshakes"),
    ] {
        let cold = median((0..3).map(|_| run(context(), domain).0).collect());
        let ctx = context();
        let (_, probes, verdict) = run(ctx.clone(), domain);
        let warm = median((0..5).map(|_| run(ctx.clone(), domain).0).collect());
        let n = 10;
        let before = cpu_seconds();
        for _ in 0..n {
            run(ctx.clone(), domain);
        }
        let cpu_ms = (cpu_seconds() - before) * 1000.0 / f64::from(n);
        println!(
            "{domain:<12} {probes:>6} {:>8} {cold:>12.1} {warm:>12.1} {cpu_ms:>13.1} ms   ({what})",
            verdict.name()
        );
    }
    println!("targets: warm <= 9 round trips, cold <= 18, CPU per one-host domain <= 20 ms");
    println!(
        "\nas users run it: one mxdane process per domain (cold cache, process start included)"
    );
    println!(
        "{:<12} {:>8} {:>12} {:>14}",
        "domain", "verdict", "wall (RTT)", "CPU/process"
    );
    for domain in ["ee.test.", "bench.test."] {
        let runs: Vec<(f64, f64, String)> = (0..3).map(|_| cli(&lab, domain)).collect();
        let verdict = runs[0].2.clone();
        let wall = median(runs.iter().map(|r| r.0).collect());
        let cpu_ms = median(runs.iter().map(|r| r.1).collect());
        println!("{domain:<12} {verdict:>8} {wall:>12.1} {cpu_ms:>11.0} ms");
    }
    drop(child.stdin.take());
    let _ = child.wait();
}
