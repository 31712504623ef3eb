//! Where the history lives: SQLite on this machine ([`History`]), or PostgreSQL shared by a
//! fleet of instances ([`Fleet`]); the runner sees one interface.

use std::collections::BTreeMap;

use crate::Ts;
use crate::fleet::Fleet;
use crate::state::{Level, TargetState, Transition};
use crate::store::{CheckRecord, CheckSummary, History, NsRecord, ProbeRecord, StoreError};

/// The history, embedded or shared.
pub enum Store {
    /// One instance, one SQLite file.
    Sqlite(History),
    /// Any number of instances, one PostgreSQL database.
    Postgres(Fleet),
}

impl Store {
    /// Opens the history named by a configuration's `history`: a `postgres://` or
    /// `postgresql://` URL, or a file; `owner` names this instance among a fleet's.
    pub async fn open(location: &str, owner: &str) -> Result<Self, StoreError> {
        if is_postgres(location) {
            Ok(Self::Postgres(Fleet::connect(location, owner).await?))
        } else {
            Ok(Self::Sqlite(History::open(std::path::Path::new(location))?))
        }
    }

    /// The fleet, when the history is shared.
    pub fn fleet(&self) -> Option<&Fleet> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(f) => Some(f),
        }
    }

    /// See [`History::record`] and [`Fleet::record`].
    pub async fn record(
        &mut self,
        check: &CheckRecord,
        state: &TargetState,
        transition: Option<&Transition>,
        alerts: &[(String, String)],
    ) -> Result<i64, StoreError> {
        match self {
            Self::Sqlite(h) => h.record(check, state, transition, alerts),
            Self::Postgres(f) => f.record(check, state, transition, alerts).await,
        }
    }

    /// Every target's stored state.
    pub async fn states(&self) -> Result<BTreeMap<String, TargetState>, StoreError> {
        match self {
            Self::Sqlite(h) => h.states(),
            Self::Postgres(f) => f.states().await,
        }
    }

    /// The latest `limit` checks of a target, newest first.
    pub async fn checks(&self, target: &str, limit: u32) -> Result<Vec<CheckSummary>, StoreError> {
        match self {
            Self::Sqlite(h) => h.checks(target, limit),
            Self::Postgres(f) => f.checks(target, limit).await,
        }
    }

    /// A target's results since `since`, oldest first.
    pub async fn levels_since(
        &self,
        target: &str,
        since: Ts,
    ) -> Result<Vec<(Ts, Level)>, StoreError> {
        match self {
            Self::Sqlite(h) => h.levels_since(target, since),
            Self::Postgres(f) => f.levels_since(target, since).await,
        }
    }

    /// The probes of a check.
    pub async fn probes(&self, check: i64) -> Result<Vec<ProbeRecord>, StoreError> {
        match self {
            Self::Sqlite(h) => h.probes(check),
            Self::Postgres(f) => f.probes(check).await,
        }
    }

    /// The nameserver answers of a check.
    pub async fn nameservers(&self, check: i64) -> Result<Vec<NsRecord>, StoreError> {
        match self {
            Self::Sqlite(h) => h.nameservers(check),
            Self::Postgres(f) => f.nameservers(check).await,
        }
    }

    /// The latest report of a target.
    pub async fn latest_report(&self, target: &str) -> Result<Option<String>, StoreError> {
        match self {
            Self::Sqlite(h) => h.latest_report(target),
            Self::Postgres(f) => f.latest_report(target).await,
        }
    }

    /// The latest `limit` transitions of a target, newest first.
    pub async fn transitions(
        &self,
        target: &str,
        limit: u32,
    ) -> Result<Vec<Transition>, StoreError> {
        match self {
            Self::Sqlite(h) => h.transitions(target, limit),
            Self::Postgres(f) => f.transitions(target, limit).await,
        }
    }

    /// Alerts to deliver now (a fleet's are claimed by this instance).
    pub async fn pending_alerts(
        &self,
        max_attempts: u32,
        now: Ts,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        match self {
            Self::Sqlite(h) => h.pending_alerts(max_attempts),
            Self::Postgres(f) => f.pending_alerts(max_attempts, now).await,
        }
    }

    /// Records a delivery attempt.
    pub async fn alert_attempt(
        &mut self,
        id: i64,
        at: Ts,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(h) => h.alert_attempt(id, at, error),
            Self::Postgres(f) => f.alert_attempt(id, at, error).await,
        }
    }

    /// Deletes history older than `before`.
    pub async fn prune(&mut self, before: Ts) -> Result<usize, StoreError> {
        match self {
            Self::Sqlite(h) => h.prune(before),
            Self::Postgres(f) => f.prune(before).await,
        }
    }
}

/// Whether a configuration's `history` names a PostgreSQL database.
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}
