//! Issue 17, hermetic: hostile mail servers cost a survey bounded time and memory. Four MX
//! hosts of a generated world are replaced by servers that send the banner one octet a
//! second, an EHLO reply that never ends, a reply line of a mebioctet, and a STARTTLS that is
//! accepted and then never answered. With one-second steps and a three-second session, the
//! survey finishes in seconds, its memory barely moves, and every domain on those hosts is
//! reported as DANE broken. (A binary of its own, so that the memory it measures is its own.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mxdane::check::{Environment, Options};
use mxdane::demo::{Kind, generated_name};
use mxdane::survey::{Domains, Survey, SurveyOptions};
use mxdane_lab::certs::{KeyAlg, Pki};
use mxdane_lab::smtp::{Behaviour, SmtpServer, SmtpSpec};
use mxdane_lab::tls::Credential;
use mxdane_smtp::{Connector, Settings};

fn hwm_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap()
        / 1024.0
}

#[test]
fn v06_hostile_servers_cost_each_probe_bounded_time_and_memory() {
    let lab = mxdane::demo::generated(200, Duration::ZERO).unwrap();
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.hosts.test");
    let hostile: Vec<SmtpServer> = [
        Behaviour::DripBanner,
        Behaviour::EndlessReply,
        Behaviour::HugeLine,
        Behaviour::StallHandshake,
    ]
    .into_iter()
    .map(|behaviour| {
        SmtpServer::start(SmtpSpec {
            default: vec![Credential::new(&[&pki.leaf, &pki.intermediate])],
            behaviour,
            ..SmtpSpec::default()
        })
        .unwrap()
    })
    .collect();
    // mx0 to mx3 of hosts.test (198.18.0.1 to .4) are the hostile servers now.
    let mut connector = Connector::direct();
    for (from, to) in &lab.smtp_routes {
        connector = connector.route(*from, *to);
    }
    for (j, s) in hostile.iter().enumerate() {
        let public: SocketAddr = format!("198.18.0.{}:25", j + 1).parse().unwrap();
        connector = connector.route(public, s.addr());
    }
    let env = Environment {
        connector,
        ..lab.env.clone()
    };
    let options = SurveyOptions {
        concurrency: 16,
        probe: Options {
            settings: Settings {
                step: Duration::from_secs(1),
                total: Duration::from_secs(3),
                ..Settings::default()
            },
            ..Options::default()
        },
        ..SurveyOptions::default()
    };
    // Verified-kind domains on each of the four hosts (domain i uses host (i / 10) % 4).
    let domains: Vec<String> = (0..200)
        .filter(|i| Kind::of(*i) == Kind::Verified)
        .map(generated_name)
        .collect();
    let input: String = domains.iter().map(|d| format!("{d}\n")).collect();
    let survey = Survey::new(env, options);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before = hwm_mb();
    let started = Instant::now();
    let mut out = Vec::new();
    let summary = rt
        .block_on(mxdane::survey::run(
            &survey,
            Domains::new(input.as_bytes()),
            0,
            &mut out,
            |_| {},
        ))
        .unwrap();
    let took = started.elapsed();
    let grew = hwm_mb() - before;
    println!(
        "hostile: {} domains in {took:?}, peak memory +{grew:.1} MB; {}",
        summary.domains,
        summary.text()
    );
    assert_eq!(summary.domains, domains.len() as u64);
    assert_eq!(
        summary.outcomes["dane-broken"],
        domains.len() as u64,
        "{}",
        summary.text()
    );
    assert_eq!(summary.probes, 4, "one probe per hostile host");
    // Each probe ends within its three-second session; the four run at once. Generous margin.
    assert!(took < Duration::from_secs(20), "{took:?}");
    // The mebioctet line and the endless reply are read only up to the reply limits.
    assert!(grew < 64.0, "memory grew by {grew:.1} MB");
    let causes: std::collections::BTreeSet<String> = summary.broken.keys().cloned().collect();
    assert!(!causes.is_empty());
}
