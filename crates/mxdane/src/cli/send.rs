//! `mxdane send`: one message delivered as a DANE sender delivers it (issue 18).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mxdane::tls_policy::PolicyTable;
use mxdane_smtp::deliver::{Delivery, Status, TlsPolicy, deliver};
use mxdane_smtp::{Envelope, Settings};

use crate::Failure;

pub(crate) const SEND_EXIT_CODES: &str = "\
Exit status (sendmail's conventions, sysexits.h):
  0   every recipient delivered (with --dry-run: every recipient deliverable)
  75  some recipient deferred: try again later (EX_TEMPFAIL)
  69  no recipient deferred, some bounced (EX_UNAVAILABLE)
  64  bad usage, addresses, policy or message (EX_USAGE)";

/// Exit codes.
const EX_TEMPFAIL: u8 = 75;
const EX_UNAVAILABLE: u8 = 69;
pub(crate) const EX_USAGE: u8 = 64;

/// The largest message read (it is held in memory): 64 MiB, far above what mail servers take.
const MAX_MESSAGE: u64 = 64 << 20;

#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    /// The envelope sender (empty for a bounce: --from '').
    #[arg(long, value_name = "ADDR")]
    from: String,
    /// A recipient (repeatable; recipients in several domains are delivered domain by domain).
    #[arg(long, value_name = "ADDR", required = true, num_args = 1..)]
    to: Vec<String>,
    /// The TLS level for every destination (Postfix's names): dane (the default), dane-only,
    /// fingerprint (with --match), encrypt, may, none. With --policy-file: the level for
    /// destinations the file does not list.
    #[arg(long, value_name = "LEVEL")]
    policy: Option<String>,
    /// With --policy fingerprint: a SHA-256 digest of the server's certificate or public key
    /// (hex, colons allowed; repeatable).
    #[arg(long = "match", value_name = "DIGEST", requires = "policy")]
    matches: Vec<String>,
    /// Per-destination levels: a TOML file (name ending in .toml) or a Postfix
    /// smtp_tls_policy_maps source file (`example.com dane-only`, `.example.net encrypt`).
    #[arg(long, value_name = "FILE")]
    policy_file: Option<PathBuf>,
    /// The message (header and body); standard input when absent.
    #[arg(long, value_name = "FILE")]
    message: Option<PathBuf>,
    /// Stop after RCPT TO (then RSET): say which recipients the servers would take, send
    /// nothing.
    #[arg(long)]
    dry_run: bool,
    /// The name to say in EHLO (default: this machine's name).
    #[arg(long, value_name = "NAME")]
    helo: Option<String>,
    #[command(flatten)]
    dns: crate::cli::dns::ResolverArgs,
    /// Send connections for ADDR:PORT to ADDR2:PORT2 (labs and staging). Repeatable.
    #[arg(long, value_name = "ADDR:PORT=ADDR:PORT")]
    route: Vec<String>,
}

/// A usage problem: said, exit 64.
fn usage(msg: &str) -> Result<u8, Failure> {
    eprintln!("mxdane: {}", crate::printable(msg));
    Ok(EX_USAGE)
}

