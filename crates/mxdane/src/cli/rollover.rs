//! `mxdane rollover`: the command line of the rollover engine (issue 14).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use mxdane::issuance::Outcome;
use mxdane::rollover::{RealWorld, adopt_running, cert_from_pem, lanes};
use mxdane_rollover::Ts;
use mxdane_rollover::config::Config;
use mxdane_rollover::engine::Engine;
use mxdane_rollover::lane::{Decision, Lane};
use mxdane_rollover::simulate::{self, outages, show_time};
use mxdane_rollover::store::{LaneId, Sqlite, Store};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Failure;

mod view;
use view::*;

pub(crate) const ROLLOVER_EXIT_CODES: &str = "\
Exit status:
  0  run: progressed (something was published, withdrawn, staged or deployed); other
     commands: done
  1  run: waiting (nothing can be done yet; the next run may); simulate: an outage
  2  bad input or usage (configuration, store, certificate), or a refused submission
  3  run: an action or the DNS observation failed, or an authoritative server's answer
     does not verify (it is retried by the next run);
     simulate --history: no outage, but a lane's requested records never reached every
     server (refused, failed or still propagating)
  4  run: a person must look (a deployment failed and was rolled back)";

#[derive(Args, Debug)]
pub(crate) struct RolloverArgs {
    /// The configuration file (TOML; see `mxdane rollover config`).
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        default_value = "/etc/mxdane/rollover.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: RolloverCommand,
}

#[derive(Subcommand, Debug)]
enum RolloverCommand {
    /// Print the effective configuration, every default written out.
    Config,
    /// Adopt the certificates the server uses now, stage next keys and publish current + next
    /// (or current + issuer) records.
    #[command(after_help = ROLLOVER_EXIT_CODES)]
    Init(WorldArgs),
    /// Per service and algorithm: the state, what it waits for and until when, and which
    /// authoritative server serves each record.
    Status(StatusArgs),
    /// What `run` would do now, changing nothing.
    Plan(WorldArgs),
    /// Advance every service whose preconditions hold (for a systemd timer or cron).
    #[command(after_help = ROLLOVER_EXIT_CODES)]
    Run(WorldArgs),
    /// Take a certificate obtained elsewhere: only for the staged next key (or the current
    /// one), or one a published record already authenticates.
    #[command(after_help = ROLLOVER_EXIT_CODES)]
    Submit(SubmitArgs),
    /// Print a certificate signing request for a lane's staged next key (for certbot --csr,
    /// lego --csr, acme.sh --signcsr, or a CA); `submit` then takes the certificate.
    Csr(CsrArgs),
    /// Replay a schedule (or the recorded history) against every sender's possible cache and
    /// report the first outage window.
    #[command(after_help = ROLLOVER_EXIT_CODES)]
    Simulate(SimulateArgs),
}

#[derive(Args, Debug)]
struct WorldArgs {
    #[command(flatten)]
    dns: crate::cli::dns::ResolverArgs,
    /// Send connections for ADDR:PORT to ADDR2:PORT2 (labs and staging). Repeatable.
    #[arg(long, value_name = "ADDR:PORT=ADDR:PORT")]
    route: Vec<String>,
    /// Act as if it were this time (RFC 3339 or seconds since 1970): for tests and drills.
    #[arg(long, value_name = "TIME", hide = true)]
    now: Option<String>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    world: WorldArgs,
    /// Only the stored state: do not ask the authoritative servers.
    #[arg(long)]
    offline: bool,
}

#[derive(Args, Debug)]
struct SubmitArgs {
    /// The service.
    #[arg(long)]
    service: String,
    /// The key algorithm: rsa or ecdsa.
    #[arg(long)]
    algorithm: String,
    /// The certificate chain (PEM, leaf first or in any order).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// The certificate's private key, when it is not a key mxdane staged (current+issuer with
    /// a fresh key); it is copied into the key directory (mode 0600).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Act as if it were this time (RFC 3339 or seconds since 1970).
    #[arg(long, value_name = "TIME", hide = true)]
    now: Option<String>,
}

