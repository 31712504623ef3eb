//! `mxdane check`: the report of [`mxdane::check`], as text or JSON, with monitoring-plugin
//! exit codes (0 ok, 1 warning, 2 critical, 3 unknown or usage error).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mxdane::check::{self, CheckReport, Environment, Family, Options};
use mxdane_dns::{NetTransport, Transport};
use mxdane_smtp::{Connector, Settings};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Failure;

/// How a probe starts TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TlsStart {
    /// STARTTLS after EHLO (RFC 3207).
    Starttls,
    /// TLS from the first octet (RFC 8314 section 3.3).
    Implicit,
}

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The domain to check (every MX host), or with --host one host.
    #[arg(value_name = "DOMAIN")]
    destination: String,
    /// Check DESTINATION as a single host (a next hop): no MX lookup.
    #[arg(long)]
    host: bool,
    /// The SMTP port (and the port of the TLSA owner name).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// How TLS starts: `starttls`, or `implicit` (TLS on connect, RFC 8314); the default is
    /// implicit on port 465 and STARTTLS elsewhere.
    #[arg(long, value_enum)]
    tls: Option<TlsStart>,
    #[command(flatten)]
    dns: crate::cli::dns::ResolverArgs,
    /// Print only the verdict line (text output).
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    quiet: bool,
    /// Also print every DNS lookup with its status and each probe's SMTP dialogue.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// The name to give in EHLO (some servers want one that resolves).
    #[arg(long, value_name = "NAME", default_value = "mxdane.invalid")]
    ehlo: String,
    /// Probe IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    ipv4_only: bool,
    /// Probe IPv6 addresses only.
    #[arg(short = '6')]
    ipv6_only: bool,
    /// Also judge every chain at this time (RFC 3339): will it still verify then?
    #[arg(long, value_name = "RFC3339_TIME")]
    at: Option<String>,
    /// Warn about signatures and certificates that expire within this many days (0 to 3650).
    #[arg(long, default_value_t = 7, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=3650))]
    expiry_days: u32,
    /// Send connections for ADDR:PORT to ADDR2:PORT2 instead (SMTP and authoritative DNS;
    /// for labs and staging). Repeatable.
    #[arg(long, value_name = "ADDR:PORT=ADDR:PORT")]
    route: Vec<String>,
}

/// `--route FROM=TO` options.
pub(crate) fn parse_routes(route: &[String]) -> Result<HashMap<SocketAddr, SocketAddr>, Failure> {
    let mut routes = HashMap::new();
    for r in route {
        let (from, to) = r
            .split_once('=')
            .and_then(|(f, t)| Some((f.parse::<SocketAddr>().ok()?, t.parse::<SocketAddr>().ok()?)))
            .ok_or_else(|| Failure(format!("--route \"{r}\": expected ADDR:PORT=ADDR:PORT")))?;
        routes.insert(from, to);
    }
    Ok(routes)
}

/// The resolver, SMTP routes and nameserver transports that the options ask for.
pub(crate) fn environment(
    dns: &crate::cli::dns::ResolverArgs,
    timeout: u64,
    route: &[String],
) -> Result<(Environment, String), Failure> {
    let routes = parse_routes(route)?;
    let (resolver, server) = crate::cli::dns::resolver(dns, timeout)?;
    let mut connector = Connector::direct();
    for (from, to) in &routes {
        connector = connector.route(*from, *to);
    }
    let step = Duration::from_secs(timeout.max(1));
    Ok((
        Environment {
            resolver,
            connector,
            nameserver: Arc::new(move |addr: SocketAddr| -> Arc<dyn Transport> {
                Arc::new(NetTransport::new(
                    routes.get(&addr).copied().unwrap_or(addr),
                    step,
                ))
            }),
        },
        server,
    ))
}

pub(crate) fn run(a: &CheckArgs, json_out: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let destination = mxdane::input::domain(&a.destination).map_err(Failure)?;
    let at = match &a.at {
        Some(t) => Some(OffsetDateTime::parse(t, &Rfc3339).map_err(|e| {
            Failure(format!(
                "--at \"{t}\": not an RFC 3339 time such as 2027-01-31T00:00:00Z ({e})"
            ))
        })?),
        None => None,
    };
    let (env, server) = environment(&a.dns, a.dns.timeout, &a.route)?;
    let step = Duration::from_secs(a.dns.timeout.max(1));
    let options = Options {
        port: a.port,
        kind: if a.host {
            mxdane_dns::plan::Kind::Host
        } else {
            mxdane_dns::plan::Kind::Domain
        },
        expiry_days: a.expiry_days,
        at,
        family: if a.ipv4_only {
            Family::V4
        } else if a.ipv6_only {
            Family::V6
        } else {
            Family::Any
        },
        settings: Settings {
            step,
            total: step.saturating_mul(6),
            tls_start: match a.tls.unwrap_or(if a.port == 465 {
                TlsStart::Implicit
            } else {
                TlsStart::Starttls
            }) {
                TlsStart::Implicit => mxdane_smtp::TlsStart::Implicit,
                TlsStart::Starttls => mxdane_smtp::TlsStart::Starttls,
            },
            ..Settings::default()
        },
        dns_deadline: step.saturating_mul(10),
        helo: mxdane::input::domain(&a.ehlo)
            .map_err(|e| Failure(format!("--ehlo: {e}")))?
            .as_str()
            .trim_end_matches('.')
            .to_owned(),
        ..Options::default()
    };
    // One thread is plenty for one domain (the work is waiting), and every thread that makes
    // TLS key shares pays for seeding its own random generator.
    let report = crate::block_on(check::check(env, destination, options))?;
    if json_out {
        let v = mxdane::view::check(&report, &server.to_string());
        crate::say!(
            out,
            "{}",
            serde_json::to_string(&v).map_err(|e| Failure(e.to_string()))?
        );
    } else if a.quiet {
        crate::say!(out, "{}", headline(&report));
    } else {
        print_text(&report, a.verbose, out)?;
    }
    Ok(report.verdict.exit_code())
}

