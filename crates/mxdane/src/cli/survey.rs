//! `mxdane survey`: the command line of issue 17's survey.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use mxdane::check::Options;
use mxdane::survey::{Domains, Survey, SurveyOptions};
use mxdane::survey_table::Tables;
use mxdane_smtp::Settings;

use crate::Failure;

pub(crate) const SURVEY_EXIT_CODES: &str = "\
Exit status:
  0  every domain of the input surveyed (whatever the outcomes)
  2  bad input or usage
  3  the input, the output, the summary or the chart cannot be read or written";

#[derive(Args, Debug)]
pub(crate) struct SurveyArgs {
    /// Domains, one per line (`#` comments, blank lines and repeats are skipped); `-` or
    /// nothing: standard input.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write the JSON lines here instead of standard output (needed by --resume).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Continue an interrupted run: keep the domains already in --output, survey the rest.
    #[arg(long, requires = "output")]
    resume: bool,
    /// Plan only: DNSSEC and TLSA, no SMTP.
    #[arg(long)]
    dns_only: bool,
    /// Domains in progress at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    concurrency: u16,
    /// SMTP sessions open to one IP address at once.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    per_address: u16,
    /// At most N domains a second per set of authoritative nameservers (each domain's NS
    /// RRset is asked first; a domain that is not a zone apex goes by its parent).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    ns_rate: Option<u32>,
    /// Write the summary (counts per outcome) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Write the summary as an SVG bar chart to this file.
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Also write the results as CSV (one row per domain) to this file.
    #[arg(long, value_name = "FILE", conflicts_with = "queue")]
    csv: Option<PathBuf>,
    /// Also write the results as Parquet (one row per domain) to this file.
    #[arg(long, value_name = "FILE", conflicts_with = "queue")]
    parquet: Option<PathBuf>,
    /// Work from a queue in PostgreSQL shared by any number of workers: the input (if given)
    /// is added to it, then batches are claimed and surveyed until none is left.
    #[arg(long, value_name = "postgres://...", conflicts_with_all = ["output", "resume"])]
    queue: Option<String>,
    /// With --queue: print the summary of every result so far instead of working.
    #[arg(long, requires = "queue")]
    report: bool,
    /// With --queue: domains per batch when adding the input.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// With --queue: seconds a claimed batch stays this worker's (a worker that dies gives
    /// its batch back after this long).
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u32).range(30..=86_400))]
    lease: u32,
    #[command(flatten)]
    dns: crate::cli::dns::ResolverArgs,
    /// Send connections for ADDR:PORT to ADDR2:PORT2 (labs and staging). Repeatable.
    #[arg(long, value_name = "ADDR:PORT=ADDR:PORT")]
    route: Vec<String>,
}

/// Failures of files: exit 3.
fn io_failure(msg: String) -> u8 {
    eprintln!("mxdane: {}", crate::printable(&msg));
    3
}