#[derive(Args, Debug)]
struct CsrArgs {
    /// The service.
    #[arg(long)]
    service: String,
    /// The key algorithm: rsa or ecdsa.
    #[arg(long)]
    algorithm: String,
}

#[derive(Args, Debug)]
struct SimulateArgs {
    /// A schedule file: `dns TIME SERVER OWNER TTL RDATA, ...` and `cert TIME LABEL RDATA,
    /// ...` lines.
    #[arg(long, value_name = "FILE", conflicts_with = "history")]
    schedule: Option<PathBuf>,
    /// Replay the recorded history of the store instead.
    #[arg(long)]
    history: bool,
}

fn parse_now(text: Option<&str>) -> Result<Ts, Failure> {
    match text {
        None => Ok(OffsetDateTime::now_utc().unix_timestamp()),
        Some(t) => t
            .parse::<Ts>()
            .ok()
            .or_else(|| {
                OffsetDateTime::parse(t, &Rfc3339)
                    .ok()
                    .map(OffsetDateTime::unix_timestamp)
            })
            .ok_or_else(|| Failure(format!("--now \"{t}\": not RFC 3339 or seconds"))),
    }
}

fn engine(config: &Config, w: &WorldArgs) -> Result<Engine<Sqlite, RealWorld>, Failure> {
    let (env, _) = crate::cli::check::environment(&w.dns, w.dns.timeout, &w.route)?;
    let routes = crate::cli::check::parse_routes(&w.route)?;
    let world = RealWorld::new(
        config.clone(),
        env,
        routes,
        Duration::from_secs(w.dns.timeout.clamp(1, 600)),
    )
    .map_err(Failure)?;
    Ok(Engine::new(
        store(config)?,
        world,
        lanes(config).map_err(Failure)?,
    ))
}

fn store(config: &Config) -> Result<Sqlite, Failure> {
    if let Some(dir) = config.state.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
    }
    Sqlite::open(&config.state).map_err(|e| Failure(e.to_string()))
}

pub(crate) fn run(a: &RolloverArgs, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let config = Config::read(&a.config).map_err(|e| Failure(e.to_string()))?;
    match &a.command {
        RolloverCommand::Config => print_config(&config, out),
        RolloverCommand::Init(w) => init(&config, w, json, out),
        RolloverCommand::Run(w) => run_steps(&config, w, json, out),
        RolloverCommand::Plan(w) => plan(&config, w, json, out),
        RolloverCommand::Status(s) => status(&config, s, json, out),
        RolloverCommand::Submit(s) => submit(&config, &a.config, s, out),
        RolloverCommand::Csr(c) => csr(&config, &a.config, c, out),
        RolloverCommand::Simulate(s) => simulate(&config, s, json, out),
    }
}

/// `mxdane rollover config`.
fn print_config(config: &Config, out: &mut impl Write) -> Result<u8, Failure> {
    say!(out, "{}", config.effective().trim_end());
    Ok(0)
}

/// `mxdane rollover init`.
fn init(config: &Config, w: &WorldArgs, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let now = parse_now(w.now.as_deref())?;
    let mut e = engine(config, w)?;
    for setup in lanes(config).map_err(Failure)? {
        let adopted = adopt_running(&mut e, config, &setup.id, now).map_err(Failure)?;
        say!(
            out,
            "{}/{}: {}",
            setup.id.service,
            setup.id.algorithm,
            if adopted {
                "adopted the certificate in service"
            } else {
                "already adopted"
            }
        );
    }
    step(&mut e, now, json, out)
}

/// `mxdane rollover run`.
fn run_steps(
    config: &Config,
    w: &WorldArgs,
    json: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let now = parse_now(w.now.as_deref())?;
    let mut e = engine(config, w)?;
    // Certificates first (ACME, when configured): one that arrives goes through the
    // gate in the same run.
    let roots = config.acme.as_ref().and_then(|a| a.roots.clone());
    let issued = mxdane::issuance::run(&mut e, config, now, &move || {
        mxdane::acme::https_client(roots.as_deref())
    });
    step_with(&mut e, now, json, out, issued)
}