pub(crate) fn run(a: &SendArgs, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let mut table = match &a.policy_file {
        Some(p) => match PolicyTable::load(p) {
            Ok(t) => t,
            Err(e) => return usage(&e),
        },
        None => PolicyTable::uniform(TlsPolicy::Dane),
    };
    if let Some(level) = &a.policy {
        match TlsPolicy::parse(level, &a.matches) {
            Ok(p) => table = table.with_default(p),
            Err(e) => return usage(&format!("--policy: {e}")),
        }
    }
    if table.duplicates > 0 {
        eprintln!(
            "mxdane: {} duplicate keys in the policy file: the first entry of each is used, as postmap does",
            table.duplicates
        );
    }
    if table.skipped_relays > 0 {
        eprintln!(
            "mxdane: {} relay entries ([host] keys) in the policy file are not used",
            table.skipped_relays
        );
    }
    let mut data = Vec::new();
    let read = match &a.message {
        Some(p) => {
            std::fs::File::open(p).and_then(|f| f.take(MAX_MESSAGE + 1).read_to_end(&mut data))
        }
        None => std::io::stdin()
            .lock()
            .take(MAX_MESSAGE + 1)
            .read_to_end(&mut data),
    };
    if let Err(e) = read {
        let from = a
            .message
            .as_ref()
            .map_or_else(|| "standard input".to_owned(), |p| p.display().to_string());
        return usage(&format!("{from}: cannot read the message: {e}"));
    }
    if data.len() as u64 > MAX_MESSAGE {
        return usage(&format!(
            "the message is larger than {} MiB, the most mxdane send takes",
            MAX_MESSAGE >> 20
        ));
    }
    // Recipients grouped by domain, in the order given.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for to in &a.to {
        let Some((_, domain)) = to.rsplit_once('@') else {
            return usage(&format!("recipient address {to:?} has no domain"));
        };
        let domain = domain.to_ascii_lowercase();
        match groups.iter_mut().find(|(d, _)| *d == domain) {
            Some((_, list)) => list.push(to.clone()),
            None => groups.push((domain, vec![to.clone()])),
        }
    }
    let mut envelopes = Vec::new();
    for (domain, to) in &groups {
        match Envelope::new(&a.from, to, &data) {
            Ok(e) => envelopes.push((domain.clone(), e)),
            Err(e) => return usage(&e),
        }
    }
    let (env, _) = crate::cli::check::environment(&a.dns, a.dns.timeout, &a.route)?;
    let helo = a.helo.clone().unwrap_or_else(mxdane::alerts::hostname);
    let step = Duration::from_secs(a.dns.timeout.max(1));
    let settings = Settings {
        step,
        total: step.saturating_mul(30),
        ..Settings::default()
    };
    let mut deliveries: Vec<(String, &'static str, Delivery)> = Vec::new();
    for (domain, envelope) in envelopes {
        let (level, _) = table.lookup(&domain);
        let level = level.clone();
        let envelope = if a.dry_run {
            envelope.verify_only()
        } else {
            envelope
        };
        let d = crate::block_on(deliver(
            env.resolver.as_ref(),
            &env.connector,
            &envelope,
            &domain,
            &helo,
            settings,
            &level,
        ))?;
        deliveries.push((domain, level.name(), d));
    }
    let statuses: Vec<Status> = deliveries
        .iter()
        .flat_map(|(_, _, d)| d.recipients.iter().map(|r| r.status))
        .collect();
    let code = if statuses.contains(&Status::Deferred) {
        EX_TEMPFAIL
    } else if statuses.contains(&Status::Bounced) {
        EX_UNAVAILABLE
    } else {
        0
    };
    if json {
        let doc = serde_json::json!({
            "deliveries": deliveries.iter().map(|(domain, level, d)| serde_json::json!({
                "attempts": d.attempts.iter().map(|t| serde_json::json!({
                    "address": t.address.to_string(),
                    "error": t.error,
                    "host": t.host.trim_end_matches('.'),
                    "log": t.log_line(),
                    "policy": t.policy,
                    "security": t.security.name(),
                })).collect::<Vec<_>>(),
                "domain": domain,
                "policy": level,
                "recipients": d.recipients.iter().map(|r| serde_json::json!({
                    "address": r.address,
                    "dsn": r.dsn,
                    "log": r.log_line(),
                    "relay": r.relay,
                    "status": r.status.name(),
                    "why": r.why,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "dry_run": a.dry_run,
            "exit": code,
        });
        crate::say_json(out, &doc)?;
        return Ok(code);
    }
    for (domain, level, d) in &deliveries {
        say!(out, "{domain}: TLS level {level}");
        for t in &d.attempts {
            say!(out, "  {}", t.log_line());
        }
        for r in &d.recipients {
            say!(out, "  {}", r.log_line());
        }
    }
    Ok(code)
}
