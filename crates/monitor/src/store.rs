//! The check history in SQLite: every check with its verdict, its probes (host, address,
//! algorithm, result, matched record and depth) and what each authoritative server served,
//! the state transitions, and each target's state, so that a restart carries on where the
//! last run stopped. One transaction per check: a `kill -9` loses at most the check being
//! written, never one that was committed (WAL, synchronous FULL).
//!
//! Every check is a row (time, verdict, duration, problems). Its details (probes, nameserver
//! answers and the whole report) are written only when they differ from the target's previous
//! check's, whose details the new row then points to (`detail`); the latest report of each
//! target is kept apart. A steady target costs a small row per check, not a report's few
//! kilobytes (schema version 2; version 1 files are upgraded in place when opened).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::Ts;
use crate::state::{Level, TargetState, Transition};

/// A history that cannot be read or written.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// One probe's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRecord {
    /// The MX host.
    pub host: String,
    /// The address.
    pub address: String,
    /// `default`, `rsa` or `ecdsa`.
    pub algorithm: String,
    /// `verified`, `encrypted`, `failed`, ...
    pub result: String,
    /// Why (a closed list), for results other than verified and encrypted.
    pub reason: Option<String>,
    /// The record that matched.
    pub matched: Option<String>,
    /// At which depth of the chain.
    pub depth: Option<u32>,
}

/// What one authoritative server served for a host's TLSA RRset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsRecord {
    /// The MX host.
    pub host: String,
    /// The nameserver's name and address.
    pub server: String,
    /// The TLSA RRset (records joined by `; `), or None when it could not be read.
    pub tlsa: Option<String>,
    /// The zone's SOA serial there.
    pub serial: Option<u32>,
}

/// One check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRecord {
    /// The target's name.
    pub target: String,
    /// When it ran.
    pub at: Ts,
    /// The verdict.
    pub level: Level,
    /// How long it took.
    pub duration_ms: u64,
    /// The problems (critical first, then warnings).
    pub problems: Vec<String>,
    /// The whole report (the check JSON document).
    pub report: String,
    /// Every probe.
    pub probes: Vec<ProbeRecord>,
    /// Every nameserver answer.
    pub nameservers: Vec<NsRecord>,
}

/// A check as listed by [`History::checks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSummary {
    /// Its id.
    pub id: i64,
    /// When it ran.
    pub at: Ts,
    /// The verdict.
    pub level: Level,
    /// How long it took.
    pub duration_ms: u64,
    /// The problems.
    pub problems: Vec<String>,
}

/// The SQLite history.
pub struct History {
    conn: Connection,
    label: String,
}

const SCHEMA_VERSION: i64 = 2;