/// `mxdane rollover plan`.
fn plan(config: &Config, w: &WorldArgs, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let now = parse_now(w.now.as_deref())?;
    let mut e = engine(config, w)?;
    let plan = e.plan(now).map_err(|e| Failure(e.to_string()))?;
    if json {
        let v: Vec<LaneView> = plan
            .iter()
            .map(|(id, d)| LaneView::new(id, None, d.as_ref().ok(), d.as_ref().err()))
            .collect();
        crate::say_json(out, &v)?;
    } else {
        for (id, d) in &plan {
            match d {
                Ok(d) => print_decision(id, d, out)?,
                Err(e) => say!(out, "{}/{}: {e}", id.service, id.algorithm),
            }
        }
    }
    Ok(0)
}

/// `mxdane rollover status`.
fn status(
    config: &Config,
    s: &StatusArgs,
    json: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let now = parse_now(s.world.now.as_deref())?;
    let mut e = engine(config, &s.world)?;
    let states = e.lanes().map_err(|e| Failure(e.to_string()))?;
    let mut views = Vec::new();
    for setup in lanes(config).map_err(Failure)? {
        let lane = &states[&setup.id];
        let servers = if s.offline {
            Vec::new()
        } else {
            use mxdane_rollover::engine::World;
            match e.world.observe(&setup.owners, now) {
                Ok(obs) => obs
                    .answers
                    .iter()
                    .map(|a| ServerView {
                        server: a.server.clone(),
                        owner: a.owner.clone(),
                        records: a.rrset.as_ref().ok().map(|(r, _)| {
                            r.iter()
                                .filter(|r| lane.records.contains_key(*r))
                                .cloned()
                                .collect()
                        }),
                        ttl: a.rrset.as_ref().ok().map(|(_, t)| *t),
                        error: a.rrset.as_ref().err().cloned(),
                    })
                    .collect(),
                Err(err) => vec![ServerView {
                    server: "all".into(),
                    owner: setup.owners.join(" "),
                    records: None,
                    ttl: None,
                    error: Some(err),
                }],
            }
        };
        let mut v = LaneView::new(&setup.id, Some(lane), Some(&lane.decide(now)), None);
        v.servers = servers;
        views.push(v);
    }
    if json {
        crate::say_json(out, &views)?;
    } else {
        for v in &views {
            print_status(v, out)?;
        }
    }
    Ok(0)
}

