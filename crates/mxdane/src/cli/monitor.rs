//! `mxdane monitor`: the daemon's command line (issue 16).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use mxdane::monitor::Monitor;
use mxdane_monitor::config::Config;
use mxdane_monitor::db::Store;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Failure;

pub(crate) const MONITOR_EXIT_CODES: &str = "\
Exit status:
  0  stopped by SIGTERM or SIGINT after finishing the running checks (SIGHUP reloads the
     configuration); --check-config: the
     configuration is good; history: printed
  2  bad input or usage (configuration, target)
  3  the history or the listen address cannot be used";

#[derive(Args, Debug)]
pub(crate) struct MonitorArgs {
    /// The configuration file (TOML; see --print-config).
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        default_value = "/etc/mxdane/monitor.toml"
    )]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// Print the effective configuration, every default written out, and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    dns: crate::cli::dns::ResolverArgs,
    /// Send connections for ADDR:PORT to ADDR2:PORT2 (labs and staging). Repeatable.
    #[arg(long, value_name = "ADDR:PORT=ADDR:PORT")]
    route: Vec<String>,
    /// Stop after this many rounds (tests and drills; 0: run until signalled).
    #[arg(long, value_name = "N", default_value_t = 0, hide = true)]
    rounds: u64,
    #[command(subcommand)]
    command: Option<MonitorCommand>,
}

#[derive(Subcommand, Debug)]
enum MonitorCommand {
    /// Print a target's stored checks (newest first) and state changes.
    History(HistoryArgs),
}

#[derive(Args, Debug)]
struct HistoryArgs {
    /// The target: a domain, or HOST:PORT for a host target.
    target: String,
    /// How many checks.
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

fn show(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn run(a: &MonitorArgs, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let config = Config::read(&a.config).map_err(|e| Failure(e.to_string()))?;
    if a.check_config {
        say!(
            out,
            "{}: good ({} targets)",
            a.config.display(),
            config.targets.len()
        );
        return Ok(0);
    }
    if a.print_config {
        say!(out, "{}", config.effective().trim_end());
        return Ok(0);
    }
    if let Some(MonitorCommand::History(h)) = &a.command {
        return history(&config, h, json, out);
    }
    daemon(a, config)
}

fn history(
    config: &Config,
    h: &HistoryArgs,
    json: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    if !config.is_fleet() && !config.history.exists() {
        return Err(Failure(format!(
            "{}: no history yet (the monitor has not run)",
            config.history.display()
        )));
    }
    let target = h.target.trim_end_matches('.').to_ascii_lowercase();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start the async runtime: {e}")))?;
    let (checks, transitions) = runtime
        .block_on(async {
            let store = Store::open(&config.history_location(), "history").await?;
            Ok::<_, mxdane_monitor::store::StoreError>((
                store.checks(&target, h.limit).await?,
                store.transitions(&target, h.limit).await?,
            ))
        })
        .map_err(|e| Failure(e.to_string()))?;
    if checks.is_empty() && !config.targets.iter().any(|t| t.name() == target) {
        return Err(Failure(format!(
            "no target {target} in the configuration or the history (targets: {})",
            config
                .targets
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if json {
        #[derive(Serialize)]
        struct CheckView {
            at: String,
            duration_ms: u64,
            problems: Vec<String>,
            state: &'static str,
        }
        #[derive(Serialize)]
        struct TransitionView {
            at: String,
            from: &'static str,
            to: &'static str,
        }
        #[derive(Serialize)]
        struct View {
            checks: Vec<CheckView>,
            target: String,
            transitions: Vec<TransitionView>,
        }
        crate::say_json(
            out,
            &View {
                checks: checks
                    .iter()
                    .map(|c| CheckView {
                        at: show(c.at),
                        duration_ms: c.duration_ms,
                        problems: c.problems.clone(),
                        state: c.level.name(),
                    })
                    .collect(),
                target,
                transitions: transitions
                    .iter()
                    .map(|t| TransitionView {
                        at: show(t.at),
                        from: t.from.name(),
                        to: t.to.name(),
                    })
                    .collect(),
            },
        )?;
        return Ok(0);
    }
    say!(out, "{target}: the last {} checks", checks.len());
    for c in &checks {
        say!(
            out,
            "  {}  {:<8}  {:>6} ms  {}",
            show(c.at),
            c.level.name(),
            c.duration_ms,
            c.problems.first().map_or("", String::as_str)
        );
    }
    for t in &transitions {
        say!(
            out,
            "  {}  changed from {} to {}",
            show(t.at),
            t.from.name(),
            t.to.name()
        );
    }
    Ok(0)
}

fn daemon(a: &MonitorArgs, config: Config) -> Result<u8, Failure> {
    let (env, server) = crate::cli::check::environment(&a.dns, a.dns.timeout, &a.route)?;
    let listen: std::net::SocketAddr = config
        .listen
        .parse()
        .map_err(|_| Failure(format!("listen \"{}\"", config.listen)))?;
    let render = Box::new(move |r: &mxdane::check::CheckReport| {
        serde_json::to_string(&mxdane::view::check(r, &server)).unwrap_or_default()
    });
    match serve(a, config, env, render, listen) {
        Ok(code) => Ok(code),
        Err(why) => {
            // The history or the listen address: exit 3, the message as every error's.
            eprintln!("mxdane: {}", crate::printable(&why));
            Ok(3)
        }
    }
}

fn serve(
    a: &MonitorArgs,
    config: Config,
    env: mxdane::check::Environment,
    render: Box<mxdane::monitor::Render>,
    listen: std::net::SocketAddr,
) -> Result<u8, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // In a fleet, this instance's name in the lease table.
    let owner = mxdane::alerts::instance_owner();
    let fleet = config.is_fleet();
    runtime.block_on(async move {
        let mut monitor = Monitor::open(config, env, render, &owner).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("listen {listen}: {e}"))?;
        eprintln!("mxdane monitor: listening on http://{listen}/");
        let app = mxdane::monitor_http::router(monitor.snapshot());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(|e| format!("signals: {e}"))?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("signals: {e}"))?;
        let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("signals: {e}"))?;
        let mut rounds = 0u64;
        loop {
            let t = now();
            // A round runs to its end; a signal that arrives meanwhile is seen after it.
            for (target, tr) in monitor.round(t).await {
                eprintln!(
                    "mxdane monitor: {target}: {} -> {} at {}",
                    tr.from.name(),
                    tr.to.name(),
                    show(tr.at)
                );
            }
            rounds += 1;
            if a.rounds > 0 && rounds >= a.rounds {
                return Ok(0);
            }
            // In a fleet, the other instances move targets' due times: look again within a
            // minute.
            let most = if fleet { 60 } else { 3600 };
            let wait = u64::try_from((monitor.next_due() - now()).clamp(1, most)).unwrap_or(1);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(wait)) => {}
                _ = term.recv() => return Ok(0),
                _ = int.recv() => return Ok(0),
                _ = hup.recv() => {
                    // A new configuration; a bad one is reported and the old one kept.
                    let reloaded = match Config::read(&a.config) {
                        Ok(c) => monitor.reload(c).await,
                        Err(e) => Err(e.to_string()),
                    };
                    match reloaded {
                        Ok(()) => eprintln!("mxdane monitor: reloaded {}", a.config.display()),
                        Err(e) => eprintln!(
                            "mxdane monitor: not reloaded, the running configuration stays: {}",
                            crate::printable(&e)
                        ),
                    }
                }
            }
        }
    })
}
