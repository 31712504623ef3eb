//! `mxdane dns`: the RFC 7672 destination plan with every lookup and its DNSSEC status.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mxdane_dns::plan::{self, Plan, Request};
use mxdane_dns::rdata::type_name;
use mxdane_dns::transport::{parse_server, resolv_conf_server};
use mxdane_dns::{
    NetTransport, Resolver, TrustedAdResolver, UnboundResolver, Upstream, iana_root_anchors,
    parse_trust_anchors,
};

use crate::Failure;

#[derive(Args, Debug)]
pub(crate) struct DnsArgs {
    /// The recipient domain (MX delivery), or with --host the host to deliver to.
    #[arg(value_name = "DOMAIN")]
    destination: String,
    /// The SMTP port whose TLSA records count (25 for MX delivery; 587 or 465 when asked).
    #[arg(long, default_value_t = 25)]
    port: u16,
    /// Treat DESTINATION as a host (a configured next hop): no MX lookup.
    #[arg(long)]
    host: bool,
    #[command(flatten)]
    dns: ResolverArgs,
}

/// How DNS is resolved: the same flags for `dns`, `check` and `tlsa verify --host`.
#[derive(Args, Debug, Clone)]
pub(crate) struct ResolverArgs {
    /// Trust anchors in zone-file form (DS or DNSKEY records) instead of the IANA root KSKs.
    #[arg(long, value_name = "FILE")]
    pub(crate) trust_anchor: Option<PathBuf>,
    /// The recursive resolver to forward to (default: the first nameserver of
    /// /etc/resolv.conf); libunbound validates its answers here. IPv6 with a port is written
    /// [::1]:5353.
    #[arg(long, value_name = "ADDR[:PORT]", conflicts_with = "recursive")]
    pub(crate) resolver: Option<String>,
    /// Trust the AD bit of a validating resolver on a loopback address instead of validating.
    #[arg(long, conflicts_with = "recursive")]
    pub(crate) trust_ad: bool,
    /// Resolve from the root servers with no upstream resolver (libunbound iterates and
    /// validates): for hosts whose resolver is broken or untrusted, and for surveys.
    #[arg(long)]
    pub(crate) recursive: bool,
    /// With --recursive: a root hints file (private roots, labs) instead of the built-in root
    /// servers.
    #[arg(long, value_name = "FILE", requires = "recursive")]
    pub(crate) root_hints: Option<PathBuf>,
    /// Seconds for each step: a DNS lookup step, and for `check` each SMTP step too (connect,
    /// banner, reply, handshake). The whole DNS phase gets ten steps, an SMTP session six.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub(crate) timeout: u64,
}

/// The resolver the options ask for, and how to name it in reports (its address, or
/// `root servers` when iterating).
pub(crate) fn resolver(
    r: &ResolverArgs,
    timeout: u64,
) -> Result<(Arc<dyn Resolver>, String), Failure> {
    let step = Duration::from_secs(timeout.max(1));
    if let Some(w) = mxdane_unbound::version_warning() {
        eprintln!("mxdane: warning: {w}");
    }
    let anchors = || -> Result<_, Failure> {
        match &r.trust_anchor {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Failure(format!("{}: cannot read: {e}", path.display())))?;
                parse_trust_anchors(&text).map_err(|e| Failure(format!("{}: {e}", path.display())))
            }
            None => Ok(iana_root_anchors()),
        }
    };
    if r.recursive {
        let root_hints = match &r.root_hints {
            Some(p) => {
                std::fs::metadata(p)
                    .map_err(|e| Failure(format!("{}: cannot read: {e}", p.display())))?;
                Some(p.display().to_string())
            }
            None => None,
        };
        let label = root_hints.as_ref().map_or_else(
            || "root servers".to_owned(),
            |h| format!("root servers of {h}"),
        );
        let ctx = UnboundResolver::context(&Upstream::Recursive { root_hints }, &anchors()?, None)
            .map_err(Failure)?;
        return Ok((
            Arc::new(UnboundResolver::new(Arc::new(ctx), step, &label)),
            label,
        ));
    }
    let server = match &r.resolver {
        Some(text) => parse_server(text).map_err(Failure)?,
        None => {
            let conf = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| {
                Failure(format!(
                    "/etc/resolv.conf: cannot read ({e}); give --resolver ADDR[:PORT] or --recursive"
                ))
            })?;
            resolv_conf_server(&conf).ok_or_else(|| {
                Failure(
                    "/etc/resolv.conf names no nameserver: give --resolver ADDR[:PORT] or --recursive"
                        .into(),
                )
            })?
        }
    };
    let resolver: Arc<dyn Resolver> = if r.trust_ad {
        if r.trust_anchor.is_some() {
            return Err(Failure(
                "--trust-anchor has no effect with --trust-ad (the resolver validates): drop one"
                    .into(),
            ));
        }
        Arc::new(
            TrustedAdResolver::new(Arc::new(NetTransport::new(server, step))).map_err(Failure)?,
        )
    } else {
        Arc::new(UnboundResolver::forwarding(server, &anchors()?, step).map_err(Failure)?)
    };
    Ok((resolver, server.to_string()))
}

