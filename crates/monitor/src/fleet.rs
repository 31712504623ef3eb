//! The history in PostgreSQL, for fleets: the SQLite history's tables, plus `leases`, through
//! which several monitor instances share one target list. An instance claims due targets a
//! batch at a time (`FOR UPDATE SKIP LOCKED`, so two instances never claim the same one), holds
//! each for `lease` seconds, and writes a check only while the lease is still its own (in the
//! check's transaction, which also hands the target back with its next due time). An instance
//! that dies keeps its claims until their leases end; then any other instance takes them. Alert
//! deliveries are claimed the same way, so each alert goes out from one instance.
//!
//! Times are the instances' own clocks (passed in, as everywhere in the monitor): keep the
//! machines of one fleet synchronised (NTP), as leases assume.
//!
//! The connection is not encrypted (tokio-postgres with `NoTls`): use a loopback address, a
//! Unix socket directory (`host=/run/postgresql`) or a tunnel.

use std::collections::BTreeMap;

use tokio_postgres::{Client, NoTls};

use crate::Ts;
use crate::state::{Level, TargetState, Transition};
use crate::store::{CheckRecord, CheckSummary, NsRecord, ProbeRecord, StoreError};

/// The PostgreSQL history and lease table.
pub struct Fleet {
    client: Client,
    label: String,
    /// Who this instance is, in the lease table.
    owner: String,
}

const SCHEMA_VERSION: i64 = 2;

fn err(label: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |e| StoreError(describe(label, &e))
}

/// A PostgreSQL error for people: the database (password hidden) and the server's own
/// message, which says more than the client's summary.
pub fn describe(label: &str, e: &tokio_postgres::Error) -> String {
    let detail = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned());
    format!("{label}: {detail}")
}

/// Connects to `url` without TLS (see the module's note); returns the client and the URL
/// with its password hidden, for messages.
pub async fn connect(url: &str) -> Result<(Client, String), String> {
    let label = redact(url);
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| describe(&label, &e))?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away; every later query then
        // fails with an error that names the database.
        let _ = connection.await;
    });
    Ok((client, label))
}

/// Hides a password in a connection string before it is shown anywhere.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None if url.contains("password") => "(a connection string with a password)".into(),
        None => url.to_owned(),
    }
}

impl Fleet {
    /// Connects to `url` (`postgres://user@host:port/db` or key=value pairs), creates the tables
    /// if they are missing, and names this instance `owner`.
    pub async fn connect(url: &str, owner: &str) -> Result<Self, StoreError> {
        let (mut client, label) = connect(url).await.map_err(StoreError)?;
        let e = err(&label);
        let tx = client.transaction().await.map_err(&e)?;
        // Two instances starting together must not both create the tables.
        tx.execute("SELECT pg_advisory_xact_lock(7672)", &[])
            .await
            .map_err(&e)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
             CREATE TABLE IF NOT EXISTS checks (
                 id BIGSERIAL PRIMARY KEY,
                 target TEXT NOT NULL, at BIGINT NOT NULL, level TEXT NOT NULL,
                 duration_ms BIGINT NOT NULL, problems TEXT NOT NULL, report TEXT NOT NULL,
                 detail BIGINT);
             CREATE INDEX IF NOT EXISTS checks_target ON checks (target, at);
             CREATE TABLE IF NOT EXISTS latest (target TEXT PRIMARY KEY, report TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS checks_at ON checks (at);
             CREATE TABLE IF NOT EXISTS probes (
                 check_id BIGINT NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
                 host TEXT NOT NULL, address TEXT NOT NULL, algorithm TEXT NOT NULL,
                 result TEXT NOT NULL, reason TEXT, matched TEXT, depth BIGINT);
             CREATE INDEX IF NOT EXISTS probes_check ON probes (check_id);
             CREATE TABLE IF NOT EXISTS nameservers (
                 check_id BIGINT NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
                 host TEXT NOT NULL, server TEXT NOT NULL, tlsa TEXT, serial BIGINT);
             CREATE INDEX IF NOT EXISTS nameservers_check ON nameservers (check_id);
             CREATE TABLE IF NOT EXISTS transitions (
                 id BIGSERIAL PRIMARY KEY,
                 target TEXT NOT NULL, at BIGINT NOT NULL,
                 from_level TEXT NOT NULL, to_level TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS states (target TEXT PRIMARY KEY, state TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS alerts (
                 id BIGSERIAL PRIMARY KEY,
                 destination TEXT NOT NULL, target TEXT NOT NULL, at BIGINT NOT NULL,
                 payload TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0,
                 sent_at BIGINT, last_error TEXT, claimed_until BIGINT);
             CREATE TABLE IF NOT EXISTS leases (
                 target TEXT PRIMARY KEY, next_check BIGINT NOT NULL DEFAULT 0,
                 owner TEXT, until BIGINT);",
        )
        .await
        .map_err(&e)?;
        let version: Option<i64> = tx
            .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
            .await
            .map_err(&e)?
            .map(|r| r.get(0));
        match version {
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', $1)",
                    &[&SCHEMA_VERSION],
                )
                .await
                .map_err(&e)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(StoreError(format!(
                    "{label}: history schema version {v}, this mxdane reads {SCHEMA_VERSION}; nothing was changed"
                )));
            }
        }
        tx.commit().await.map_err(&e)?;
        drop(e);
        Ok(Self {
            client,
            label,
            owner: owner.to_owned(),
        })
    }

