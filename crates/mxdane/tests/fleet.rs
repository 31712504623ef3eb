//! Issue 16, external tier: monitor instances sharing one target list through PostgreSQL.
//! Two instances check 200 lab targets; every target is checked once per interval, by one of
//! them, and both do part of the work; one instance dies in the middle of a round, holding
//! claims, and the other takes those targets over once their leases end. Time is injected.
//!
//! The database: `MXDANE_TEST_POSTGRES` (a `postgres://user@host:port` URL without a database;
//! `.ci/run` starts a server on a loopback port as an ordinary user and sets it); the test
//! creates a database of its own there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use mxdane::monitor::Monitor;
use mxdane_monitor::config::Config;

mod common;
use common::pg::{client, database};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Checks per target, as the shared history holds them.
fn counts(rt: &tokio::runtime::Runtime, url: &str) -> BTreeMap<String, i64> {
    rt.block_on(async {
        let c = client(url).await;
        c.query("SELECT target, count(*) FROM checks GROUP BY target", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    })
}

fn checks_by(m: &Monitor) -> u64 {
    m.snapshot().read().unwrap().checks
}

#[test]
#[ignore = "needs postgresql (MXDANE_TEST_POSTGRES, started by .ci/run)"]
fn m10_two_instances_share_200_targets_once_per_interval_and_one_takes_over_from_a_dead_one() {
    let rt = runtime();
    let url = database(&rt, "mxdane_fleet");
    let n = 200;
    let lab = mxdane::demo::generated(n, Duration::ZERO).unwrap();
    let names: Vec<String> = (0..n).map(mxdane::demo::generated_name).collect();
    let mut text = format!("history = \"{url}\"\ninterval = 300\nlease = 120\nconcurrency = 8\n");
    for d in &names {
        text.push_str(&format!("[[target]]\ndomain = \"{d}\"\n"));
    }
    let config = Config::parse(&text, "fleet.toml").unwrap();
    let render = || -> Box<mxdane::monitor::Render> {
        Box::new(|r| format!("{{\"verdict\":\"{}\"}}", r.verdict.name()))
    };
    let mut a = rt
        .block_on(Monitor::open(
            config.clone(),
            lab.env.clone(),
            render(),
            "a",
        ))
        .unwrap();
    let mut b = rt
        .block_on(Monitor::open(
            config.clone(),
            lab.env.clone(),
            render(),
            "b",
        ))
        .unwrap();

    // Two intervals with both instances running side by side.
    let t0: i64 = 2_000_000_000;
    for (round, t) in [(1, t0), (2, t0 + 400)] {
        let (before_a, before_b) = (checks_by(&a), checks_by(&b));
        rt.block_on(async { tokio::join!(a.round(t), b.round(t)) });
        let c = counts(&rt, &url);
        assert_eq!(c.len(), n, "every target checked (none starved)");
        let wrong: Vec<_> = c.iter().filter(|(_, k)| **k != round).collect();
        assert!(
            wrong.is_empty(),
            "round {round}: checked other than once: {wrong:?}"
        );
        let (da, db) = (checks_by(&a) - before_a, checks_by(&b) - before_b);
        assert_eq!(da + db, n as u64);
        assert!(da > 0 && db > 0, "both instances work: {da} and {db}");
        println!("fleet round {round}: instance a checked {da}, b {db}");
    }
    // The states both instances show agree with what the other one found.
    let sa = a.snapshot().read().unwrap().targets.clone();
    let sb = b.snapshot().read().unwrap().targets.clone();
    for name in &names {
        assert_eq!(sa[name].state, sb[name].state, "{name}");
        assert!(sa[name].state.is_some(), "{name}");
    }

    // Instance a dies in the middle of its third round, holding claims.
    let t2 = t0 + 800;
    let held = rt.block_on(async {
        let c = client(&url).await;
        let watch = async {
            for _ in 0..2000 {
                let k: i64 = c
                    .query_one("SELECT count(*) FROM leases WHERE owner = 'a'", &[])
                    .await
                    .unwrap()
                    .get(0);
                if k > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        // The round is dropped where it stands once claims are seen: no code of its runs
        // again, its connection closes, its open transaction is rolled back.
        tokio::select! {
            _ = a.round(t2) => panic!("the round ended before a's claims were seen"),
            () = watch => {}
        }
        drop(a);
        c.query("SELECT target FROM leases WHERE owner = 'a'", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    });
    assert!(!held.is_empty(), "a died holding claims");
    println!("fleet: instance a died holding {} targets", held.len());
    rt.block_on(b.round(t2));
    let c = counts(&rt, &url);
    for (name, k) in &c {
        let want = if held.contains(name) { 2 } else { 3 };
        assert_eq!(
            *k, want,
            "{name}: a dead instance's claims wait for their lease"
        );
    }
    // Before the lease ends nothing changes; after it, b checks them, once.
    rt.block_on(b.round(t2 + 60));
    assert_eq!(counts(&rt, &url), c);
    rt.block_on(b.round(t2 + 121));
    let c = counts(&rt, &url);
    assert_eq!(c.len(), n);
    let wrong: Vec<_> = c.iter().filter(|(_, k)| **k != 3).collect();
    assert!(wrong.is_empty(), "after the takeover: {wrong:?}");
    // Every target's checks are an interval apart (jitter of 10 % at most), never closer.
    rt.block_on(async {
        let c = client(&url).await;
        let close: i64 = c
            .query_one(
                "SELECT count(*) FROM checks x JOIN checks y
                 ON x.target = y.target AND x.id < y.id AND abs(y.at - x.at) < 270",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(close, 0, "no target checked twice within an interval");
    });
}

#[test]
#[ignore = "needs postgresql (MXDANE_TEST_POSTGRES, started by .ci/run)"]
fn m11_a_check_whose_lease_ended_is_not_written() {
    use mxdane_monitor::fleet::Fleet;
    use mxdane_monitor::state::{Level, TargetState};
    use mxdane_monitor::store::CheckRecord;
    let rt = runtime();
    let url = database(&rt, "mxdane_lease");
    rt.block_on(async {
        let mut x = Fleet::connect(&url, "x").await.unwrap();
        let mut y = Fleet::connect(&url, "y").await.unwrap();
        let t = vec!["slow.example".to_owned()];
        x.register(&t).await.unwrap();
        y.register(&t).await.unwrap();
        assert_eq!(x.claim(&t, 1000, 120, 8).await.unwrap().len(), 1);
        assert!(
            y.claim(&t, 1100, 120, 8).await.unwrap().is_empty(),
            "leased"
        );
        // x's check outlives its lease; y claims the target and writes its check first.
        assert_eq!(y.claim(&t, 1121, 120, 8).await.unwrap().len(), 1);
        let mut state = TargetState::default();
        state.observe(Level::Ok, 1122, 300, 1);
        let check = |at| CheckRecord {
            target: t[0].clone(),
            at,
            level: Level::Ok,
            duration_ms: 1,
            problems: vec![],
            report: "{}".into(),
            probes: vec![],
            nameservers: vec![],
        };
        y.record(&check(1122), &state, None, &[]).await.unwrap();
        let late = x.record(&check(1130), &state, None, &[]).await.unwrap_err();
        assert!(late.to_string().contains("lease"), "{late}");
        assert_eq!(
            x.checks(&t[0], 10).await.unwrap().len(),
            1,
            "y's check only"
        );
        // Passwords never reach messages, even of a server that cannot be reached.
        let e = Fleet::connect("postgres://mon:s3cret@127.0.0.1:1/x", "z")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("s3cret") && e.contains("127.0.0.1:1"), "{e}");
    });
}
