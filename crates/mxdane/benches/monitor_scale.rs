//! Issue 16's scale target: the monitor with 10,000 lab targets at a 5-minute interval on a
//! 2-core machine. Prints the CPU share the monitor needs (its CPU time over one interval's
//! checks, divided by the interval), its resident memory, and how much the history grows per
//! day. Nothing is asserted; README shows the figures.
//!
//! `cargo bench -p mxdane --bench monitor_scale` (MXDANE_BENCH_TARGETS, default 10000;
//! MXDANE_BENCH_LATENCY_MS, the lab's latency knob, default 20).
//!
//! The lab's DNS and mail servers run in this process too. The monitor's CPU time is that of
//! its own threads (the runtime's workers, named `monitor-*`, and libunbound's, which inherit
//! the name of the thread that starts them); the servers' is the rest. Its memory is the
//! process's peak less what the process held before the monitor started (the lab world).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mxdane::monitor::Monitor;
use mxdane_monitor::config::Config;

/// CPU seconds of this process's threads: (named `monitor*` or `libunbound*`, all).
fn cpu() -> (f64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let fields = |stat: &str| -> f64 {
        // After the command name in parentheses: state is field 3; utime 14, stime 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        (ut + st) / tick
    };
    let mut mine = 0.0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.starts_with("monitor") || comm.starts_with("libunbound") {
            mine += fields(&std::fs::read_to_string(t.path().join("stat")).unwrap_or_default());
        }
    }
    let all = fields(&std::fs::read_to_string("/proc/self/stat").unwrap());
    (mine, all)
}

/// VmRSS and VmHWM (peak), in MB.
fn memory() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = |key: &str| -> f64 {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

fn size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn main() {
    let n: usize = std::env::var("MXDANE_BENCH_TARGETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let latency: u64 = std::env::var("MXDANE_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let built = Instant::now();
    let lab = mxdane::demo::generated(n, Duration::from_millis(latency)).unwrap();
    println!(
        "monitor_scale: {n} targets ({} MX hosts of each kind), {latency} ms per lab round trip; lab built in {:.1} s",
        mxdane::demo::generated_hosts(n),
        built.elapsed().as_secs_f64()
    );
    let dir = std::env::temp_dir().join(format!("mxdane-monitor-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = format!(
        "history = \"{}/monitor.db\"\ninterval = 300\nconcurrency = 64\nper-address = 8\n",
        dir.display()
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[target]]\ndomain = \"{}\"\n",
            mxdane::demo::generated_name(i)
        ));
    }
    let config = Config::parse(&text, "bench.toml").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("monitor-worker")
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .unwrap();
    let (_, lab_peak) = memory();
    let render: Box<mxdane::monitor::Render> =
        Box::new(|r| serde_json::to_string(&mxdane::view::check(r, "lab")).unwrap_or_default());
    let mut m = runtime
        .block_on(Monitor::open(config, lab.env.clone(), render, "bench"))
        .unwrap();
    let checks = |m: &Monitor| m.snapshot().read().unwrap().checks;

    // The first round: every target at once.
    let t0: i64 = 2_000_000_000;
    let (c0, w0) = (cpu(), Instant::now());
    runtime.block_on(m.round(t0));
    let (c1, w1) = (cpu(), w0.elapsed());
    let first = checks(&m);
    let size1 = size(&dir);
    println!(
        "  first round: {first} checks in {:.1} s wall, monitor CPU {:.1} s, lab servers' CPU {:.1} s",
        w1.as_secs_f64(),
        c1.0 - c0.0,
        (c1.1 - c1.0) - (c0.1 - c0.0)
    );

    // One interval in steady state: every target falls due once (the jitter spreads them
    // over 270 to 330 s); rounds every 5 s of injected time.
    let w2 = Instant::now();
    let mut t = t0 + 265;
    while t <= t0 + 335 {
        runtime.block_on(m.round(t));
        t += 5;
    }
    let (c2, wall) = (cpu(), w2.elapsed());
    let steady = checks(&m) - first;
    let size2 = size(&dir);
    let (rss, peak) = memory();
    let mine = c2.0 - c1.0;
    let servers = (c2.1 - c2.0) - (c1.1 - c1.0);
    println!(
        "  one interval: {steady} checks in {:.1} s wall; monitor CPU {mine:.1} s = {:.1} % of one core over 300 s ({:.2} ms per check); lab servers' CPU {servers:.1} s",
        wall.as_secs_f64(),
        mine / 300.0 * 100.0,
        mine * 1000.0 / steady.max(1) as f64
    );
    println!(
        "  memory: process peak {peak:.0} MB (now {rss:.0} MB); before the monitor started {lab_peak:.0} MB; the monitor's share about {:.0} MB",
        peak - lab_peak
    );
    let per_interval = size2.saturating_sub(size1) as f64;
    println!(
        "  history: {:.1} MB after the first round; +{:.1} MB per interval = {:.0} MB per day ({:.0} bytes per check)",
        size1 as f64 / 1e6,
        per_interval / 1e6,
        per_interval * 288.0 / 1e6,
        per_interval / steady.max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
