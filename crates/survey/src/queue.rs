//! The survey beyond one machine (issue 17): a PostgreSQL database holds the domains in
//! numbered batches, the results and the probe results. Any number of workers, on any number
//! of machines, claim a batch at a time (`FOR UPDATE SKIP LOCKED`, under a lease), survey it,
//! and write its results and mark it done in one transaction, only while their lease holds;
//! a worker that dies leaves its batch to be claimed again when the lease ends. Probe results
//! are shared through the database, so a host is probed once for the whole fleet (or, when
//! two workers reach it at once, once by each). No protocol of our own: the database is the
//! only coordinator.
//!
//! Times are the workers' clocks (passed in): keep the machines synchronised. The connection
//! is not encrypted (tokio-postgres with `NoTls`): use loopback, a Unix socket or a tunnel.

use std::sync::Arc;

use tokio_postgres::{Client, NoTls};

use crate::{DomainLine, ProbeOutcome, SharedProbes, Summary, Survey};

/// A connection to the queue.
pub struct Queue {
    client: Client,
    label: String,
    owner: String,
}

fn err(label: &str) -> impl Fn(tokio_postgres::Error) -> String + '_ {
    move |e| {
        let detail = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_owned());
        format!("{label}: {detail}")
    }
}

/// The queue's URL with any password left out, for messages: `scheme://user@host/db`, or a
/// placeholder for key=value strings that hold one.
fn label(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                format!("{scheme}://{}@{host}", user.split(':').next().unwrap_or(""))
            }
            None => url.to_owned(),
        },
        None if url.contains("password") => "(a connection string with a password)".into(),
        None => url.to_owned(),
    }
}

/// Connects without TLS (see the module's note); the connection's task ends when the client
/// is dropped or the server goes away, and every later query then fails naming the queue.
async fn connect(url: &str) -> Result<(Client, String), String> {
    let label = label(url);
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| err(&label)(e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, label))
}

impl Queue {
    /// Connects to `url`, creating the tables if they are missing; `owner` names this worker
    /// in the leases.
    pub async fn connect(url: &str, owner: &str) -> Result<Self, String> {
        let (mut client, label) = connect(url).await?;
        let e = err(&label);
        let tx = client.transaction().await.map_err(&e)?;
        // Workers starting together must not both create the tables.
        tx.execute("SELECT pg_advisory_xact_lock(7673)", &[])
            .await
            .map_err(&e)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS survey_batches (
                 id BIGSERIAL PRIMARY KEY, owner TEXT, until BIGINT,
                 done BOOLEAN NOT NULL DEFAULT false);
             CREATE TABLE IF NOT EXISTS survey_domains (
                 domain TEXT PRIMARY KEY, batch BIGINT NOT NULL REFERENCES survey_batches (id),
                 position BIGINT NOT NULL);
             CREATE INDEX IF NOT EXISTS survey_domains_batch ON survey_domains (batch, position);
             CREATE TABLE IF NOT EXISTS survey_results (
                 domain TEXT PRIMARY KEY, batch BIGINT NOT NULL, position BIGINT NOT NULL,
                 outcome TEXT NOT NULL, broken TEXT, worker TEXT NOT NULL, line TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS survey_probes (
                 key TEXT PRIMARY KEY, result TEXT NOT NULL, reason TEXT);",
        )
        .await
        .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        drop(e);
        Ok(Self {
            client,
            label,
            owner: owner.to_owned(),
        })
    }

    /// Adds `domains` in batches of `batch` (a domain already queued is skipped); returns how
    /// many were added.
    pub async fn load(
        &mut self,
        domains: impl Iterator<Item = String>,
        batch: usize,
    ) -> Result<u64, String> {
        let batch = batch.max(1);
        let mut added = 0;
        let mut chunk: Vec<String> = Vec::with_capacity(batch);
        let mut domains = domains.peekable();
        while domains.peek().is_some() {
            chunk.clear();
            chunk.extend(domains.by_ref().take(batch));
            added += self.load_batch(&chunk).await?;
        }
        Ok(added)
    }

