//! Issue 16, hermetic: `mxdane monitor`'s runner against the lab world, with time injected. A
//! target breaks (its address now leads to a man in the middle with another certificate), the
//! change counts only once a second check confirms it, exactly one transition is recorded and
//! shown by the metrics and the API, the recovery is one more, and a restart keeps it all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::OnceLock;

use mxdane::check::Environment;
use mxdane::monitor::Monitor;
use mxdane_monitor::config::Config;
use mxdane_monitor::state::Level;
use mxdane_smtp::Connector;

mod common;

fn lab() -> &'static mxdane::demo::Demo {
    static LAB: OnceLock<mxdane::demo::Demo> = OnceLock::new();
    LAB.get_or_init(|| mxdane::demo::start().unwrap())
}

/// The lab's environment with `public` sent where `instead` goes.
fn env_with(public: &str, instead: &str) -> Environment {
    let l = lab();
    let (public, instead): (SocketAddr, SocketAddr) =
        (public.parse().unwrap(), instead.parse().unwrap());
    let target = l
        .smtp_routes
        .iter()
        .find(|(from, _)| *from == instead)
        .unwrap()
        .1;
    let mut c = Connector::direct();
    for (from, to) in &l.smtp_routes {
        c = c.route(*from, if *from == public { target } else { *to });
    }
    Environment {
        connector: c,
        ..l.env.clone()
    }
}

fn config(dir: &std::path::Path) -> Config {
    config_with(dir, "")
}

fn config_with(dir: &std::path::Path, extra: &str) -> Config {
    Config::parse(
        &format!(
            "history = \"{}/monitor.db\"\n[[target]]\ndomain = \"ta.test\"\n[[target]]\ndomain = \"mismatch.test\"\n[[target]]\nhost = \"mx.ee.test\"\n{extra}",
            dir.display()
        ),
        "test.toml",
    )
    .unwrap()
}

/// One delivery a webhook received: its `X-Mxdane-Timestamp`, `X-Mxdane-Id` and
/// `X-Mxdane-Signature` headers and its body.
#[derive(Clone, Debug, Default)]
struct Delivery {
    timestamp: String,
    id: String,
    signature: String,
    body: String,
}

/// A receiver's check, as README documents it: the signature is HMAC-SHA256 over
/// `TIMESTAMP.ID.BODY`; the timestamp is within five minutes of `now`; the id was not seen.
fn receiver_accepts(
    secret: &[u8],
    d: &Delivery,
    now: i64,
    seen: &mut std::collections::BTreeSet<String>,
) -> bool {
    let fresh = d
        .timestamp
        .parse::<i64>()
        .is_ok_and(|t| (t - now).abs() <= 300);
    let signed = format!("{}.{}.{}", d.timestamp, d.id, d.body);
    fresh
        && d.signature == format!("sha256={}", hmac_hex(secret, &signed))
        && seen.insert(d.id.clone())
}

/// A webhook receiver: keeps every request's headers and body, answers 500 to the first
/// `fail_first` requests and 200 to the rest.
struct Receiver {
    addr: SocketAddr,
    got: std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>,
}

fn receiver(rt: &tokio::runtime::Runtime, fail_first: usize) -> Receiver {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let got: std::sync::Arc<std::sync::Mutex<Vec<Delivery>>> = Default::default();
    let seen = got.clone();
    rt.spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then Content-Length bytes of body.
            while let Ok(k) = s.read(&mut chunk).await {
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&buf).to_string();
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            seen.lock().unwrap().push(Delivery {
                timestamp: header("x-mxdane-timestamp"),
                id: header("x-mxdane-id"),
                signature: header("x-mxdane-signature"),
                body: text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
            });
            n += 1;
            let status = if n <= fail_first {
                "500 Oops"
            } else {
                "200 OK"
            };
            let _ = s
                .write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
    });
    Receiver { addr, got }
}