/// The verdict line: `OK ee.test.: 1 of 1 host(s) can be tried`.
fn headline(r: &CheckReport) -> String {
    format!(
        "{} {}: {}",
        r.verdict.name().to_ascii_uppercase(),
        r.plan.request.destination,
        r.plan.reason
    )
}

pub(crate) fn print_text(
    r: &CheckReport,
    verbose: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    crate::say!(out, "{}", headline(r));
    for c in &r.critical {
        crate::say!(out, "  critical: {c}");
    }
    for w in &r.warnings {
        crate::say!(out, "  warning: {w}");
    }
    for n in &r.notes {
        crate::say!(out, "  note: {n}");
    }
    for h in &r.hosts {
        crate::say!(out);
        let pref = h
            .plan
            .preference
            .map_or(String::new(), |p| format!(" (preference {p})"));
        crate::say!(
            out,
            "host {}{pref}: {} ({})",
            h.plan.name,
            h.plan.decision.name(),
            h.plan.reason
        );
        for t in &h.plan.tlsa {
            crate::say!(out, "  TLSA {t}");
        }
        if verbose {
            for l in &h.plan.lookups {
                crate::say!(
                    out,
                    "  DNS {} {}: {}",
                    l.name,
                    mxdane_dns::rdata::type_name(l.qtype),
                    l.summary()
                );
            }
        }
        // One line per address and algorithm, failures first; each distinct chain once.
        let mut chains: Vec<&[mxdane_tls::ChainCert]> = Vec::new();
        let mut probes: Vec<&check::Probe> = h.probes.iter().collect();
        probes.sort_by_key(|p| (!failed(p.result), p.ip, p.algorithm));
        let width = probes
            .iter()
            .map(|p| p.ip.to_string().len())
            .max()
            .unwrap_or(0);
        for p in probes {
            let chain = if p.chain.is_empty() {
                String::new()
            } else {
                let n = chains
                    .iter()
                    .position(|c| *c == p.chain.as_slice())
                    .unwrap_or_else(|| {
                        chains.push(&p.chain);
                        chains.len() - 1
                    });
                format!("  chain {}", n + 1)
            };
            let what = match &p.matched {
                Some(m) => format!("\"{}\" matched at depth {}", m.record, m.depth),
                None if p.why().is_empty() => p.result.name().to_owned(),
                None => format!("{}: {}", p.result.name(), p.why()),
            };
            crate::say!(
                out,
                "  {:4} {:width$}  {:7} {:8} {what}{chain}",
                if failed(p.result) {
                    "FAIL"
                } else if p.result == check::ProbeResult::NoSuchCertificate {
                    "-"
                } else {
                    "ok"
                },
                p.ip.to_string(),
                p.algorithm,
                p.tls_version.as_deref().unwrap_or("-"),
            );
            if verbose {
                for line in &p.transcript {
                    crate::say!(out, "        {line}");
                }
            }
        }
        for (n, chain) in chains.iter().enumerate() {
            crate::say!(out, "  chain {}:", n + 1);
            for (d, c) in chain.iter().enumerate() {
                let names = if c.names.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", c.names.join(", "))
                };
                crate::say!(
                    out,
                    "    {d}: {}{names}, {}, issuer {}, {} to {}, SPKI SHA-256 {}",
                    c.subject,
                    c.key,
                    c.issuer,
                    rfc3339(c.not_before),
                    rfc3339(c.not_after),
                    c.spki_sha256
                );
            }
        }
        for n in &h.nameservers {
            let what = match (&n.tlsa, &n.signed) {
                (Ok(t), Ok(())) => format!("{} record(s), signature valid", t.len()),
                (Ok(t), Err(e)) => format!("{} record(s), signature invalid: {e}", t.len()),
                (Err(e), _) => format!("failed: {e}"),
            };
            crate::say!(
                out,
                "  nameserver {} ({}): {what}; serial {}",
                n.name,
                n.ip,
                n.serial.map_or("?".into(), |s| s.to_string())
            );
        }
    }
    Ok(())
}

/// A probe result that is a failure to report first.
fn failed(r: check::ProbeResult) -> bool {
    use check::ProbeResult as P;
    matches!(
        r,
        P::Mismatch | P::NoStartTls | P::TlsFailed | P::ConnectFailed | P::UnreachableLocally
    )
}

/// A time in RFC 3339, the one format of every report.
fn rfc3339(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "?".to_owned())
}
