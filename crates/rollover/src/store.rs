//! The event log: one row per event, appended before the action it announces, read back in
//! order to rebuild every lane (the Krill model: state is a fold of persisted events).
//! SQLite in WAL mode is the embedded store; [`Memory`] serves tests.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::Ts;
use crate::lane::Event;

/// Which lane an event belongs to: a service and a key algorithm.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LaneId {
    /// The service's name.
    pub service: String,
    /// `rsa` or `ecdsa`.
    pub algorithm: String,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Its position in the log (1, 2, ...).
    pub seq: i64,
    /// The lane.
    pub lane: LaneId,
    /// When it was written.
    pub at: Ts,
    /// The event.
    pub event: Event,
}

/// A store that cannot be read or written.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// An append-only event log.
pub trait Store {
    /// Appends an event; it is durable when this returns.
    fn append(&mut self, lane: &LaneId, at: Ts, event: &Event) -> Result<(), StoreError>;
    /// Every event, in order.
    fn events(&self) -> Result<Vec<Stored>, StoreError>;
}

/// Events in memory (tests; the property test "kills" an engine by dropping it).
#[derive(Clone, Debug, Default)]
pub struct Memory {
    events: Vec<Stored>,
}

impl Store for Memory {
    fn append(&mut self, lane: &LaneId, at: Ts, event: &Event) -> Result<(), StoreError> {
        let seq = i64::try_from(self.events.len()).unwrap_or(i64::MAX) + 1;
        self.events.push(Stored {
            seq,
            lane: lane.clone(),
            at,
            event: event.clone(),
        });
        Ok(())
    }

    fn events(&self) -> Result<Vec<Stored>, StoreError> {
        Ok(self.events.clone())
    }
}

/// The SQLite store.
pub struct Sqlite {
    conn: Connection,
    label: String,
}

const SCHEMA_VERSION: i64 = 1;

impl Sqlite {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let label = path.display().to_string();
        let err = |e: rusqlite::Error| StoreError(format!("{label}: {e}"));
        let conn = Connection::open(path).map_err(err)?;
        Self::init(conn, label)
    }

    /// A store in memory (tests of the SQL itself).
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError(format!("memory: {e}")))?;
        Self::init(conn, "memory".into())
    }

    fn init(conn: Connection, label: String) -> Result<Self, StoreError> {
        let err = |e: rusqlite::Error| StoreError(format!("{label}: {e}"));
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        // WAL: readers (status) never block the writer (run); FULL sync: an appended event
        // survives a power cut before its action happens.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 service TEXT NOT NULL,
                 algorithm TEXT NOT NULL,
                 at INTEGER NOT NULL,
                 event TEXT NOT NULL
             );",
        )
        .map_err(err)?;
        let version: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    params![SCHEMA_VERSION],
                )
                .map_err(err)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(StoreError(format!(
                    "{label}: schema version {v}, this mxdane reads {SCHEMA_VERSION}; nothing was changed"
                )));
            }
        }
        Ok(Self { conn, label })
    }
}

impl Store for Sqlite {
    fn append(&mut self, lane: &LaneId, at: Ts, event: &Event) -> Result<(), StoreError> {
        let text = serde_json::to_string(event)
            .map_err(|e| StoreError(format!("{}: cannot encode an event: {e}", self.label)))?;
        self.conn
            .execute(
                "INSERT INTO events (service, algorithm, at, event) VALUES (?1, ?2, ?3, ?4)",
                params![lane.service, lane.algorithm, at, text],
            )
            .map_err(|e| StoreError(format!("{}: {e}", self.label)))?;
        Ok(())
    }

    fn events(&self) -> Result<Vec<Stored>, StoreError> {
        let err = |e: rusqlite::Error| StoreError(format!("{}: {e}", self.label));
        let mut stmt = self
            .conn
            .prepare("SELECT seq, service, algorithm, at, event FROM events ORDER BY seq")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, service, algorithm, at, text) = row.map_err(err)?;
            let event = serde_json::from_str(&text).map_err(|e| {
                StoreError(format!(
                    "{}: event {seq} cannot be read ({e}); the store was written by another version or edited",
                    self.label
                ))
            })?;
            out.push(Stored {
                seq,
                lane: LaneId { service, algorithm },
                at,
                event,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lane::{Key, Lane};

    fn lane() -> LaneId {
        LaneId {
            service: "mail".into(),
            algorithm: "ecdsa".into(),
        }
    }

    #[test]
    fn sqlite_keeps_events_in_order_across_reopen() {
        let dir = std::env::temp_dir().join(format!("mxdane-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rollover.db");
        let e1 = Event::NextStaged {
            key: Key {
                spki_sha256: "aa".repeat(32),
                file: "k1".into(),
            },
        };
        let e2 = Event::Deployed { at: 7 };
        {
            let mut s = Sqlite::open(&path).unwrap();
            s.append(&lane(), 1, &e1).unwrap();
            s.append(&lane(), 2, &e2).unwrap();
        }
        let s = Sqlite::open(&path).unwrap();
        let got = s.events().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].seq, &got[0].event), (1, &e1));
        assert_eq!((got[1].at, &got[1].event), (2, &e2));
        let lane = Lane::fold(got.iter().map(|s| &s.event));
        assert!(lane.next.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_store_from_the_future_or_edited_is_refused_not_rewritten() {
        let s = Sqlite::in_memory().unwrap();
        s.conn
            .execute("INSERT INTO events (service, algorithm, at, event) VALUES ('a','b',0,'{\"event\":\"nope\"}')", [])
            .unwrap();
        let e = s.events().unwrap_err().to_string();
        assert!(e.contains("event 1 cannot be read"), "{e}");
        s.conn
            .execute("UPDATE meta SET value = 99 WHERE key = 'schema'", [])
            .unwrap();
        let e = Sqlite::init(s.conn, "x".into()).err().unwrap().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    }
}