pub(crate) fn run(a: &DnsArgs, json_out: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let destination = mxdane::input::domain(&a.destination).map_err(Failure)?;
    if destination.is_root() {
        return Err(Failure(
            "the destination is the root name: give a domain".into(),
        ));
    }
    let (resolver, server) = resolver(&a.dns, a.dns.timeout)?;
    let request = Request {
        destination,
        port: a.port,
        kind: if a.host {
            mxdane_dns::plan::Kind::Host
        } else {
            mxdane_dns::plan::Kind::Domain
        },
    };
    let p = crate::block_on(plan::plan(resolver.as_ref(), &request))?;
    if json_out {
        let v = mxdane::view::plan(&p, Some(resolver.mode()), &server);
        crate::say!(
            out,
            "{}",
            serde_json::to_string(&v).map_err(|e| Failure(e.to_string()))?
        );
    } else {
        print_text(&p, resolver.mode(), &server, out)?;
    }
    Ok(u8::from(p.outcome != plan::Outcome::Deliverable))
}

fn print_text(p: &Plan, mode: &str, server: &str, out: &mut impl Write) -> Result<(), Failure> {
    crate::say!(
        out,
        "{} {} (port {}), {mode} resolver {server}",
        if p.request.kind == mxdane_dns::plan::Kind::Host {
            "host"
        } else {
            "domain"
        },
        p.request.destination,
        p.request.port
    );
    if let Some(mx) = &p.mx {
        crate::say!(out, "MX lookup: {}", mx.summary());
    }
    crate::say!(out, "outcome: {}: {}", p.outcome.name(), p.reason);
    for h in &p.hosts {
        crate::say!(out);
        let pref = h
            .preference
            .map_or(String::new(), |p| format!(" (preference {p})"));
        crate::say!(out, "host {}{pref}: {}", h.name, h.decision.name());
        crate::say!(out, "  reason: {}", h.reason);
        if let Some(base) = &h.tlsa_base {
            let ids: Vec<String> = h.reference_ids.iter().map(ToString::to_string).collect();
            crate::say!(
                out,
                "  TLSA base: {base}; reference identifiers: {}",
                ids.join(", ")
            );
        }
        let addrs: Vec<String> = h
            .addresses
            .iter()
            .map(|a| format!("{} ({})", a.ip, a.status.name()))
            .collect();
        if !addrs.is_empty() {
            crate::say!(out, "  addresses: {}", addrs.join(", "));
        }
        crate::say!(out, "  TLSA: {}", h.tlsa_status.name());
        for t in &h.tlsa {
            crate::say!(out, "    {t}");
        }
        crate::say!(out, "  lookups:");
        for l in &h.lookups {
            crate::say!(
                out,
                "    {} {}: {}",
                l.name,
                type_name(l.qtype),
                l.summary()
            );
        }
    }
    Ok(())
}
