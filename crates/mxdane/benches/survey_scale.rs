//! Issue 17's scale targets, on generated lab worlds (`mxdane::demo::generated`):
//! 1. `--dns-only` memory: the survey's resident memory over 10,000 and 100,000 domains (and
//!    1,000,000 with MXDANE_BENCH_SURVEY_SIZES=10000,100000,1000000), which should stay flat;
//! 2. the full survey's rate at 50 ms per lab round trip over 10,000 domains (SMTP probes
//!    shared per host), beside the same domains planned and probed one at a time, as a
//!    one-process-per-domain tool does.
//!
//! Nothing is asserted; README shows the figures.
//!
//! `cargo bench -p mxdane --bench survey_scale`
//!
//! For memory the survey runs as users run it, `mxdane survey` in a process of its own (its
//! peak resident set read from /proc), against `mxdane lab serve --generated N` in another;
//! the rate with SMTP is measured in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mxdane::survey::{Domains, Survey, SurveyOptions};

fn input(n: usize) -> String {
    (0..n)
        .map(|i| mxdane::demo::generated_name(i) + "\n")
        .collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sizes: Vec<usize> = std::env::var("MXDANE_BENCH_SURVEY_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "survey_scale: mxdane survey --dns-only as users run it (its own process; the lab world in another, `mxdane lab serve --generated N`), zero lab latency, concurrency 256"
    );
    let exe = env!("CARGO_BIN_EXE_mxdane");
    let dir = std::env::temp_dir().join(format!("mxdane-survey-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for n in sizes {
        let flags_file = dir.join(format!("flags-{n}"));
        let built = Instant::now();
        let mut lab = std::process::Command::new(exe)
            .args([
                "lab",
                "serve",
                "--seconds",
                "7200",
                "--generated",
                &n.to_string(),
                "--flags-file",
            ])
            .arg(&flags_file)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The world is up once the flags are written (bounded: a huge world takes minutes).
        let mut waited = 0;
        while !flags_file.exists() && waited < 3600 * 10 {
            std::thread::sleep(Duration::from_millis(100));
            waited += 1;
        }
        let flags: Vec<String> = std::fs::read_to_string(&flags_file)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let world_secs = built.elapsed().as_secs_f64();
        let input_file = dir.join(format!("domains-{n}"));
        std::fs::write(&input_file, input(n)).unwrap();
        let summary = dir.join(format!("summary-{n}.json"));
        let started = Instant::now();
        let mut survey = std::process::Command::new(exe)
            .args([
                "survey",
                "--dns-only",
                "--concurrency",
                "256",
                "-o",
                "/dev/null",
                "--summary",
            ])
            .arg(&summary)
            .arg(&input_file)
            .args(&flags)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let status = format!("/proc/{}/status", survey.id());
        let mut peak = 0.0f64;
        let mut samples = Vec::new();
        loop {
            if let Ok(Some(_)) = survey.try_wait() {
                break;
            }
            if let Ok(s) = std::fs::read_to_string(&status) {
                let kb = |key: &str| -> f64 {
                    s.lines()
                        .find_map(|l| l.strip_prefix(key))
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0)
                };
                peak = peak.max(kb("VmHWM:") / 1024.0);
                samples.push(kb("VmRSS:") / 1024.0);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let secs = started.elapsed().as_secs_f64();
        let _ = lab.kill();
        let _ = lab.wait();
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap_or_default())
                .unwrap_or_default();
        let domains = s["domains"].as_u64().unwrap_or(0);
        // Resident memory a tenth of the way in and at the end: flat means they are close.
        let early = samples.get(samples.len() / 10).copied().unwrap_or(0.0);
        let late = samples.last().copied().unwrap_or(0.0);
        println!(
            "  {n:>9} domains: {domains} surveyed at {:.0} domains/s; survey process peak {peak:.0} MB (resident {early:.0} MB a tenth of the way in, {late:.0} MB at the end); lab world built in {world_secs:.0} s; {}",
            domains as f64 / secs,
            s["outcomes"]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    let n: usize = std::env::var("MXDANE_BENCH_SURVEY_SMTP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let latency = Duration::from_millis(50);
    let lab = mxdane::demo::generated(n, latency).unwrap();
    let survey = Survey::new(
        lab.env.clone(),
        SurveyOptions {
            concurrency: 512,
            ..SurveyOptions::default()
        },
    );
    let started = Instant::now();
    let s = runtime
        .block_on(mxdane::survey::run(
            &survey,
            Domains::new(input(n).as_bytes()),
            0,
            &mut std::io::sink(),
            |_| {},
        ))
        .unwrap();
    let rate = s.domains as f64 / started.elapsed().as_secs_f64();
    // The same work one domain at a time, each with a fresh survey (no shared probes), on a
    // sample: what a loop of one-shot probes costs per domain.
    let sample = 20;
    let one = Instant::now();
    for i in 0..sample {
        let single = Survey::new(lab.env.clone(), SurveyOptions::default());
        runtime.block_on(single.domain(&mxdane::demo::generated_name(i * 7)));
    }
    let single_rate = sample as f64 / one.elapsed().as_secs_f64();
    println!(
        "survey_scale: {n} domains with SMTP at 50 ms per round trip: {rate:.0} domains/s ({} SMTP probes for {} domains); one domain at a time, a fresh survey each (sample of {sample}): {single_rate:.2} domains/s; ratio {:.0}",
        s.probes,
        s.domains,
        rate / single_rate
    );
}