impl History {
    /// Opens (or creates) the history at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let label = path.display().to_string();
        let conn = Connection::open(path).map_err(|e| StoreError(format!("{label}: {e}")))?;
        Self::init(conn, label)
    }

    /// A history in memory (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError(format!("memory: {e}")))?;
        Self::init(conn, "memory".into())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError(format!("{}: {e}", self.label))
    }

    fn init(conn: Connection, label: String) -> Result<Self, StoreError> {
        let h = Self { conn, label };
        let err = h.err();
        h.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(&err)?;
        h.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(&err)?;
        h.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(&err)?;
        h.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS checks (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     target TEXT NOT NULL, at INTEGER NOT NULL, level TEXT NOT NULL,
                     duration_ms INTEGER NOT NULL, problems TEXT NOT NULL, report TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS checks_target ON checks (target, at);
                 CREATE TABLE IF NOT EXISTS latest (target TEXT PRIMARY KEY, report TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS probes (
                     check_id INTEGER NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
                     host TEXT NOT NULL, address TEXT NOT NULL, algorithm TEXT NOT NULL,
                     result TEXT NOT NULL, reason TEXT, matched TEXT, depth INTEGER);
                 CREATE INDEX IF NOT EXISTS probes_check ON probes (check_id);
                 CREATE TABLE IF NOT EXISTS nameservers (
                     check_id INTEGER NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
                     host TEXT NOT NULL, server TEXT NOT NULL, tlsa TEXT, serial INTEGER);
                 CREATE INDEX IF NOT EXISTS nameservers_check ON nameservers (check_id);
                 CREATE TABLE IF NOT EXISTS transitions (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     target TEXT NOT NULL, at INTEGER NOT NULL,
                     from_level TEXT NOT NULL, to_level TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS states (target TEXT PRIMARY KEY, state TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS alerts (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     destination TEXT NOT NULL, target TEXT NOT NULL, at INTEGER NOT NULL,
                     payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                     sent_at INTEGER, last_error TEXT);
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(&err)?;
        let version: Option<i64> = h
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(&err)?;
        match version {
            None => {
                h.conn
                    .execute_batch("ALTER TABLE checks ADD COLUMN detail INTEGER")
                    .map_err(&err)?;
                h.conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                        params![SCHEMA_VERSION],
                    )
                    .map_err(&err)?;
            }
            Some(1) => {
                // Version 1 kept every check's details; each check is its own detail.
                h.conn
                    .execute_batch(
                        "BEGIN;
                         ALTER TABLE checks ADD COLUMN detail INTEGER;
                         UPDATE checks SET detail = id;
                         INSERT OR REPLACE INTO latest (target, report)
                             SELECT target, report FROM checks c
                             WHERE id = (SELECT max(id) FROM checks d WHERE d.target = c.target);
                         UPDATE meta SET value = 2 WHERE key = 'schema';
                         COMMIT;",
                    )
                    .map_err(&err)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(StoreError(format!(
                    "{}: history schema version {v}, this mxdane reads {SCHEMA_VERSION}; nothing was changed",
                    h.label
                )));
            }
        }
        drop(err);
        Ok(h)
    }

    /// Writes a check, the target's new state and the transition it confirmed, together,
    /// with the alert for each destination in `alerts` (`(destination, payload)`): an outbox,
    /// so that an alert is never lost between the state change and its delivery.
    pub fn record(
        &mut self,
        check: &CheckRecord,
        state: &TargetState,
        transition: Option<&Transition>,
        alerts: &[(String, String)],
    ) -> Result<i64, StoreError> {
        let label = self.label.clone();
        let err = |e: rusqlite::Error| StoreError(format!("{label}: {e}"));
        let tx = self.conn.transaction().map_err(err)?;
        // The previous check's details: reused when nothing in them changed.
        let previous: Option<(i64, String)> = tx
            .query_row(
                "SELECT d.id, d.level FROM checks c JOIN checks d ON d.id = coalesce(c.detail, c.id)
                 WHERE c.target = ?1 ORDER BY c.at DESC, c.id DESC LIMIT 1",
                params![check.target],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        let reuse = match &previous {
            Some((d, level)) if level == check.level.name() => {
                probes_of(&tx, *d).map_err(err)? == check.probes
                    && nameservers_of(&tx, *d).map_err(err)? == check.nameservers
            }
            _ => false,
        };
        tx.execute(
            "INSERT INTO checks (target, at, level, duration_ms, problems, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                check.target,
                check.at,
                check.level.name(),
                i64::try_from(check.duration_ms).unwrap_or(i64::MAX),
                serde_json::to_string(&check.problems).unwrap_or_default(),
                if reuse { "" } else { check.report.as_str() }
            ],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        let detail = match (&previous, reuse) {
            (Some((d, _)), true) => *d,
            _ => id,
        };
        tx.execute(
            "UPDATE checks SET detail = ?2 WHERE id = ?1",
            params![id, detail],
        )
        .map_err(err)?;
        if !reuse {
            for p in &check.probes {
                tx.execute(
                    "INSERT INTO probes (check_id, host, address, algorithm, result, reason, matched, depth)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![id, p.host, p.address, p.algorithm, p.result, p.reason, p.matched, p.depth],
                )
                .map_err(err)?;
            }
            for n in &check.nameservers {
                tx.execute(
                    "INSERT INTO nameservers (check_id, host, server, tlsa, serial)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, n.host, n.server, n.tlsa, n.serial],
                )
                .map_err(err)?;
            }
        }
        tx.execute(
            "INSERT INTO latest (target, report) VALUES (?1, ?2)
             ON CONFLICT (target) DO UPDATE SET report = excluded.report",
            params![check.target, check.report],
        )
        .map_err(err)?;
        if let Some(t) = transition {
            tx.execute(
                "INSERT INTO transitions (target, at, from_level, to_level) VALUES (?1, ?2, ?3, ?4)",
                params![check.target, t.at, t.from.name(), t.to.name()],
            )
            .map_err(err)?;
            for (destination, payload) in alerts {
                tx.execute(
                    "INSERT INTO alerts (destination, target, at, payload) VALUES (?1, ?2, ?3, ?4)",
                    params![destination, check.target, t.at, payload],
                )
                .map_err(err)?;
            }
        }
        tx.execute(
            "INSERT INTO states (target, state) VALUES (?1, ?2)
             ON CONFLICT (target) DO UPDATE SET state = excluded.state",
            params![
                check.target,
                serde_json::to_string(state).unwrap_or_default()
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(id)
    }

    /// Every target's stored state.
    pub fn states(&self) -> Result<BTreeMap<String, TargetState>, StoreError> {
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare("SELECT target, state FROM states")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(&err)?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (target, state) = row.map_err(&err)?;
            let state = serde_json::from_str(&state)
                .map_err(|e| StoreError(format!("{}: the state of {target}: {e}", self.label)))?;
            out.insert(target, state);
        }
        Ok(out)
    }

    /// The latest `limit` checks of a target, newest first.
    pub fn checks(&self, target: &str, limit: u32) -> Result<Vec<CheckSummary>, StoreError> {
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, at, level, duration_ms, problems FROM checks WHERE target = ?1
                 ORDER BY at DESC, id DESC LIMIT ?2",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![target, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, level, ms, problems) = row.map_err(&err)?;
            out.push(CheckSummary {
                id,
                at,
                level: Level::parse(&level).unwrap_or(Level::Unknown),
                duration_ms: u64::try_from(ms).unwrap_or(0),
                problems: serde_json::from_str(&problems).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// A target's check results since `since`, oldest first (for the history strip).
    pub fn levels_since(&self, target: &str, since: Ts) -> Result<Vec<(Ts, Level)>, StoreError> {
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare("SELECT at, level FROM checks WHERE target = ?1 AND at >= ?2 ORDER BY at, id")
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![target, since], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (at, level) = row.map_err(&err)?;
            out.push((at, Level::parse(&level).unwrap_or(Level::Unknown)));
        }
        Ok(out)
    }

    /// The probes of a check (those of the check whose details it shares).
    pub fn probes(&self, check: i64) -> Result<Vec<ProbeRecord>, StoreError> {
        let d = detail_of(&self.conn, check).map_err(self.err())?;
        probes_of(&self.conn, d).map_err(self.err())
    }

    /// The nameserver answers of a check (those of the check whose details it shares).
    pub fn nameservers(&self, check: i64) -> Result<Vec<NsRecord>, StoreError> {
        let d = detail_of(&self.conn, check).map_err(self.err())?;
        nameservers_of(&self.conn, d).map_err(self.err())
    }

    /// The whole report of the latest check of a target.
    pub fn latest_report(&self, target: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT report FROM latest WHERE target = ?1",
                params![target],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// The latest `limit` transitions of a target, newest first.
    pub fn transitions(&self, target: &str, limit: u32) -> Result<Vec<Transition>, StoreError> {
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT at, from_level, to_level FROM transitions WHERE target = ?1
                 ORDER BY at DESC, id DESC LIMIT ?2",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![target, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (at, from, to) = row.map_err(&err)?;
            out.push(Transition {
                at,
                from: Level::parse(&from).unwrap_or(Level::Unknown),
                to: Level::parse(&to).unwrap_or(Level::Unknown),
            });
        }
        Ok(out)
    }

    /// Alerts not yet delivered and tried fewer than `max_attempts` times, oldest first:
    /// `(id, destination, payload)`.
    pub fn pending_alerts(
        &self,
        max_attempts: u32,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, destination, payload FROM alerts
                 WHERE sent_at IS NULL AND attempts < ?1 ORDER BY id",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![max_attempts], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }

    /// Records a delivery attempt: sent at `at`, or failed with `error`.
    pub fn alert_attempt(
        &mut self,
        id: i64,
        at: Ts,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let label = self.label.clone();
        let err = |e: rusqlite::Error| StoreError(format!("{label}: {e}"));
        match error {
            None => self.conn.execute(
                "UPDATE alerts SET attempts = attempts + 1, sent_at = ?2, last_error = NULL WHERE id = ?1",
                params![id, at],
            ),
            Some(e) => self.conn.execute(
                "UPDATE alerts SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id, e],
            ),
        }
        .map(|_| ())
        .map_err(err)
    }

    /// Deletes checks (with their probes and nameserver answers) and transitions older than
    /// `before`, but not a check whose details a newer one shares; returns how many checks
    /// went. Targets' states and latest reports stay.
    pub fn prune(&mut self, before: Ts) -> Result<usize, StoreError> {
        let label = self.label.clone();
        let err = |e: rusqlite::Error| StoreError(format!("{label}: {e}"));
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY);
             DELETE FROM doomed;",
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO doomed (id) SELECT id FROM checks WHERE at < ?1
             AND id NOT IN (SELECT detail FROM checks WHERE at >= ?1 AND detail IS NOT NULL)",
            params![before],
        )
        .map_err(err)?;
        tx.execute_batch(
            "DELETE FROM probes WHERE check_id IN (SELECT id FROM doomed);
             DELETE FROM nameservers WHERE check_id IN (SELECT id FROM doomed);",
        )
        .map_err(err)?;
        let n = tx
            .execute("DELETE FROM checks WHERE id IN (SELECT id FROM doomed)", [])
            .map_err(err)?;
        tx.execute("DELETE FROM transitions WHERE at < ?1", params![before])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(n)
    }
}

/// The check whose details `check` shares (itself when it has its own).
fn detail_of(conn: &Connection, check: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT coalesce(detail, id) FROM checks WHERE id = ?1",
        params![check],
        |r| r.get(0),
    )
    .optional()
    .map(|d| d.unwrap_or(check))
}

fn probes_of(conn: &Connection, check: i64) -> rusqlite::Result<Vec<ProbeRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT host, address, algorithm, result, reason, matched, depth FROM probes
         WHERE check_id = ?1 ORDER BY rowid",
    )?;
    let rows = stmt.query_map(params![check], |r| {
        Ok(ProbeRecord {
            host: r.get(0)?,
            address: r.get(1)?,
            algorithm: r.get(2)?,
            result: r.get(3)?,
            reason: r.get(4)?,
            matched: r.get(5)?,
            depth: r.get(6)?,
        })
    })?;
    rows.collect()
}

fn nameservers_of(conn: &Connection, check: i64) -> rusqlite::Result<Vec<NsRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT host, server, tlsa, serial FROM nameservers WHERE check_id = ?1 ORDER BY rowid",
    )?;
    let rows = stmt.query_map(params![check], |r| {
        Ok(NsRecord {
            host: r.get(0)?,
            server: r.get(1)?,
            tlsa: r.get(2)?,
            serial: r.get(3)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(target: &str, at: Ts, level: Level) -> CheckRecord {
        CheckRecord {
            target: target.into(),
            at,
            level,
            duration_ms: 12,
            problems: vec!["mx.example.com 192.0.2.1 (ecdsa): no-match".into()],
            report: format!("{{\"at\":{at}}}"),
            probes: vec![ProbeRecord {
                host: "mx.example.com".into(),
                address: "192.0.2.1".into(),
                algorithm: "ecdsa".into(),
                result: "failed".into(),
                reason: Some("no-match".into()),
                matched: None,
                depth: None,
            }],
            nameservers: vec![NsRecord {
                host: "mx.example.com".into(),
                server: "ns1.example.com. 192.0.2.53".into(),
                tlsa: Some("3 1 1 aa".into()),
                serial: Some(7),
            }],
        }
    }

    #[test]
    fn checks_states_and_transitions_survive_reopening_and_pruning_keeps_states() {
        let dir = std::env::temp_dir().join(format!("mxdane-monitor-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.db");
        {
            let mut h = History::open(&path).unwrap();
            let mut s = TargetState::default();
            for (at, level) in [
                (0, Level::Ok),
                (300, Level::Critical),
                (330, Level::Critical),
            ] {
                let t = s.observe(level, at, 300, 1);
                h.record(
                    &check("example.com", at, level),
                    &s,
                    t.as_ref(),
                    &[("https://hook".into(), format!("{{\"at\":{at}}}"))],
                )
                .unwrap();
            }
        }
        let mut h = History::open(&path).unwrap();
        let states = h.states().unwrap();
        assert_eq!(states["example.com"].level, Some(Level::Critical));
        let checks = h.checks("example.com", 10).unwrap();
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[0].at, 330, "newest first");
        assert_eq!(
            h.probes(checks[0].id).unwrap()[0].reason.as_deref(),
            Some("no-match")
        );
        assert_eq!(h.nameservers(checks[0].id).unwrap()[0].serial, Some(7));
        let t = h.transitions("example.com", 10).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].from, t[0].to, t[0].at),
            (Level::Ok, Level::Critical, 330)
        );
        assert_eq!(
            h.latest_report("example.com").unwrap().as_deref(),
            Some("{\"at\":330}")
        );
        // The third check changed nothing: it shares the second's details.
        assert_eq!(
            h.probes(checks[0].id).unwrap(),
            h.probes(checks[1].id).unwrap()
        );
        let stored: String = h
            .conn
            .query_row(
                "SELECT report FROM checks WHERE id = ?1",
                params![checks[0].id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, "", "an unchanged report is not stored again");
        assert_eq!(h.prune(300).unwrap(), 1);
        assert_eq!(h.checks("example.com", 10).unwrap().len(), 2);
        assert!(
            h.probes(checks[2].id).unwrap().is_empty(),
            "the pruned check's probes went too"
        );
        assert_eq!(h.states().unwrap().len(), 1);
        // The outbox: one alert, for the one transition; delivered once, then gone.
        let pending = h.pending_alerts(5).unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0].2, "{\"at\":330}");
        h.alert_attempt(pending[0].0, 331, Some("connection refused"))
            .unwrap();
        assert_eq!(h.pending_alerts(5).unwrap().len(), 1, "retried");
        assert!(
            h.pending_alerts(1).unwrap().is_empty(),
            "up to the attempt limit"
        );
        h.alert_attempt(pending[0].0, 332, None).unwrap();
        assert!(h.pending_alerts(5).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_version_1_history_is_upgraded_in_place_and_keeps_everything() {
        let dir = std::env::temp_dir().join(format!("mxdane-monitor-v1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                 INSERT INTO meta VALUES ('schema', 1);
                 CREATE TABLE checks (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,
                     at INTEGER NOT NULL, level TEXT NOT NULL, duration_ms INTEGER NOT NULL,
                     problems TEXT NOT NULL, report TEXT NOT NULL);
                 CREATE TABLE probes (check_id INTEGER NOT NULL, host TEXT NOT NULL,
                     address TEXT NOT NULL, algorithm TEXT NOT NULL, result TEXT NOT NULL,
                     reason TEXT, matched TEXT, depth INTEGER);
                 INSERT INTO checks VALUES (1, 'a.example', 10, 'ok', 5, '[]', '{\"n\":1}');
                 INSERT INTO checks VALUES (2, 'a.example', 20, 'ok', 5, '[]', '{\"n\":2}');
                 INSERT INTO probes VALUES (2, 'mx', '192.0.2.1', 'ecdsa', 'verified', NULL, '3 1 1 aa', 0);",
            )
            .unwrap();
        }
        let mut h = History::open(&path).unwrap();
        let checks = h.checks("a.example", 10).unwrap();
        assert_eq!(checks.len(), 2);
        assert_eq!(h.probes(2).unwrap()[0].matched.as_deref(), Some("3 1 1 aa"));
        assert_eq!(
            h.latest_report("a.example").unwrap().as_deref(),
            Some("{\"n\":2}")
        );
        // And it goes on as version 2.
        let s = TargetState::default();
        h.record(&check("a.example", 30, Level::Ok), &s, None, &[])
            .unwrap();
        drop(h);
        assert_eq!(
            History::open(&path)
                .unwrap()
                .checks("a.example", 10)
                .unwrap()
                .len(),
            3
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
