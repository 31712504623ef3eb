//! Issue 17's scale targets, on generated lab worlds (`mxdane::demo::generated`):
//! 1. `--dns-only` memory: the survey's resident memory over 10,000 and 100,000 domains (and
//!    1,000,000 with MXDANE_BENCH_SURVEY_SIZES=10000,100000,1000000), which should stay flat;
//! 2. the full survey's rate at 50 ms per lab round trip over 10,000 domains (SMTP probes
//!    shared per host), beside Postfix's posttls-finger run once per domain on a sample, in
//!    the same run against the same world, as people script it.
//!
//! Nothing is asserted; README shows the figures.
//!
//! `cargo bench -p mxdane --bench survey_scale` (as root for the posttls-finger loop: it needs
//! a network namespace, `ip`, `unbound` and `posttls-finger`; otherwise the survey is compared
//! with itself surveying one domain at a time, fresh each time, and says so).
//!
//! For memory the survey runs as users run it, `mxdane survey` in a process of its own (its
//! peak resident set read from /proc), against `mxdane lab serve --generated N` in another.
//! For the rate the benchmark re-runs itself inside a namespace where the world's MX
//! addresses (198.18.0.0/16) are local and forwarded to the lab's mail server, and a real
//! Unbound on 127.0.0.1:53 validates (with the lab's trust anchor) by forwarding to the lab's
//! resolver, so posttls-finger finds the world through /etc/resolv.conf; every lab server
//! answers 50 ms late, for both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mxdane::survey::{Domains, Survey, SurveyOptions};

fn input(n: usize) -> String {
    (0..n)
        .map(|i| mxdane::demo::generated_name(i) + "\n")
        .collect()
}

fn main() {
    if std::env::var_os(INNER).is_some() {
        smtp_rate();
        return;
    }
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

    smtp_rate();
}

const INNER: &str = "MXDANE_BENCH_SURVEY_INNER";
const POSTTLS: [&str; 3] = ["ip", "unbound", "posttls-finger"];

/// Measures the rate with SMTP: inside a namespace with posttls-finger when possible.
fn smtp_rate() {
    if std::env::var_os(INNER).is_some() {
        smtp_rate_in(true);
        return;
    }
    let missing = mxdane_lab::netns::missing(&POSTTLS);
    if !mxdane_lab::netns::is_root() || !missing.is_empty() {
        println!(
            "survey_scale: no posttls-finger loop (it needs root and {POSTTLS:?}; missing: {missing:?}); the baseline is the survey itself, one domain at a time"
        );
        smtp_rate_in(false);
        return;
    }
    let ns = mxdane_lab::netns::Namespace::create("survey").unwrap();
    let status = ns
        .command(std::env::current_exe().unwrap())
        .env(INNER, "1")
        .status()
        .unwrap();
    assert!(status.success(), "the run inside the namespace failed");
}

/// Kills the child on drop.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(cmd: &str) -> std::process::Output {
    mxdane_lab::netns::sh(cmd).unwrap()
}

