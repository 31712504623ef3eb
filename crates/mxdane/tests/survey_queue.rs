//! Issue 17, external tier: two survey workers share a PostgreSQL queue. The 1,000 domains
//! of a generated world are queued in batches of 50; two workers claim batches side by side;
//! one dies in the middle of a batch (its connection closes, its unfinished transaction rolls
//! back); the other finishes everything, the dead worker's batch once its lease has ended.
//! The result set is complete, has no duplicates, and its counts equal the world's
//! composition. Time is injected.
//!
//! The database: `MXDANE_TEST_POSTGRES` (see tests/fleet.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use mxdane::demo::{Kind, generated_name};
use mxdane::survey::{Survey, SurveyOptions};
use mxdane::survey_queue::{Queue, work};

mod common;
use common::pg::{client, database};

#[test]
#[ignore = "needs postgresql (MXDANE_TEST_POSTGRES, started by .ci/run)"]
fn v07_two_queue_workers_split_the_work_one_dies_and_the_results_are_complete_without_duplicates() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = database(&rt, "mxdane_survey");
    let n = 1000;
    let lab = mxdane::demo::generated(n, Duration::from_millis(2)).unwrap();
    let clock = AtomicI64::new(2_000_000_000);
    let now = || clock.load(Ordering::SeqCst);
    let options = SurveyOptions {
        concurrency: 16,
        ..SurveyOptions::default()
    };
    rt.block_on(async {
        let mut a = Queue::connect(&url, "a").await.unwrap();
        let mut b = Queue::connect(&url, "b").await.unwrap();
        // Queued twice (both workers were started with the file): each domain once.
        assert_eq!(a.load((0..n).map(generated_name), 50).await.unwrap(), n as u64);
        assert_eq!(b.load((0..n).map(generated_name), 50).await.unwrap(), 0);
        let survey_a = Survey::new(lab.env.clone(), options.clone())
            .with_shared(Queue::shared_probes(&url).await.unwrap());
        let survey_b = Survey::new(lab.env.clone(), options.clone())
            .with_shared(Queue::shared_probes(&url).await.unwrap());
        let watcher = client(&url).await;
        // Both work until a has finished a batch and holds another; then a dies.
        let dying = async {
            let watch = async {
                for _ in 0..20_000 {
                    let done: i64 = watcher
                        .query_one("SELECT count(*) FROM survey_results WHERE worker = 'a'", &[])
                        .await
                        .unwrap()
                        .get(0);
                    let held: i64 = watcher
                        .query_one("SELECT count(*) FROM survey_batches WHERE owner = 'a' AND NOT done", &[])
                        .await
                        .unwrap()
                        .get(0);
                    if done >= 50 && held > 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                panic!("worker a never held a batch after finishing one");
            };
            tokio::select! {
                r = work(&mut a, &survey_a, 120, 16, now) => panic!("a finished before it died: {r:?}"),
                () = watch => {}
            }
            drop(a);
        };
        let (_, by_b) = tokio::join!(dying, work(&mut b, &survey_b, 120, 16, now));
        let by_b = by_b.unwrap();
        let (s, left) = b.report().await.unwrap();
        assert!((1..=50).contains(&left), "the dead worker's batch waits for its lease: {left}");
        assert_eq!(s.domains + left as u64, n as u64, "every other domain is done");
        assert!(by_b > 0 && by_b < n as u64, "{by_b}");
        // Before the lease ends nothing is claimable; after it, b takes the batch over.
        assert_eq!(work(&mut b, &survey_b, 120, 16, now).await.unwrap(), 0);
        clock.fetch_add(121, Ordering::SeqCst);
        assert_eq!(work(&mut b, &survey_b, 120, 16, now).await.unwrap(), left as u64);
        let (s, left_now) = b.report().await.unwrap();
        assert_eq!(left_now, 0);
        let by_a: i64 = watcher
            .query_one("SELECT count(*) FROM survey_results WHERE worker = 'a'", &[])
            .await
            .unwrap()
            .get(0);
        assert!(by_a >= 50, "a did its share before it died: {by_a}");
        let rows: i64 = watcher.query_one("SELECT count(*) FROM survey_results", &[]).await.unwrap().get(0);
        let distinct: i64 = watcher
            .query_one("SELECT count(DISTINCT domain) FROM survey_results", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!((rows, distinct), (n as i64, n as i64), "complete, no duplicates");
        let want = |k: Kind| (0..n).filter(|i| Kind::of(*i) == k).count() as u64;
        assert_eq!(s.outcomes["dane-verified"], want(Kind::Verified));
        assert_eq!(s.outcomes["dane-broken"], want(Kind::Broken));
        assert_eq!(s.outcomes["signed-no-tlsa"], want(Kind::NoTlsa));
        assert_eq!(s.outcomes["no-dnssec"], want(Kind::Unsigned));
        // Probes were shared through the database: one per DANE host for the whole fleet,
        // give or take a host both workers reached at once.
        let hosts = 2 * mxdane::demo::generated_hosts(n) as u64;
        assert!(s.probes == hosts, "{} probe results for {hosts} hosts", s.probes);
        println!(
            "survey queue: a wrote {by_a} results before it died holding {left} domains; b wrote {by_b} beside it, then took the {left} over"
        );
    });
}