    /// This instance's name in the lease table.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Adds the targets of this instance's configuration to the shared list (those already
    /// there keep their schedule).
    pub async fn register(&self, targets: &[String]) -> Result<(), StoreError> {
        self.client
            .execute(
                "INSERT INTO leases (target) SELECT unnest($1::text[]) ON CONFLICT (target) DO NOTHING",
                &[&targets],
            )
            .await
            .map(|_| ())
            .map_err(err(&self.label))
    }

    /// Claims up to `limit` of `targets` that are due at `now` and not leased by anyone, for
    /// `lease` seconds; returns them with their stored states (none for a new target).
    pub async fn claim(
        &self,
        targets: &[String],
        now: Ts,
        lease: Ts,
        limit: i64,
    ) -> Result<Vec<(String, Option<TargetState>)>, StoreError> {
        let e = err(&self.label);
        let rows = self
            .client
            .query(
                "WITH due AS (
                     SELECT target FROM leases
                     WHERE target = ANY($1) AND next_check <= $2 AND (until IS NULL OR until <= $2)
                     ORDER BY next_check, target LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 UPDATE leases l SET owner = $4, until = $2 + $5
                 FROM due WHERE l.target = due.target
                 RETURNING l.target, (SELECT state FROM states s WHERE s.target = l.target)",
                &[&targets, &now, &limit, &self.owner, &lease],
            )
            .await
            .map_err(&e)?;
        let mut out = Vec::new();
        for r in rows {
            let target: String = r.get(0);
            let state: Option<String> = r.get(1);
            let state = match state {
                Some(s) => Some(serde_json::from_str(&s).map_err(|x| {
                    StoreError(format!("{}: the state of {target}: {x}", self.label))
                })?),
                None => None,
            };
            out.push((target, state));
        }
        Ok(out)
    }

