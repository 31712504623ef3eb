//! Issue 27: a monitor history written by the release before the refactor (commit e427d80:
//! two rounds over the demo world's ta.test, mismatch.test and mx.ee.test:25) still reads.
//! The fixture is `tests/fixtures/monitor.db`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mxdane_monitor::state::Level;
use mxdane_monitor::store::History;

#[test]
fn a_history_written_before_the_refactor_reads() {
    let dir = std::env::temp_dir().join(format!("mxdane-stored-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("monitor.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/monitor.db"),
        &path,
    )
    .unwrap();
    let h = History::open(&path).unwrap();
    let states = h.states().unwrap();
    let level = |t: &str| states.get(t).and_then(|s| s.level);
    assert_eq!(level("ta.test"), Some(Level::Ok), "{states:?}");
    assert_eq!(level("mismatch.test"), Some(Level::Critical));
    assert_eq!(level("mx.ee.test:25"), Some(Level::Ok));
    for t in ["ta.test", "mismatch.test", "mx.ee.test:25"] {
        let checks = h.checks(t, 10).unwrap();
        assert_eq!(checks.len(), 2, "{t}: {checks:?}");
        let report = h.latest_report(t).unwrap().expect("a stored report");
        let json: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert!(json.get("verdict").is_some(), "{t}: {json}");
        assert!(!h.probes(checks[0].id).unwrap().is_empty(), "{t}");
    }
    assert!(!h.checks("mismatch.test", 1).unwrap()[0].problems.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