/// Unbound on 127.0.0.1:53, validating with the lab's trust anchor, forwarding to `upstream`.
fn unbound(dir: &std::path::Path, lab: &mxdane::demo::Demo) -> Daemon {
    let ta = dir.join("anchor");
    std::fs::write(&ta, lab.world.trust_anchor_text()).unwrap();
    let conf = dir.join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n    interface: 127.0.0.1\n    port: 53\n    do-ip6: no\n    do-not-query-localhost: no\n    username: \"\"\n    chroot: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n    trust-anchor-file: \"{ta}\"\n    local-zone: \"test.\" nodefault\nforward-zone:\n    name: \".\"\n    forward-addr: {ip}@{port}\nremote-control:\n    control-enable: no\n",
            d = dir.display(),
            ta = ta.display(),
            ip = lab.resolver.ip(),
            port = lab.resolver.port(),
        ),
    )
    .unwrap();
    let child = std::process::Command::new("unbound")
        .args(["-d", "-c"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("unbound.log")).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    let mut tries = 0;
    while !String::from_utf8_lossy(&sh("dig +short +dnssec @127.0.0.1 d0.signed.test MX").stdout)
        .contains("hosts.test")
    {
        tries += 1;
        assert!(
            tries < 100,
            "unbound did not come up: {}",
            std::fs::read_to_string(dir.join("unbound.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon
}

fn smtp_rate_in(posttls: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n: usize = std::env::var("MXDANE_BENCH_SURVEY_SMTP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let latency = Duration::from_millis(50);
    if posttls {
        assert!(sh("ip link set lo up").status.success());
    }
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
    println!(
        "survey_scale: {n} domains with SMTP at 50 ms per round trip: {rate:.0} domains/s ({} SMTP probes for {} domains; {})",
        s.probes,
        s.domains,
        serde_json::to_string(&s.outcomes).unwrap_or_default()
    );
    // A sample spread over the kinds and hosts, one domain at a time.
    let sample: Vec<usize> = (0..20).map(|i| i * 7 + 1).collect();
    if !posttls {
        let one = Instant::now();
        for i in &sample {
            let single = Survey::new(lab.env.clone(), SurveyOptions::default());
            runtime.block_on(single.domain(&mxdane::demo::generated_name(*i)));
        }
        let single_rate = sample.len() as f64 / one.elapsed().as_secs_f64();
        println!(
            "survey_scale: one domain at a time, a fresh survey each (sample of {}): {single_rate:.2} domains/s; ratio {:.0}",
            sample.len(),
            rate / single_rate
        );
        return;
    }
    // The world's MX addresses are local here, and port 25 of each leads to the lab's server
    // (which adds the latency on its side, as it does for the survey).
    assert!(
        sh("ip route add local 198.18.0.0/16 dev lo table local")
            .status
            .success()
    );
    let to = lab.smtp_routes.first().map(|(_, to)| *to).unwrap();
    let _relay = mxdane_lab::smtp::Forwarder::start("0.0.0.0:25".parse().unwrap(), to).unwrap();
    let dir = std::path::PathBuf::from(format!(
        "/var/tmp/mxdane-survey-bench-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _unbound = unbound(&dir, &lab);
    // posttls-finger reads main.cf: DNSSEC lookups on (DANE needs them).
    std::fs::write(
        dir.join("main.cf"),
        "compatibility_level = 3.6\nsmtp_dns_support_level = dnssec\nsmtp_host_lookup = dns\nsmtp_tls_loglevel = 1\n",
    )
    .unwrap();
    let one = Instant::now();
    let (mut verified, mut verified_kind) = (0, 0);
    for i in &sample {
        let domain = mxdane::demo::generated_name(*i);
        let out = std::process::Command::new("timeout")
            .args([
                "60",
                "posttls-finger",
                "-o",
                "inet_protocols=ipv4",
                "-c",
                "-l",
                "dane",
                "-t",
                "10",
                "-T",
                "30",
            ])
            .arg(&domain)
            .env("MAIL_CONFIG", &dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if mxdane::demo::Kind::of(*i) == mxdane::demo::Kind::Verified {
            verified_kind += 1;
            if text.contains("Verified TLS connection established") {
                verified += 1;
            }
        }
    }
    let finger_rate = sample.len() as f64 / one.elapsed().as_secs_f64();
    println!(
        "survey_scale: posttls-finger -l dane, one process per domain, through a validating Unbound on 127.0.0.1 (sample of {}, the same world, the same 50 ms): {finger_rate:.2} domains/s ({:.0} ms per domain; it verified {verified} of the sample's {verified_kind} DANE-verified domains); ratio {:.0}",
        sample.len(),
        1000.0 / finger_rate,
        rate / finger_rate
    );
    let _ = std::fs::remove_dir_all(&dir);
}