    /// Writes a check, the target's new state, its transition and alerts, and hands the target
    /// back due at `state.next_check`; refused (nothing written) when this instance's lease on
    /// the target has ended and another instance may have claimed it.
    pub async fn record(
        &mut self,
        check: &CheckRecord,
        state: &TargetState,
        transition: Option<&Transition>,
        alerts: &[(String, String)],
    ) -> Result<i64, StoreError> {
        let e = err(&self.label);
        let tx = self.client.transaction().await.map_err(&e)?;
        let held = tx
            .query_opt(
                "SELECT 1 FROM leases WHERE target = $1 AND owner = $2 FOR UPDATE",
                &[&check.target, &self.owner],
            )
            .await
            .map_err(&e)?;
        if held.is_none() {
            return Err(StoreError(format!(
                "{}: the lease on {} ended before its check was written; the check is dropped",
                self.label, check.target
            )));
        }
        let duration = i64::try_from(check.duration_ms).unwrap_or(i64::MAX);
        let problems = serde_json::to_string(&check.problems).unwrap_or_default();
        // As in SQLite: the previous check's details are shared when nothing in them changed.
        let previous: Option<(i64, String)> = tx
            .query_opt(
                "SELECT d.id, d.level FROM checks c JOIN checks d ON d.id = coalesce(c.detail, c.id)
                 WHERE c.target = $1 ORDER BY c.at DESC, c.id DESC LIMIT 1",
                &[&check.target],
            )
            .await
            .map_err(&e)?
            .map(|r| (r.get(0), r.get(1)));
        let reuse = match &previous {
            Some((d, level)) if level == check.level.name() => {
                probes_of(&tx, *d).await.map_err(&e)? == check.probes
                    && nameservers_of(&tx, *d).await.map_err(&e)? == check.nameservers
            }
            _ => false,
        };
        let report = if reuse { "" } else { check.report.as_str() };
        let id: i64 = tx
            .query_one(
                "INSERT INTO checks (target, at, level, duration_ms, problems, report)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &check.target,
                    &check.at,
                    &check.level.name(),
                    &duration,
                    &problems,
                    &report,
                ],
            )
            .await
            .map_err(&e)?
            .get(0);
        let detail = match (&previous, reuse) {
            (Some((d, _)), true) => *d,
            _ => id,
        };
        tx.execute(
            "UPDATE checks SET detail = $2 WHERE id = $1",
            &[&id, &detail],
        )
        .await
        .map_err(&e)?;
        tx.execute(
            "INSERT INTO latest (target, report) VALUES ($1, $2)
             ON CONFLICT (target) DO UPDATE SET report = excluded.report",
            &[&check.target, &check.report],
        )
        .await
        .map_err(&e)?;
        let (probes, nameservers) = if reuse {
            (&[][..], &[][..])
        } else {
            (&check.probes[..], &check.nameservers[..])
        };
        for p in probes {
            let depth = p.depth.map(i64::from);
            tx.execute(
                "INSERT INTO probes (check_id, host, address, algorithm, result, reason, matched, depth)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&id, &p.host, &p.address, &p.algorithm, &p.result, &p.reason, &p.matched, &depth],
            )
            .await
            .map_err(&e)?;
        }
        for n in nameservers {
            let serial = n.serial.map(i64::from);
            tx.execute(
                "INSERT INTO nameservers (check_id, host, server, tlsa, serial)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&id, &n.host, &n.server, &n.tlsa, &serial],
            )
            .await
            .map_err(&e)?;
        }
        if let Some(t) = transition {
            tx.execute(
                "INSERT INTO transitions (target, at, from_level, to_level) VALUES ($1, $2, $3, $4)",
                &[&check.target, &t.at, &t.from.name(), &t.to.name()],
            )
            .await
            .map_err(&e)?;
            for (destination, payload) in alerts {
                tx.execute(
                    "INSERT INTO alerts (destination, target, at, payload) VALUES ($1, $2, $3, $4)",
                    &[destination, &check.target, &t.at, payload],
                )
                .await
                .map_err(&e)?;
            }
        }
        let json = serde_json::to_string(state).unwrap_or_default();
        tx.execute(
            "INSERT INTO states (target, state) VALUES ($1, $2)
             ON CONFLICT (target) DO UPDATE SET state = excluded.state",
            &[&check.target, &json],
        )
        .await
        .map_err(&e)?;
        tx.execute(
            "UPDATE leases SET next_check = $2, owner = NULL, until = NULL WHERE target = $1",
            &[&check.target, &state.next_check],
        )
        .await
        .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(id)
    }

    /// Every target's stored state.
    pub async fn states(&self) -> Result<BTreeMap<String, TargetState>, StoreError> {
        let rows = self
            .client
            .query("SELECT target, state FROM states", &[])
            .await
            .map_err(err(&self.label))?;
        let mut out = BTreeMap::new();
        for r in rows {
            let (target, state): (String, String) = (r.get(0), r.get(1));
            let state = serde_json::from_str(&state)
                .map_err(|x| StoreError(format!("{}: the state of {target}: {x}", self.label)))?;
            out.insert(target, state);
        }
        Ok(out)
    }

    /// The latest `limit` checks of a target, newest first.
    pub async fn checks(&self, target: &str, limit: u32) -> Result<Vec<CheckSummary>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT id, at, level, duration_ms, problems FROM checks WHERE target = $1
                 ORDER BY at DESC, id DESC LIMIT $2",
                &[&target, &i64::from(limit)],
            )
            .await
            .map_err(err(&self.label))?;
        Ok(rows
            .iter()
            .map(|r| CheckSummary {
                id: r.get(0),
                at: r.get(1),
                level: Level::parse(r.get(2)).unwrap_or(Level::Unknown),
                duration_ms: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
                problems: serde_json::from_str(r.get(4)).unwrap_or_default(),
            })
            .collect())
    }

    /// A target's check results since `since`, oldest first.
    pub async fn levels_since(
        &self,
        target: &str,
        since: Ts,
    ) -> Result<Vec<(Ts, Level)>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT at, level FROM checks WHERE target = $1 AND at >= $2 ORDER BY at, id",
                &[&target, &since],
            )
            .await
            .map_err(err(&self.label))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), Level::parse(r.get(1)).unwrap_or(Level::Unknown)))
            .collect())
    }

    /// The probes of a check (those of the check whose details it shares).
    pub async fn probes(&self, check: i64) -> Result<Vec<ProbeRecord>, StoreError> {
        let e = err(&self.label);
        let d = detail_of(&self.client, check).await.map_err(&e)?;
        probes_of(&self.client, d).await.map_err(&e)
    }

    /// The nameserver answers of a check (those of the check whose details it shares).
    pub async fn nameservers(&self, check: i64) -> Result<Vec<NsRecord>, StoreError> {
        let e = err(&self.label);
        let d = detail_of(&self.client, check).await.map_err(&e)?;
        nameservers_of(&self.client, d).await.map_err(&e)
    }

    /// The whole report of the latest check of a target.
    pub async fn latest_report(&self, target: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .client
            .query_opt("SELECT report FROM latest WHERE target = $1", &[&target])
            .await
            .map_err(err(&self.label))?
            .map(|r| r.get(0)))
    }

    /// The latest `limit` transitions of a target, newest first.
    pub async fn transitions(
        &self,
        target: &str,
        limit: u32,
    ) -> Result<Vec<Transition>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT at, from_level, to_level FROM transitions WHERE target = $1
                 ORDER BY at DESC, id DESC LIMIT $2",
                &[&target, &i64::from(limit)],
            )
            .await
            .map_err(err(&self.label))?;
        Ok(rows
            .iter()
            .map(|r| Transition {
                at: r.get(0),
                from: Level::parse(r.get(1)).unwrap_or(Level::Unknown),
                to: Level::parse(r.get(2)).unwrap_or(Level::Unknown),
            })
            .collect())
    }

    /// Claims the alerts not yet delivered and tried fewer than `max_attempts` times (each for
    /// a minute, so that one instance sends it): `(id, destination, payload)`, oldest first.
    pub async fn pending_alerts(
        &self,
        max_attempts: u32,
        now: Ts,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = self
            .client
            .query(
                "WITH due AS (
                     SELECT id FROM alerts
                     WHERE sent_at IS NULL AND attempts < $1
                       AND (claimed_until IS NULL OR claimed_until <= $2)
                     ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED)
                 UPDATE alerts a SET claimed_until = $2 + 60 FROM due WHERE a.id = due.id
                 RETURNING a.id, a.destination, a.payload",
                &[&i64::from(max_attempts), &now],
            )
            .await
            .map_err(err(&self.label))?;
        let mut out: Vec<(i64, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        out.sort_by_key(|a| a.0);
        Ok(out)
    }

    /// Records a delivery attempt: sent at `at`, or failed with `error`.
    pub async fn alert_attempt(
        &self,
        id: i64,
        at: Ts,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let r = match error {
            None => self
                .client
                .execute(
                    "UPDATE alerts SET attempts = attempts + 1, sent_at = $2, last_error = NULL,
                         claimed_until = NULL WHERE id = $1",
                    &[&id, &at],
                )
                .await,
            Some(x) => {
                self.client
                    .execute(
                        "UPDATE alerts SET attempts = attempts + 1, last_error = $2,
                         claimed_until = NULL WHERE id = $1",
                        &[&id, &x],
                    )
                    .await
            }
        };
        r.map(|_| ()).map_err(err(&self.label))
    }

    /// Deletes checks (with their probes and nameserver answers) and transitions older than
    /// `before`, but not a check whose details a newer one shares; returns how many checks went.
    pub async fn prune(&mut self, before: Ts) -> Result<usize, StoreError> {
        let e = err(&self.label);
        let tx = self.client.transaction().await.map_err(&e)?;
        let n = tx
            .execute(
                "DELETE FROM checks WHERE at < $1 AND id NOT IN
                 (SELECT detail FROM checks WHERE at >= $1 AND detail IS NOT NULL)",
                &[&before],
            )
            .await
            .map_err(&e)?;
        tx.execute("DELETE FROM transitions WHERE at < $1", &[&before])
            .await
            .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

/// The check whose details `check` shares (itself when it has its own).
async fn detail_of(
    c: &impl tokio_postgres::GenericClient,
    check: i64,
) -> Result<i64, tokio_postgres::Error> {
    Ok(c.query_opt(
        "SELECT coalesce(detail, id) FROM checks WHERE id = $1",
        &[&check],
    )
    .await?
    .map_or(check, |r| r.get(0)))
}

async fn probes_of(
    c: &impl tokio_postgres::GenericClient,
    check: i64,
) -> Result<Vec<ProbeRecord>, tokio_postgres::Error> {
    let rows = c
        .query(
            "SELECT host, address, algorithm, result, reason, matched, depth FROM probes
             WHERE check_id = $1 ORDER BY ctid",
            &[&check],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ProbeRecord {
            host: r.get(0),
            address: r.get(1),
            algorithm: r.get(2),
            result: r.get(3),
            reason: r.get(4),
            matched: r.get(5),
            depth: r
                .get::<_, Option<i64>>(6)
                .and_then(|d| u32::try_from(d).ok()),
        })
        .collect())
}

async fn nameservers_of(
    c: &impl tokio_postgres::GenericClient,
    check: i64,
) -> Result<Vec<NsRecord>, tokio_postgres::Error> {
    let rows = c
        .query(
            "SELECT host, server, tlsa, serial FROM nameservers WHERE check_id = $1 ORDER BY ctid",
            &[&check],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| NsRecord {
            host: r.get(0),
            server: r.get(1),
            tlsa: r.get(2),
            serial: r
                .get::<_, Option<i64>>(3)
                .and_then(|s| u32::try_from(s).ok()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://mon:s3cret@db.example:5432/mxdane"),
            "postgres://mon@db.example:5432/mxdane"
        );
        assert_eq!(
            redact("postgres://mon@127.0.0.1/mxdane"),
            "postgres://mon@127.0.0.1/mxdane"
        );
        assert!(!redact("host=db password=s3cret").contains("s3cret"));
    }
}