/// `mxdane rollover submit`.
fn submit(
    config: &Config,
    file: &std::path::Path,
    s: &SubmitArgs,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let now = parse_now(s.now.as_deref())?;
    let pem = std::fs::read(&s.cert)
        .map_err(|e| Failure(format!("{}: cannot read: {e}", s.cert.display())))?;
    let mut cert = cert_from_pem(&pem, &s.cert.display().to_string()).map_err(Failure)?;
    if let Some(key) = &s.key {
        cert.key_file = Some(
            mxdane::rollover::keep_key(config, &s.service, &s.algorithm, key, &cert)
                .map_err(Failure)?,
        );
    }
    let id = LaneId {
        service: s.service.clone(),
        algorithm: s.algorithm.clone(),
    };
    let setups = lanes(config).map_err(Failure)?;
    if !setups.iter().any(|l| l.id == id) {
        return Err(Failure(format!(
            "no lane {}/{} in {} (lanes: {})",
            id.service,
            id.algorithm,
            file.display(),
            setups
                .iter()
                .map(|l| format!("{}/{}", l.id.service, l.id.algorithm))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut e = Engine::new(store(config)?, NoWorld, setups);
    e.submit(&id, cert.clone(), now)
        .map_err(|e| Failure(format!("{}: refused: {e}", s.cert.display())))?;
    say!(
        out,
        "{}/{}: certificate for key {} accepted; `mxdane rollover run` deploys it once the gate opens",
        id.service,
        id.algorithm,
        cert.spki_sha256
    );
    Ok(0)
}

/// `mxdane rollover csr`.
fn csr(
    config: &Config,
    file: &std::path::Path,
    c: &CsrArgs,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let id = LaneId {
        service: c.service.clone(),
        algorithm: c.algorithm.clone(),
    };
    let service = config
        .services
        .iter()
        .find(|s| s.name == c.service)
        .ok_or_else(|| {
            Failure(format!(
                "no service \"{}\" in {}",
                c.service,
                file.display()
            ))
        })?;
    let setups = lanes(config).map_err(Failure)?;
    let e = Engine::new(store(config)?, NoWorld, setups);
    let states = e.lanes().map_err(|e| Failure(e.to_string()))?;
    let lane = states.get(&id).ok_or_else(|| {
        Failure(format!(
            "service {} has no algorithm \"{}\"",
            c.service, c.algorithm
        ))
    })?;
    let next = lane.next.as_ref().ok_or_else(|| {
        Failure(format!(
            "{}/{}: no staged next key yet: run `mxdane rollover init` (or `run`) first",
            c.service, c.algorithm
        ))
    })?;
    let pem = mxdane::rollover::csr(service, std::path::Path::new(&next.file)).map_err(Failure)?;
    write!(out, "{pem}").map_err(|e| Failure(e.to_string()))?;
    Ok(0)
}

/// `mxdane rollover simulate`.
fn simulate(
    config: &Config,
    s: &SimulateArgs,
    json: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let (served, presented, unpublished) = match (&s.schedule, s.history) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure(format!("{}: cannot read: {e}", path.display())))?;
            let (served, presented) = simulate::parse_schedule(&text)
                .map_err(|e| Failure(format!("{}: {e}", path.display())))?;
            (served, presented, Vec::new())
        }
        (None, true) => {
            let events = store(config)?
                .events()
                .map_err(|e| Failure(e.to_string()))?;
            let setups = lanes(config).map_err(Failure)?;
            let (served, presented) = simulate::from_history(&events, &setups);
            (served, presented, simulate::unpublished(&events, &setups))
        }
        (None, false) => {
            return Err(Failure("give --schedule FILE or --history".into()));
        }
    };
    let found = outages(&served, &presented);
    #[derive(Serialize)]
    struct UnpublishedView {
        ever_published: bool,
        lane: String,
        last_failure: Option<FailureView>,
        records: Vec<String>,
    }
    let unpublished: Vec<UnpublishedView> = unpublished
        .iter()
        .map(|u| UnpublishedView {
            ever_published: u.ever_published,
            lane: format!("{}/{}", u.lane.service, u.lane.algorithm),
            last_failure: u.last_failure.as_ref().map(FailureView::new),
            records: u.records.clone(),
        })
        .collect();
    if json {
        #[derive(Serialize)]
        struct Sim<'a> {
            outage: Option<String>,
            timeline: &'a [String],
            unpublished: &'a [UnpublishedView],
        }
        crate::say_json(
            out,
            &Sim {
                outage: found.first().map(ToString::to_string),
                timeline: &simulate::timeline(&served, &presented),
                unpublished: &unpublished,
            },
        )?;
    } else {
        for l in simulate::timeline(&served, &presented) {
            say!(out, "{l}");
        }
        for u in &unpublished {
            let failure = u.last_failure.as_ref().map_or_else(String::new, |f| {
                format!(
                    "; last failure at {} ({} times since {}): {}",
                    f.at, f.count, f.since, f.why
                )
            });
            say!(
                out,
                "{}: {}: {} never seen on every server{failure}",
                u.lane,
                if u.ever_published {
                    "not fully published"
                } else {
                    "never published"
                },
                u.records.join(", ")
            );
        }
        match found.first() {
            None if !unpublished.is_empty() => say!(
                out,
                "no outage among what the servers were seen to serve, but the records above never reached every server: DANE senders never saw them"
            ),
            None => say!(
                out,
                "no outage: every sender authenticates the server at every instant"
            ),
            Some(o) => say!(
                out,
                "OUTAGE {} to {}: {o}",
                show_time(o.from),
                o.until.map_or_else(|| "open".to_owned(), show_time)
            ),
        }
    }
    Ok(if !found.is_empty() {
        1
    } else if unpublished.is_empty() {
        0
    } else {
        3
    })
}