    async fn load_batch(&mut self, chunk: &[String]) -> Result<u64, String> {
        let e = err(&self.label);
        let tx = self.client.transaction().await.map_err(&e)?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO survey_batches DEFAULT VALUES RETURNING id",
                &[],
            )
            .await
            .map_err(&e)?
            .get(0);
        let positions: Vec<i64> = (0..i64::try_from(chunk.len()).unwrap_or(0)).collect();
        let n = tx
            .execute(
                "INSERT INTO survey_domains (domain, batch, position)
                 SELECT d, $2, p FROM unnest($1::text[], $3::bigint[]) AS t(d, p)
                 ON CONFLICT (domain) DO NOTHING",
                &[&chunk, &id, &positions],
            )
            .await
            .map_err(&e)?;
        if n == 0 {
            // Every domain was queued before: no empty batch is left behind.
            tx.rollback().await.map_err(&e)?;
            return Ok(0);
        }
        tx.commit().await.map_err(&e)?;
        Ok(n)
    }

    /// Claims one batch not done and not leased at `now`, for `lease` seconds: its id and
    /// domains, in their input order.
    pub async fn claim(&self, now: i64, lease: i64) -> Result<Option<(i64, Vec<String>)>, String> {
        let e = err(&self.label);
        let row = self
            .client
            .query_opt(
                "WITH b AS (
                     SELECT id FROM survey_batches
                     WHERE NOT done AND (until IS NULL OR until <= $1)
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 UPDATE survey_batches s SET owner = $2, until = $1 + $3 FROM b
                 WHERE s.id = b.id RETURNING s.id",
                &[&now, &self.owner, &lease],
            )
            .await
            .map_err(&e)?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.get(0);
        let domains = self
            .client
            .query(
                "SELECT domain FROM survey_domains WHERE batch = $1 ORDER BY position",
                &[&id],
            )
            .await
            .map_err(&e)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(Some((id, domains)))
    }

    /// Writes a batch's results and marks it done, in one transaction, if this worker's lease
    /// on it still holds; refused otherwise (another worker may have claimed it).
    pub async fn finish(
        &mut self,
        batch: i64,
        lines: &[(String, DomainLine)],
    ) -> Result<(), String> {
        let e = err(&self.label);
        let tx = self.client.transaction().await.map_err(&e)?;
        let held = tx
            .query_opt(
                "SELECT 1 FROM survey_batches WHERE id = $1 AND owner = $2 AND NOT done FOR UPDATE",
                &[&batch, &self.owner],
            )
            .await
            .map_err(&e)?;
        if held.is_none() {
            return Err(format!(
                "{}: batch {batch}: the lease ended before its results were written; they are dropped",
                self.label
            ));
        }
        for (position, (queued, line)) in lines.iter().enumerate() {
            let text = serde_json::to_string(line).map_err(|x| x.to_string())?;
            let position = i64::try_from(position).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO survey_results (domain, batch, position, outcome, broken, worker, line)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (domain) DO NOTHING",
                &[queued, &batch, &position, &line.outcome.name(), &line.broken, &self.owner, &text],
            )
            .await
            .map_err(&e)?;
        }
        tx.execute(
            "UPDATE survey_batches SET done = true, owner = NULL, until = NULL WHERE id = $1",
            &[&batch],
        )
        .await
        .map_err(&e)?;
        tx.commit().await.map_err(&e)
    }

    /// The summary of every result so far, and how many domains are still to do.
    pub async fn report(&self) -> Result<(Summary, i64), String> {
        let e = err(&self.label);
        let mut s = Summary::default();
        for r in self
            .client
            .query(
                "SELECT outcome, broken, count(*) FROM survey_results GROUP BY 1, 2",
                &[],
            )
            .await
            .map_err(&e)?
        {
            let (outcome, broken, n): (String, Option<String>, i64) =
                (r.get(0), r.get(1), r.get(2));
            let n = u64::try_from(n).unwrap_or(0);
            *s.outcomes.entry(crate::outcome_name(&outcome)).or_default() += n;
            if let Some(b) = broken {
                *s.broken.entry(b).or_default() += n;
            }
            s.domains += n;
        }
        s.probes = u64::try_from(
            self.client
                .query_one("SELECT count(*) FROM survey_probes", &[])
                .await
                .map_err(&e)?
                .get::<_, i64>(0),
        )
        .unwrap_or(0);
        let left: i64 = self
            .client
            .query_one(
                "SELECT count(*) FROM survey_domains d JOIN survey_batches b ON b.id = d.batch WHERE NOT b.done",
                &[],
            )
            .await
            .map_err(&e)?
            .get(0);
        Ok((s, left))
    }

    /// Probe results shared through this database (a connection of their own).
    pub async fn shared_probes(url: &str) -> Result<Arc<dyn SharedProbes>, String> {
        let (client, _) = connect(url).await?;
        Ok(Arc::new(PgProbes { client }))
    }
}

struct PgProbes {
    client: Client,
}

impl SharedProbes for PgProbes {
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<ProbeOutcome>> + Send + 'a>>
    {
        Box::pin(async move {
            self.client
                .query_opt(
                    "SELECT result, reason FROM survey_probes WHERE key = $1",
                    &[&key],
                )
                .await
                .ok()
                .flatten()
                .map(|r| (r.get(0), r.get(1)))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        outcome: &'a ProbeOutcome,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            // A lost write only costs another worker a probe of its own.
            let _ = self
                .client
                .execute(
                    "INSERT INTO survey_probes (key, result, reason) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO NOTHING",
                    &[&key, &outcome.0, &outcome.1],
                )
                .await;
        })
    }
}

/// Works the queue: claims batches, surveys them (concurrently within a batch), writes their
/// results, until no batch is left to claim at the time `now()` gives; returns how many
/// domains this worker wrote. Bounded: each loop either finishes a batch or stops.
pub async fn work(
    queue: &mut Queue,
    survey: &Survey,
    lease: i64,
    concurrency: usize,
    now: impl Fn() -> i64,
) -> Result<u64, String> {
    use futures_util::StreamExt;
    let mut written = 0;
    while let Some((batch, domains)) = queue.claim(now(), lease).await? {
        let lines: Vec<(String, DomainLine)> = futures_util::stream::iter(domains)
            .map(|d| async move {
                let line = survey.domain(&d).await;
                (d, line)
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
        queue.finish(batch, &lines).await?;
        written += lines.len() as u64;
    }
    Ok(written)
}