fn hmac_hex(secret: &[u8], body: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, body.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn render() -> Box<mxdane::monitor::Render> {
    Box::new(|r| format!("{{\"verdict\":\"{}\"}}", r.verdict.name()))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// When `target` is due next.
fn due(m: &Monitor, target: &str) -> i64 {
    m.snapshot().read().unwrap().targets[target].next_check
}

fn state(m: &Monitor, target: &str) -> Option<Level> {
    m.snapshot().read().unwrap().targets[target].state
}

#[test]
fn m05_a_broken_target_changes_state_once_when_confirmed_recovers_and_survives_a_restart() {
    let dir = common::scratch("monitor-transitions");
    let rt = runtime();
    // The webhook's first answer is a 500: that alert is delivered by the next round.
    let hook = receiver(&rt, 1);
    let secret = common::write(&dir, "hook.secret", "s3cret-for-the-test\n");
    let alerts = format!(
        "[[alert]]\nwebhook = \"http://{}/hook\"\nallow-http = true\nsecret-file = \"{secret}\"\n[[alert]]\nemail = \"ops@ee.test\"\nfrom = \"monitor@lab.test\"\n",
        hook.addr
    );
    // The email alerts for ta.test that the lab's mail server (mx.ee.test, DANE) accepted.
    let mails = |kind: &str| {
        lab()
            .mailbox
            .messages()
            .into_iter()
            .filter(|m| {
                m.to == ["ops@ee.test"]
                    && m.data
                        .contains(&format!("Subject: [mxdane] ta.test {kind}"))
            })
            .collect::<Vec<_>>()
    };
    let mut m = rt
        .block_on(Monitor::open(
            config_with(&dir, &alerts),
            lab().env.clone(),
            render(),
            "test",
        ))
        .unwrap();
    assert!(
        !m.snapshot().read().unwrap().ready,
        "not ready before a round"
    );
    let t0 = 2_000_000_000;
    let tr = rt.block_on(m.round(t0));
    assert!(tr.is_empty(), "the first results set the states: {tr:?}");
    assert!(m.snapshot().read().unwrap().ready);
    assert_eq!(state(&m, "ta.test"), Some(Level::Ok));
    assert_eq!(state(&m, "mismatch.test"), Some(Level::Critical));
    assert_eq!(state(&m, "mx.ee.test:25"), Some(Level::Ok));
    // ta.test's address now leads to a man in the middle with its own certificate.
    m.env = env_with("192.0.2.2:25", "192.0.2.10:25");
    let mut t = due(&m, "ta.test");
    assert!(t > t0 + 200, "the next check is an interval away: {t}");
    assert!(
        rt.block_on(m.round(t)).is_empty(),
        "one bad result pages nobody"
    );
    assert_eq!(state(&m, "ta.test"), Some(Level::Ok));
    assert_eq!(
        m.snapshot().read().unwrap().targets["ta.test"].unconfirmed,
        Some(Level::Critical)
    );
    t = due(&m, "ta.test");
    let tr = rt.block_on(m.round(t));
    assert_eq!(tr.len(), 1, "{tr:?}");
    assert_eq!(tr[0].0, "ta.test");
    assert_eq!((tr[0].1.from, tr[0].1.to), (Level::Ok, Level::Critical));
    let metrics = mxdane::monitor_http::render_metrics(&m.snapshot().read().unwrap());
    assert!(
        metrics.contains("mxdane_target_state{target=\"ta.test\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "mxdane_probe_verified{target=\"ta.test\",host=\"mx.ta.test.\",address=\"192.0.2.2\",algorithm=\"default\"} 0"
        ),
        "{metrics}"
    );
    // The lab's server has an ECDSA certificate only: no RSA sample (a key algorithm the
    // server does not have is not a failed probe), the ECDSA one is there.
    assert!(
        !metrics.contains(
            "target=\"ta.test\",host=\"mx.ta.test.\",address=\"192.0.2.2\",algorithm=\"rsa\""
        ) && metrics.contains(
            "target=\"ta.test\",host=\"mx.ta.test.\",address=\"192.0.2.2\",algorithm=\"ecdsa\""
        ),
        "{metrics}"
    );
    // The alert: refused once (500), so one more delivery follows the next round.
    assert_eq!(hook.got.lock().unwrap().len(), 1, "one attempt so far");
    // The email went out at once, over TLS, from the configured sender.
    let sent = mails("is critical (was ok)");
    assert_eq!(sent.len(), 1, "{:?}", lab().mailbox.messages());
    assert!(sent[0].tls && sent[0].from == "monitor@lab.test");
    assert!(sent[0].data.contains("Auto-Submitted: auto-generated"));
    // Still broken: no second alert, only the retry of the first.
    t = due(&m, "ta.test");
    assert!(rt.block_on(m.round(t)).is_empty());
    {
        let got = hook.got.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].body, got[1].body, "the retry sends the same alert");
        assert_ne!(got[0].id, got[1].id, "each delivery has its own id");
        let secret = b"s3cret-for-the-test";
        let mut seen = std::collections::BTreeSet::new();
        let d = &got[1];
        assert_eq!(d.timestamp, t.to_string(), "stamped with the round's time");
        assert!(
            receiver_accepts(secret, d, t + 60, &mut seen),
            "HMAC-SHA256 over timestamp, id and body with the shared secret: {d:?}"
        );
        assert!(!receiver_accepts(
            b"another secret",
            d,
            t,
            &mut Default::default()
        ));
        // A captured delivery replayed: its id is known; sent later, its time is old; with a
        // new time or id, the signature no longer matches.
        assert!(
            !receiver_accepts(secret, d, t, &mut seen),
            "replayed at once"
        );
        assert!(!receiver_accepts(
            secret,
            d,
            t + 3_600,
            &mut Default::default()
        ));
        for forged in [
            Delivery {
                timestamp: (t + 3_600).to_string(),
                ..d.clone()
            },
            Delivery {
                id: "00".repeat(16),
                ..d.clone()
            },
        ] {
            assert!(!receiver_accepts(
                secret,
                &forged,
                t + 3_600,
                &mut Default::default()
            ));
        }
        let body = &d.body;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (
                v["kind"].as_str(),
                v["target"].as_str(),
                v["from"].as_str(),
                v["to"].as_str()
            ),
            (
                Some("problem"),
                Some("ta.test"),
                Some("ok"),
                Some("critical")
            )
        );
        assert!(!v["problems"].as_array().unwrap().is_empty(), "{v}");
    }
    // Fixed: the recovery is confirmed by a second good result.
    m.env = lab().env.clone();
    let mut recovered = Vec::new();
    for _ in 0..3 {
        t = due(&m, "ta.test");
        recovered.extend(rt.block_on(m.round(t)));
    }
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(
        mails("is critical").len(),
        1,
        "no repeat while it stayed broken"
    );
    assert_eq!(
        mails("recovered: ok (was critical)").len(),
        1,
        "one recovery notice"
    );
    assert_eq!(
        (recovered[0].1.from, recovered[0].1.to),
        (Level::Critical, Level::Ok)
    );
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "one recovery notice: {got:?}");
    let v: serde_json::Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["to"].as_str()),
        (Some("recovery"), Some("ok"))
    );
    let checks_before = rt.block_on(m.store().checks("ta.test", 100)).unwrap().len();
    drop(m);
    // A restart: the states and the history carry over.
    let m = rt
        .block_on(Monitor::open(
            config(&dir),
            lab().env.clone(),
            render(),
            "test",
        ))
        .unwrap();
    assert_eq!(state(&m, "ta.test"), Some(Level::Ok));
    assert_eq!(
        rt.block_on(m.store().checks("ta.test", 100)).unwrap().len(),
        checks_before
    );
    let transitions = rt.block_on(m.store().transitions("ta.test", 10)).unwrap();
    assert_eq!(transitions.len(), 2, "{transitions:?}");
    let last = &rt.block_on(m.store().checks("ta.test", 1)).unwrap()[0];
    assert_eq!(last.level, Level::Ok);
    assert!(
        rt.block_on(m.store().probes(last.id))
            .unwrap()
            .iter()
            .any(|p| p.result == "verified"
                && p.matched.as_deref().is_some_and(|r| r.starts_with("2 1 1"))
                && p.depth == Some(1)),
        "the matched record and its depth are kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// GET `path` on `addr`: the status code and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

#[test]
fn m05_every_endpoint_but_metrics_is_503_until_the_first_round() {
    let dir = common::scratch("monitor-http");
    let rt = runtime();
    let mut m = rt
        .block_on(Monitor::open(
            config(&dir),
            lab().env.clone(),
            render(),
            "test",
        ))
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = mxdane::monitor_http::router(m.snapshot());
    rt.spawn(async move { axum::serve(listener, app).await });
    for path in ["/status", "/api/v1/status", "/api/v1/targets/ta.test", "/"] {
        assert_eq!(get(addr, path).0, 503, "{path}");
    }
    assert_eq!(get(addr, "/metrics").0, 200);
    rt.block_on(m.round(2_000_000_000));
    let (code, body) = get(addr, "/api/v1/status");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["targets"]["ta.test"]["state"], "ok");
    assert_eq!(v["targets"]["mismatch.test"]["state"], "critical");
    let (code, body) = get(addr, "/status");
    assert_eq!(code, 200);
    assert!(
        body.starts_with("ok 2, warning 0, critical 1, unknown 0"),
        "{body}"
    );
    assert!(body.contains("mismatch.test critical"), "{body}");
    let (code, body) = get(addr, "/api/v1/targets/mismatch.test");
    assert_eq!(code, 200);
    assert!(body.contains("\"result\":\"mismatch\""), "{body}");
    assert_eq!(get(addr, "/api/v1/targets/nowhere.test").0, 404);
    let (code, body) = get(addr, "/");
    assert_eq!(code, 200);
    assert!(
        body.contains("<tr class=\"critical\" data-target=\"mismatch.test\">"),
        "{body}"
    );
    // The history strip: a week of hours, the last one checked.
    assert_eq!(
        body.matches("title=\"1 h ago: critical\"").count(),
        1,
        "{body}"
    );
    assert_eq!(body.matches("title=\"1 h ago: ok\"").count(), 2, "{body}");
    let (code, page) = get(addr, "/targets/mismatch.test");
    assert_eq!(code, 200);
    assert!(page.contains("<pre id=\"report\">"), "{page}");
    assert!(page.contains("no-match"), "{page}");
    assert_eq!(get(addr, "/targets/nowhere.test").0, 404);
    let (_, metrics) = get(addr, "/metrics");
    assert!(
        metrics.contains("mxdane_last_round_timestamp_seconds 2000000000"),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn lab_flags(dir: &std::path::Path) -> Vec<String> {
    let l = lab();
    let anchor = common::write(dir, "anchor", l.world.trust_anchor_text());
    let mut args = vec![
        "--resolver".to_owned(),
        l.resolver.to_string(),
        "--trust-anchor".into(),
        anchor,
    ];
    for (a, b) in &l.routes {
        args.push("--route".into());
        args.push(format!("{a}={b}"));
    }
    args
}

#[test]
fn m02_the_command_line_checks_prints_runs_a_round_and_shows_the_history() {
    let dir = common::scratch("monitor-cli");
    let cfg = dir.join("monitor.toml");
    std::fs::write(
        &cfg,
        format!(
            "history = \"{}/monitor.db\"\nlisten = \"127.0.0.1:0\"\n[[target]]\ndomain = \"ta.test\"\n[[target]]\ndomain = \"mismatch.test\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let c = cfg.display().to_string();
    let r = common::mxdane(&["monitor", "-c", &c, "--check-config"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("good (2 targets)"), "{}", r.stdout);
    let r = common::mxdane(&["monitor", "-c", &c, "--print-config"], "");
    assert!(r.stdout.contains("interval = 300"), "{}", r.stdout);
    // A bad file is refused, naming the problem; nothing runs.
    let bad = common::write(
        &dir,
        "bad.toml",
        "[[target]]\ndomain = \"x.test\"\nport = 0\n",
    );
    let r = common::mxdane(&["monitor", "-c", &bad, "--check-config"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("target 1: port 0"), "{}", r.stderr);
    let r = common::mxdane(&["monitor", "-c", &c, "history", "ta.test"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no history yet"), "{}", r.stderr);
    // One round through the binary, then the history.
    let mut args = vec![
        "monitor".to_owned(),
        "-c".into(),
        c.clone(),
        "--rounds".into(),
        "1".into(),
    ];
    args.extend(lab_flags(&dir));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::mxdane(&argv, "");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = common::mxdane(&["monitor", "-c", &c, "history", "mismatch.test"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("the last 1 checks"), "{}", r.stdout);
    assert!(r.stdout.contains("critical"), "{}", r.stdout);
    assert!(r.stdout.contains("no-match"), "{}", r.stdout);
    let r = common::mxdane(&["--json", "monitor", "-c", &c, "history", "ta.test"], "");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["checks"][0]["state"], "ok");
    let r = common::mxdane(&["monitor", "-c", &c, "history", "other.test"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no target other.test"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn m05_kill_9_loses_no_committed_check() {
    let dir = common::scratch("monitor-kill");
    let cfg = dir.join("monitor.toml");
    let mut targets = String::new();
    for d in [
        "ee", "ta", "mismatch", "twomx", "dual", "nostls", "insecure",
    ] {
        targets.push_str(&format!(
            "[[target]]\ndomain = \"{d}.test\"\ninterval = 60\n"
        ));
    }
    std::fs::write(
        &cfg,
        format!(
            "history = \"{}/monitor.db\"\nlisten = \"127.0.0.1:0\"\nconcurrency = 2\n{targets}",
            dir.display()
        ),
    )
    .unwrap();
    let mut args = vec!["monitor".to_owned(), "-c".into(), cfg.display().to_string()];
    args.extend(lab_flags(&dir));
    // Killed at several moments of its first round, each time on the same history.
    let mut committed = 0;
    let count = || -> usize {
        let Ok(h) = mxdane_monitor::store::History::open(&dir.join("monitor.db")) else {
            return 0;
        };
        [
            "ee", "ta", "mismatch", "twomx", "dual", "nostls", "insecure",
        ]
        .iter()
        .map(|d| h.checks(&format!("{d}.test"), 1000).map_or(0, |c| c.len()))
        .sum()
    };
    // The last time (0): killed as soon as a new check is committed, however slow the
    // machine, so that there is always something committed to lose.
    for delay_ms in [150u64, 400, 900, 1500, 0] {
        if delay_ms == 0 {
            // A fresh history, so that every target is due at once.
            for f in ["monitor.db", "monitor.db-wal", "monitor.db-shm"] {
                let _ = std::fs::remove_file(dir.join(f));
            }
            committed = 0;
        }
        let before = count();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        } else {
            let started = std::time::Instant::now();
            while count() <= before {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(60),
                    "no check was committed within a minute"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        // SIGKILL: no chance to finish anything.
        child.kill().unwrap();
        child.wait().unwrap();
        let h = mxdane_monitor::store::History::open(&dir.join("monitor.db")).unwrap();
        let states = h.states().unwrap();
        let mut n = 0;
        for d in [
            "ee", "ta", "mismatch", "twomx", "dual", "nostls", "insecure",
        ] {
            let checks = h.checks(&format!("{d}.test"), 1000).unwrap();
            // Every committed check is whole: its state was written with it.
            if let Some(c) = checks.first() {
                assert_eq!(states[&format!("{d}.test")].last_check, Some(c.at));
            }
            n += checks.len();
        }
        assert!(
            n >= committed,
            "a committed check was lost: {n} < {committed}"
        );
        committed = n;
    }
    assert!(committed > 0, "some checks were committed before the kills");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs promtool"]
fn m05_metrics_pass_promtool_check_metrics() {
    let dir = common::scratch("monitor-promtool");
    let rt = runtime();
    let mut targets = String::new();
    for d in [
        "ee", "ta", "mismatch", "twomx", "dual", "nostls", "disagree", "insecure", "expiring",
        "taexp",
    ] {
        targets.push_str(&format!("[[target]]\ndomain = \"{d}.test\"\n"));
    }
    let config = Config::parse(
        &format!("history = \"{}/monitor.db\"\n{targets}", dir.display()),
        "test.toml",
    )
    .unwrap();
    let mut m = rt
        .block_on(Monitor::open(config, lab().env.clone(), render(), "test"))
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    rt.block_on(m.round(now));
    let metrics = mxdane::monitor_http::render_metrics(&m.snapshot().read().unwrap());
    assert!(
        metrics.contains(
            "mxdane_nameservers_agree{target=\"disagree.test\",host=\"mx.disagree.test.\"} 0"
        ),
        "{metrics}"
    );
    // Lookahead: the lab's soon-expiring signature and DANE-TA certificate, against healthy
    // ones (days until, as an alert rule computes it from the timestamp).
    let days = |name: &str, target: &str| -> f64 {
        let at: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{target=\"{target}\"}} ")))
            .unwrap_or_else(|| panic!("no {name} for {target}: {metrics}"))
            .parse()
            .unwrap();
        (at - now as f64) / 86_400.0
    };
    let rrsig = "mxdane_target_rrsig_expiry_timestamp_seconds";
    assert!(days(rrsig, "expiring.test") < 7.0, "{metrics}");
    assert!(days(rrsig, "ee.test") > 7.0, "{metrics}");
    let ta = "mxdane_target_dane_ta_expiry_timestamp_seconds";
    assert!(days(ta, "taexp.test") < 7.0, "{metrics}");
    assert!(days(ta, "ta.test") > 7.0, "{metrics}");
    promtool_check(&metrics);
    let series = metrics.lines().filter(|l| !l.starts_with('#')).count();
    println!("\noracle promtool (monitor): 1 comparisons of 1 cases ({series} series)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pipes an exposition through `promtool check metrics`, which must say nothing.
fn promtool_check(metrics: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{metrics}"
    );
}

/// A sample: the family, the labels (name, value unescaped), the value.
type Sample = (String, Vec<(String, String)>, f64);

/// One sample line of the text exposition format, read strictly: the metric name, its labels
/// with their escapes undone (`\\`, `\"`, `\n`), the value. `None` for anything else.
fn sample(line: &str) -> Option<Sample> {
    let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))?;
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=')?;
            let key = rest[..eq].trim_start_matches(',').to_owned();
            let mut chars = rest[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => match chars.next()?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        _ => return None,
                    },
                    (i, '"') => break i,
                    (_, '\n') => return None,
                    (_, c) => value.push(c),
                }
            };
            labels.push((key, value));
            rest = &rest[eq + 1..][1 + end + 1..];
        }
    }
    let value = rest.strip_prefix(' ')?.parse().ok()?;
    Some((name.to_owned(), labels, value))
}

/// The monitor's exposition after one round over the hostile-names world, and the MX host's
/// name as the exposition must print it.
fn hostile_metrics(scratch: &str) -> (String, String) {
    let dir = common::scratch(scratch);
    let lab = mxdane::demo::hostile().unwrap();
    let rt = runtime();
    let config = Config::parse(
        &format!(
            "history = \"{}/monitor.db\"\n[[target]]\ndomain = \"hostile.test\"\n",
            dir.display()
        ),
        "test.toml",
    )
    .unwrap();
    let mut m = rt
        .block_on(Monitor::open(config, lab.env.clone(), render(), "test"))
        .unwrap();
    rt.block_on(m.round(time::OffsetDateTime::now_utc().unix_timestamp()));
    let metrics = mxdane::monitor_http::render_metrics(&m.snapshot().read().unwrap());
    let host = mxdane_tlsa::Name::from_labels(
        [
            b"mx".as_slice(),
            mxdane::demo::HOSTILE_LABEL,
            b"hostile",
            b"test",
        ]
        .iter()
        .map(|l| l.to_vec())
        .collect(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    (metrics, host.as_str().to_owned())
}

/// Issue 26, the review's proof of concept (M-05): an MX host and nameservers whose names
/// hold a quote, a brace, line feeds with a forged sample between them, a backslash and
/// non-ASCII octets. Every line of the exposition is a comment or one well-formed sample of
/// a declared family, no forged family appears, every series has exactly one sample, and the
/// host label is the name's escaped presentation form. Breaks if `LabelText::encode` writes
/// `'"'` as it is, or if `Name`'s text keeps the raw octets.
#[test]
fn m05_a_hostile_mx_name_cannot_add_a_metric_line() {
    let (metrics, host) = hostile_metrics("monitor-hostile");
    assert!(
        host.starts_with("mx.q\\\"}\\0321\\010mxdane_forged{target=\\\"ee\\\"}")
            && host.ends_with("\\195\\169\\255\\(\\;\\).hostile.test."),
        "{host}"
    );
    let declared: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut series = std::collections::BTreeSet::new();
    let mut hosts = Vec::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let (name, labels, _) =
            sample(line).unwrap_or_else(|| panic!("not a sample: {line:?}\n{metrics}"));
        assert!(
            declared.contains(name.as_str()),
            "an undeclared family {name}:\n{metrics}"
        );
        assert!(!name.contains("forged"), "{metrics}");
        hosts.extend(
            labels
                .iter()
                .filter(|(k, _)| k == "host")
                .map(|(_, v)| v.clone()),
        );
        assert!(
            series.insert((name.clone(), labels)),
            "two samples of one series {name}:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("mxdane_probe_verified{") && !hosts.is_empty(),
        "the hostile host was probed and labelled:\n{metrics}"
    );
    assert!(hosts.iter().all(|h| *h == host), "{hosts:?} vs {host}");
    // The check itself went through: the lookups found the host, its TLSA RRset and every
    // nameserver (ns1. and ns2. of the hostile name) serving the same signed RRset; TLS fails
    // because no SNI name can carry such a host name (the target is critical, as it is for a
    // DANE sender).
    assert!(
        metrics.contains("mxdane_target_state{target=\"hostile.test\"} 2"),
        "{metrics}"
    );
    assert!(
        series.iter().any(|(n, l)| n == "mxdane_nameservers_agree"
            && l.iter().any(|(k, v)| k == "host" && *v == host)),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "mxdane_nameservers_agree{{target=\"hostile.test\",host=\"{}\"}} 1",
            host.replace('\\', "\\\\").replace('"', "\\\"")
        )),
        "{metrics}"
    );
}

/// The same exposition passes Prometheus' own checker.
#[test]
#[ignore = "needs promtool"]
fn m05_metrics_with_hostile_names_pass_promtool() {
    let (metrics, _) = hostile_metrics("monitor-hostile-promtool");
    promtool_check(&metrics);
    let series = metrics.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "\noracle promtool (monitor, hostile names): 1 comparisons of 1 cases ({series} series)"
    );
}

#[test]
#[ignore = "needs systemd-analyze"]
fn the_shipped_systemd_units_verify() {
    let dir = common::scratch("monitor-units");
    let units = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/systemd");
    for unit in [
        "mxdane-monitor.service",
        "mxdane-rollover.service",
        "mxdane-rollover.timer",
    ] {
        // The units name /usr/bin/mxdane; here it is the binary under test.
        let text = std::fs::read_to_string(units.join(unit))
            .unwrap()
            .replace("/usr/bin/mxdane", env!("CARGO_BIN_EXE_mxdane"));
        std::fs::write(dir.join(unit), text).unwrap();
    }
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(
            [
                "mxdane-monitor.service",
                "mxdane-rollover.service",
                "mxdane-rollover.timer",
            ]
            .map(|u| dir.join(u)),
        )
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("mxdane-"),
        "systemd-analyze has something to say about the units: {said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polls `path` until `ok` holds for its body (at most 30 s).
fn poll(addr: SocketAddr, path: &str, ok: impl Fn(u16, &str) -> bool) -> String {
    let started = std::time::Instant::now();
    loop {
        if let Ok(s) = std::net::TcpStream::connect(addr) {
            drop(s);
            let (code, body) = get(addr, path);
            if ok(code, &body) {
                return body;
            }
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{path} never satisfied the condition"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn m05_sighup_reloads_the_targets_a_bad_file_is_refused_and_sigterm_stops_cleanly() {
    let dir = common::scratch("monitor-signals");
    let port = mxdane_lab::dns::interop::free_port().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let cfg = dir.join("monitor.toml");
    let text = |targets: &[&str]| {
        let mut t = format!(
            "history = \"{}/monitor.db\"\nlisten = \"{addr}\"\n",
            dir.display()
        );
        for d in targets {
            t.push_str(&format!("[[target]]\ndomain = \"{d}\"\n"));
        }
        t
    };
    std::fs::write(&cfg, text(&["ee.test"])).unwrap();
    let mut args = vec!["monitor".to_owned(), "-c".into(), cfg.display().to_string()];
    args.extend(lab_flags(&dir));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    poll(addr, "/api/v1/status", |c, b| {
        c == 200 && b.contains("\"ee.test\"")
    });
    // A bad file: refused, the running configuration stays.
    std::fs::write(&cfg, "interval = 1\n").unwrap();
    signal("-HUP");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let body = poll(addr, "/api/v1/status", |c, _| c == 200);
    assert!(body.contains("\"ee.test\""), "{body}");
    // A good one: the new target is checked at once, the removed one leaves the status.
    std::fs::write(&cfg, text(&["mismatch.test"])).unwrap();
    signal("-HUP");
    let body = poll(addr, "/api/v1/status", |c, b| {
        c == 200 && b.contains("\"mismatch.test\",\"state\":\"critical\"")
    });
    assert!(!body.contains("\"ee.test\""), "{body}");
    signal("-TERM");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("not reloaded, the running configuration stays")
            && stderr.contains("interval 1 is outside"),
        "{stderr}"
    );
    assert!(stderr.contains("reloaded"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pixels of `png` within 12 of `rgb` on every channel.
fn pixels_like(png_file: &std::path::Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_file).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 12))
        .count()
}

#[test]
#[ignore = "needs chromium"]
fn m05_the_status_page_in_headless_chromium_shows_rows_colours_and_the_history_strip() {
    let dir = common::scratch("monitor-chromium");
    let rt = runtime();
    let config = Config::parse(
        &format!(
            "history = \"{}/monitor.db\"\n[[target]]\ndomain = \"ta.test\"\n[[target]]\ndomain = \"mismatch.test\"\n[[target]]\ndomain = \"insecure.test\"\n",
            dir.display()
        ),
        "test.toml",
    )
    .unwrap();
    let mut m = rt
        .block_on(Monitor::open(config, lab().env.clone(), render(), "test"))
        .unwrap();
    // Three hours of checks: three blocks of the strip per target.
    let t0 = time::OffsetDateTime::now_utc().unix_timestamp() - 3 * 3600;
    for h in 0..3 {
        let t = t0 + h * 3600;
        rt.block_on(m.round(t.max(m.next_due())));
    }
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = mxdane::monitor_http::router(m.snapshot());
    rt.spawn(async move { axum::serve(listener, app).await });
    let chromium = |extra: &[&str], url: &str| {
        let out = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(extra)
            .arg(url)
            .output()
            .expect("chromium");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let dom = chromium(&["--dump-dom"], &format!("http://{addr}/"));
    for (class, target) in [
        ("ok", "ta.test"),
        ("critical", "mismatch.test"),
        ("warning", "insecure.test"),
    ] {
        let row_start = dom
            .find(&format!("<tr class=\"{class}\" data-target=\"{target}\">"))
            .unwrap_or_else(|| panic!("no {class} row for {target}: {dom}"));
        let row = &dom[row_start..row_start + dom[row_start..].find("</tr>").unwrap()];
        assert_eq!(
            row.matches("<span class=\"none\"").count()
                + row
                    .matches(&format!("<span class=\"{class}\" title"))
                    .count(),
            168,
            "{row}"
        );
        assert_eq!(
            row.matches(&format!("<span class=\"{class}\" title"))
                .count(),
            3,
            "one block per hour checked: {row}"
        );
    }
    assert!(
        dom.contains("ok 1, warning 1, critical 1, unknown 0"),
        "{dom}"
    );
    // The screenshot shows the three verdict colours.
    let shot = dir.join("monitor.png");
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,500",
        ],
        &format!("http://{addr}/"),
    );
    let green = pixels_like(&shot, [0x2e, 0x7d, 0x32]);
    let red = pixels_like(&shot, [0xc6, 0x28, 0x28]);
    let amber = pixels_like(&shot, [0xf9, 0xa8, 0x25]);
    assert!(
        green > 100 && red > 100 && amber > 100,
        "green {green}, red {red}, amber {amber}"
    );
    if let Ok(keep) = std::env::var("MXDANE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    // The per-target page.
    let page = chromium(
        &["--dump-dom"],
        &format!("http://{addr}/targets/mismatch.test"),
    );
    assert!(page.contains("<pre id=\"report\">"), "{page}");
    assert!(page.contains("<ul id=\"problems\">"), "{page}");
    println!(
        "\noracle chromium (monitor page): 1 comparisons of 1 cases (rows, colours {green}/{amber}/{red} px, strip)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn m06_rollover_lanes_are_watched_a_missing_next_key_warns_and_its_staging_recovers() {
    use mxdane_rollover::lane::{Cert, Event, Key, Scheme, ee};
    use mxdane_rollover::store::{LaneId, Sqlite, Store};
    let dir = common::scratch("monitor-rollover");
    let rt = runtime();
    let rollover = common::write(
        &dir,
        "rollover.toml",
        format!(
            r#"state = "{d}/state.db"
keys = "{d}/keys"
[[service]]
name = "mail"
bases = ["mx.example.test"]
reload = ["true"]
ttl = 300
scheme = "current+next"
[[service.algorithm]]
kind = "ecdsa"
key = "{d}/ecdsa.key"
chain = "{d}/ecdsa.pem"
[service.dns]
method = "rfc2136"
zone = "example.test"
server = "127.0.0.1:53"
tsig-key = "{d}/update.key"
"#,
            d = dir.display()
        ),
    );
    let t0: i64 = time::OffsetDateTime::now_utc().unix_timestamp();
    let key = |n: u8| Key {
        spki_sha256: format!("{n:02x}").repeat(32),
        file: format!("key{n}"),
    };
    let lane = LaneId {
        service: "mail".into(),
        algorithm: "ecdsa".into(),
    };
    let mut events = Sqlite::open(&dir.join("state.db")).unwrap();
    events
        .append(
            &lane,
            t0 - 100,
            &Event::Adopted {
                key: key(1),
                cert: Cert {
                    spki_sha256: key(1).spki_sha256,
                    issuer_spki_sha256: None,
                    not_before: t0 - 86_400,
                    not_after: t0 + 60 * 86_400,
                    pem: String::new(),
                    key_file: None,
                },
                scheme: Scheme::CurrentNext,
            },
        )
        .unwrap();
    let config = Config::parse(
        &format!(
            "history = \"{}/monitor.db\"\nrollover = \"{rollover}\"\n",
            dir.display()
        ),
        "test.toml",
    )
    .unwrap();
    let mut m = rt
        .block_on(Monitor::open(config, lab().env.clone(), render(), "test"))
        .unwrap();
    let name = "rollover:mail:ecdsa";
    rt.block_on(m.round(t0));
    assert_eq!(state(&m, name), Some(Level::Warning));
    let problems = m.snapshot().read().unwrap().targets[name].problems.clone();
    assert!(
        problems.iter().any(|p| p.starts_with("no next key")),
        "{problems:?}"
    );
    // The engine stages and publishes the next key; both records reach every server.
    events
        .append(&lane, t0 + 10, &Event::NextStaged { key: key(2) })
        .unwrap();
    for k in [1, 2] {
        let rdata = ee(&key(k).spki_sha256);
        events
            .append(
                &lane,
                t0 + 20,
                &Event::PublishRequested {
                    rdata: rdata.clone(),
                    at: t0 + 20,
                    negative_ttl: 0,
                },
            )
            .unwrap();
        events
            .append(
                &lane,
                t0 + 30,
                &Event::Visible {
                    rdata,
                    at: t0 + 30,
                    ttl: 300,
                },
            )
            .unwrap();
    }
    let mut changes = Vec::new();
    for _ in 0..2 {
        let t = due(&m, name);
        changes.extend(rt.block_on(m.round(t)));
    }
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].1.from, changes[0].1.to),
        (Level::Warning, Level::Ok)
    );
    let metrics = mxdane::monitor_http::render_metrics(&m.snapshot().read().unwrap());
    assert!(
        metrics.contains(&format!("mxdane_target_state{{target=\"{name}\"}} 0")),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