/// `submit` needs no world: the lane's state decides.
struct NoWorld;

impl mxdane_rollover::engine::World for NoWorld {
    fn observe(
        &mut self,
        _: &[String],
        _: Ts,
    ) -> Result<mxdane_rollover::engine::Observation, String> {
        Err("not observing".into())
    }
    fn publish(&mut self, _: &[String], _: &[String], _: Ts) -> Result<(), String> {
        Err("not publishing".into())
    }
    fn withdraw(&mut self, _: &[String], _: &[String], _: Ts) -> Result<(), String> {
        Err("not withdrawing".into())
    }
    fn make_key(&mut self, _: &LaneId, _: Ts) -> Result<mxdane_rollover::lane::Key, String> {
        Err("not making keys".into())
    }
    fn presents(
        &mut self,
        _: &LaneId,
        _: &mxdane_rollover::lane::Cert,
        _: Ts,
    ) -> Result<bool, String> {
        Err("not probing".into())
    }
    fn deploy(
        &mut self,
        _: &LaneId,
        _: &mxdane_rollover::lane::Key,
        _: &mxdane_rollover::lane::Cert,
        _: Option<(&mxdane_rollover::lane::Key, &mxdane_rollover::lane::Cert)>,
        _: Ts,
    ) -> Result<(), String> {
        Err("not deploying".into())
    }
}

fn step(
    e: &mut Engine<Sqlite, RealWorld>,
    now: Ts,
    json: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    step_with(e, now, json, out, Vec::new())
}

/// One engine step, reported together with what issuance did before it.
fn step_with(
    e: &mut Engine<Sqlite, RealWorld>,
    now: Ts,
    json: bool,
    out: &mut impl Write,
    issued: Vec<(LaneId, Outcome)>,
) -> Result<u8, Failure> {
    let mut r = e.step(now).map_err(|e| Failure(e.to_string()))?;
    let mut idle: Vec<(LaneId, String)> = Vec::new();
    for (id, o) in issued {
        match o {
            Outcome::Obtained(what) => r.done.entry(id).or_default().insert(0, what),
            Outcome::Failed(why) => r
                .errors
                .entry(id)
                .or_default()
                .insert(0, format!("ACME: {why}")),
            Outcome::Idle(what) => idle.push((id, what)),
        }
    }
    let instructions = std::mem::take(&mut e.world.instructions);
    let failed = r.errors.values().any(|v| !v.is_empty());
    let code = if r.needs_human() {
        4
    } else if failed {
        3
    } else if r.progressed() {
        0
    } else {
        1
    };
    if json {
        let v: Vec<LaneView> = r
            .decisions
            .iter()
            .map(|(id, d)| {
                let mut v = LaneView::new(id, None, Some(d), None);
                v.done = r.done.get(id).cloned().unwrap_or_default();
                v.errors = r.errors.get(id).cloned().unwrap_or_default();
                v
            })
            .collect();
        #[derive(Serialize)]
        struct Run<'a> {
            instructions: &'a [String],
            lanes: Vec<LaneView>,
            result: &'static str,
        }
        crate::say_json(
            out,
            &Run {
                instructions: &instructions,
                lanes: v,
                result: ["progressed", "waiting", "", "failed", "needs-human"][usize::from(code)],
            },
        )?;
    } else {
        for l in &instructions {
            say!(out, "{l}");
        }
        for (id, d) in &r.decisions {
            for what in r.done.get(id).into_iter().flatten() {
                say!(out, "{}/{}: {what}", id.service, id.algorithm);
            }
            for err in r.errors.get(id).into_iter().flatten() {
                say!(out, "{}/{}: error: {err}", id.service, id.algorithm);
            }
            for (_, what) in idle.iter().filter(|(i, _)| i == id) {
                say!(out, "{}/{}: {what}", id.service, id.algorithm);
            }
            print_decision(id, d, out)?;
        }
    }
    Ok(code)
}
