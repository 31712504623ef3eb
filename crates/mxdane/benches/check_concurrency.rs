//! Issue 7's concurrency target: with the lab's latency knob at 50 ms, a domain with 2 MX hosts
//! x 2 addresses x 3 handshakes should take about as long as its slowest probe, not the sum.
//! `cargo bench -p mxdane --bench check_concurrency` prints the ratios; nothing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mxdane::check::{self, Options};
use mxdane_dns::Name;

fn main() {
    let lab = mxdane::demo::start_with(Duration::from_millis(50)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let name = Name::parse("bench.test.");
    let run = |concurrency: usize| {
        let options = Options {
            concurrency,
            ..Options::default()
        };
        let started = Instant::now();
        let report = runtime.block_on(check::check(lab.env.clone(), name.clone(), options));
        let probes: usize = report.hosts.iter().map(|h| h.probes.len()).sum();
        (started.elapsed(), probes, report.verdict)
    };
    let (parallel, probes, verdict) = run(16);
    let (serial, _, _) = run(1);
    // The slowest probe of the concurrent run, and the mean probe of the sequential one.
    let slowest = {
        let options = Options {
            concurrency: 16,
            ..Options::default()
        };
        let report = runtime.block_on(check::check(lab.env.clone(), name.clone(), options));
        report
            .hosts
            .iter()
            .flat_map(|h| h.probes.iter().map(|p| p.duration))
            .max()
            .unwrap_or_default()
    };
    let single = serial / u32::try_from(probes.max(1)).unwrap();
    println!(
        "bench.test: {probes} probes (2 hosts x 2 addresses x 3 handshakes), 50 ms per server read/write, verdict {}",
        verdict.name()
    );
    println!(
        "  concurrent (16): {parallel:?}   sequential (1): {serial:?}   mean probe: {single:?}   slowest probe: {slowest:?}"
    );
    println!(
        "  concurrent / sequential = {:.2}   concurrent / slowest probe = {:.2}",
        parallel.as_secs_f64() / serial.as_secs_f64(),
        parallel.as_secs_f64() / slowest.as_secs_f64()
    );
}