pub(crate) fn run(a: &SurveyArgs) -> Result<u8, Failure> {
    let (env, _server) = crate::cli::check::environment(&a.dns, a.dns.timeout, &a.route)?;
    let env = mxdane::check::Environment {
        connector: env
            .connector
            .clone()
            .limit_per_address(usize::from(a.per_address)),
        ..env
    };
    let step = Duration::from_secs(a.dns.timeout.max(1));
    let options = SurveyOptions {
        scope: if a.dns_only {
            mxdane::survey::Scope::DnsOnly
        } else {
            mxdane::survey::Scope::Probe
        },
        concurrency: usize::from(a.concurrency),
        ns_rate: a.ns_rate,
        probe: Options {
            settings: Settings {
                step,
                total: step * 3,
                ..Settings::default()
            },
            ..Options::default()
        },
    };
    if let Some(url) = &a.queue {
        return queue(a, url, env, options);
    }
    let input: Box<dyn BufRead> = match &a.input {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => return Ok(io_failure(format!("{}: cannot read: {e}", p.display()))),
        },
    };
    let skip = match (&a.output, a.resume) {
        (Some(p), true) => match mxdane::survey::resume_point(p) {
            Ok(n) => n,
            Err(e) => return Ok(io_failure(e)),
        },
        _ => 0,
    };
    let mut out: Box<dyn Write> = match &a.output {
        None => Box::new(std::io::stdout().lock()),
        Some(p) => {
            let mut o = std::fs::OpenOptions::new();
            if a.resume {
                o.append(true).create(true);
            } else {
                o.write(true).create(true).truncate(true);
            }
            match o.open(p) {
                Ok(f) => Box::new(f),
                Err(e) => return Ok(io_failure(format!("{}: cannot write: {e}", p.display()))),
            }
        }
    };
    let mut tables = match Tables::create(a.csv.as_deref(), a.parquet.as_deref()) {
        Ok(t) => t,
        Err(e) => return Ok(io_failure(e)),
    };
    // After --resume the tables start with the lines already in the output.
    if skip > 0
        && tables.wanted()
        && let Some(p) = &a.output
        && let Err(e) = replay(p, &mut tables)
    {
        return Ok(io_failure(e));
    }
    let mut table_error = None;
    let survey = Survey::new(env, options);
    let mut domains = Domains::new(input);
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} domains, {per_sec}, {elapsed} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.set_position(skip);
        b
    });
    let started = Instant::now();
    let mut counts = mxdane::survey::Summary::default();
    let result = crate::block_on(mxdane::survey::run(
        &survey,
        &mut domains,
        skip,
        &mut out,
        |line| {
            counts.add(line);
            if tables.wanted()
                && table_error.is_none()
                && let Err(e) = serde_json::to_value(line)
                    .map_err(|e| e.to_string())
                    .and_then(|v| tables.add(&v))
            {
                table_error = Some(e);
            }
            if let Some(b) = &bar {
                b.inc(1);
                if b.position() % 64 == 0 {
                    b.set_message(
                        counts
                            .outcomes
                            .iter()
                            .map(|(o, n)| format!("{o} {n}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                }
            }
        },
    ))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    drop(out);
    let mut summary = match result {
        Ok(s) => s,
        Err(e) => return Ok(io_failure(e)),
    };
    if let Some(e) = &domains.error {
        return Ok(io_failure(e.clone()));
    }
    if let Some(e) = table_error {
        return Ok(io_failure(e));
    }
    if let Err(e) = tables.finish() {
        return Ok(io_failure(e));
    }
    // After --resume, the summary is the whole run's, read back from the output.
    if skip > 0
        && let Some(p) = &a.output
    {
        let probes = summary.probes;
        summary = match mxdane::survey::summarise(p) {
            Ok(s) => s,
            Err(e) => return Ok(io_failure(e)),
        };
        summary.probes = probes;
    }
    if let Some(p) = &a.summary {
        let json = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(p, json) {
            return Ok(io_failure(format!("{}: cannot write: {e}", p.display())));
        }
    }
    if let Some(p) = &a.chart
        && let Err(e) = std::fs::write(p, summary.svg())
    {
        return Ok(io_failure(format!("{}: cannot write: {e}", p.display())));
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}{:.1} domains per second",
        summary.text(),
        (summary.domains.saturating_sub(skip)) as f64 / secs.max(0.001)
    );
    Ok(0)
}

/// Feeds the lines of a survey output to `tables`.
fn replay(output: &std::path::Path, tables: &mut Tables) -> Result<(), String> {
    let f = std::fs::File::open(output)
        .map_err(|e| format!("{}: cannot read: {e}", output.display()))?;
    for l in std::io::BufReader::new(f).lines() {
        let l = l.map_err(|e| format!("{}: cannot read: {e}", output.display()))?;
        if l.is_empty() {
            continue;
        }
        let v = serde_json::from_str(&l)
            .map_err(|e| format!("{}: not a survey output: {e}", output.display()))?;
        tables.add(&v)?;
    }
    Ok(())
}

/// `--queue`: add the input (if any), then work until no batch is left; or `--report`.
fn queue(
    a: &SurveyArgs,
    url: &str,
    env: mxdane::check::Environment,
    options: SurveyOptions,
) -> Result<u8, Failure> {
    use mxdane::survey_queue::{Queue, work};
    let owner = mxdane::alerts::instance_owner();
    let concurrency = options.concurrency;
    let now = || time::OffsetDateTime::now_utc().unix_timestamp();
    let result = crate::block_on(async {
        let mut q = Queue::connect(url, &owner).await?;
        if a.report {
            return q.report().await.map(|r| (r, 0, 0));
        }
        let mut added = 0;
        if let Some(p) = &a.input {
            let reader: Box<dyn BufRead> = if p.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(p)
                        .map_err(|e| format!("{}: cannot read: {e}", p.display()))?,
                ))
            };
            let mut domains = Domains::new(reader);
            added = q.load(&mut domains, a.batch as usize).await?;
            if let Some(e) = domains.error {
                return Err(e);
            }
        }
        let shared = Queue::shared_probes(url).await?;
        let survey = Survey::new(env, options).with_shared(shared);
        let done = work(&mut q, &survey, i64::from(a.lease), concurrency, now).await?;
        q.report().await.map(|r| (r, added, done))
    })?;
    let ((summary, left), added, done) = match result {
        Ok(r) => r,
        Err(e) => return Ok(io_failure(e)),
    };
    if let Some(p) = &a.summary {
        let json = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(p, json) {
            return Ok(io_failure(format!("{}: cannot write: {e}", p.display())));
        }
    }
    if let Some(p) = &a.chart
        && let Err(e) = std::fs::write(p, summary.svg())
    {
        return Ok(io_failure(format!("{}: cannot write: {e}", p.display())));
    }
    if !a.report {
        eprintln!(
            "mxdane survey: added {added} domains to the queue; surveyed {done}; {left} still queued or leased elsewhere"
        );
    }
    eprint!("{}", summary.text());
    Ok(0)
}
