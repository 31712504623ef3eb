//! Issue 27: a rollover store written by the release before the refactor (commit e427d80:
//! one lane pair adopted, the next keys published, the ECDSA certificate switched, without
//! `Observed` events) still reads, folds and replays. The fixture was written by that commit's
//! hermetic rollover lab (`tests/fixtures/rollover-state.sqlite`, 17 events).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mxdane_rollover::engine::LaneSetup;
use mxdane_rollover::lane::{Lane, Scheme};
use mxdane_rollover::simulate::{from_history, outages, unpublished};
use mxdane_rollover::store::{LaneId, Sqlite, Store};

fn lanes() -> Vec<LaneSetup> {
    ["ecdsa", "rsa"]
        .into_iter()
        .map(|a| LaneSetup {
            id: LaneId {
                service: "mail".into(),
                algorithm: a.into(),
            },
            owners: vec!["_25._tcp.mx.example.test.".into()],
            scheme: Scheme::CurrentNext,
        })
        .collect()
}

#[test]
fn a_store_written_before_the_refactor_reads_folds_and_replays() {
    // Opened from a copy: opening may write (WAL), and the fixture stays as committed.
    let dir = std::env::temp_dir().join(format!("mxdane-stored-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rollover-state.sqlite"
        ),
        &path,
    )
    .unwrap();
    let store = Sqlite::open(&path).unwrap();
    let events = store.events().unwrap();
    assert_eq!(events.len(), 17, "{events:?}");
    let fold = |alg: &str| {
        Lane::fold(
            events
                .iter()
                .filter(|e| e.lane.algorithm == alg)
                .map(|e| &e.event),
        )
    };
    let (ecdsa, rsa) = (fold("ecdsa"), fold("rsa"));
    // ECDSA switched to its next key (the previous pair kept for a rollback), RSA did not.
    assert!(ecdsa.previous.is_some());
    assert!(rsa.previous.is_none());
    for lane in [&ecdsa, &rsa] {
        assert_eq!(lane.scheme, Some(Scheme::CurrentNext));
        assert!(lane.current.is_some() && lane.next.is_some());
        // The records of the first step were seen everywhere 20 s later.
        assert!(
            lane.records
                .values()
                .filter(|r| r.requested == 2_000_000_000)
                .all(|r| r.visible_since == Some(2_000_000_020))
        );
    }
    // The record of ECDSA's new next key went out after the switch, not yet seen.
    assert_eq!(ecdsa.records.len(), 3);
    // No observations in this log: the replay falls back to the requests, and finds the
    // switch safe.
    let (served, presented) = from_history(&events, &lanes());
    assert_eq!(outages(&served, &presented), vec![]);
    assert_eq!(presented.len(), 3, "{presented:?}");
    // The record on its way is named, with no failure behind it.
    let u = unpublished(&events, &lanes());
    assert_eq!(u.len(), 1);
    assert!(u[0].ever_published && u[0].last_failure.is_none());
    assert_eq!(u[0].lane.algorithm, "ecdsa");
    let _ = std::fs::remove_dir_all(&dir);
}
