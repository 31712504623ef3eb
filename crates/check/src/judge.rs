//! The verdict: findings from the destination's lookups, each host's records, its probes and
//! its nameservers; expiry and TTL advice.

#[allow(clippy::wildcard_imports)]
use super::*;

/// What the judge found so far, in the order it found it (the report lists them so).
#[derive(Default)]
struct Findings {
    crit: Vec<String>,
    warn: Vec<String>,
    notes: Vec<String>,
}

pub(crate) fn judge(r: &mut CheckReport, options: &Options) {
    let now = OffsetDateTime::now_utc();
    // A window past what the calendar holds (a library caller's huge expiry_days) ends at its
    // last day.
    let soon = now
        .checked_add(time::Duration::days(i64::from(options.expiry_days)))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc());
    let soon_unix = u32::try_from(soon.unix_timestamp()).unwrap_or(u32::MAX);
    // The resolver itself is unusable: unknown.
    if let Some(mx) = &r.plan.mx
        && let Err(e) = &mx.result
        && matches!(
            e,
            mxdane_dns::LookupError::Timeout { .. } | mxdane_dns::LookupError::Network(_)
        )
    {
        r.critical.push(format!("the MX lookup failed: {e}"));
        r.verdict = Verdict::Unknown;
        return;
    }
    let mut f = Findings::default();
    destination(r, soon_unix, &mut f);
    let working = r.hosts.iter().any(|h| {
        h.probes.iter().any(|p| {
            matches!(
                p.result,
                ProbeResult::Verified | ProbeResult::Encrypted | ProbeResult::Plaintext
            )
        })
    });
    let any_lookup_ok = r.hosts.iter().any(|h| !h.plan.addresses.is_empty());
    for h in &r.hosts {
        records(h, options, any_lookup_ok, soon_unix, &mut f);
        probes(h, working, soon, &mut f);
        nameservers(h, &mut f);
    }
    let Findings {
        mut crit,
        mut warn,
        mut notes,
    } = f;
    crit.dedup();
    warn.dedup();
    notes.dedup();
    r.notes = notes;
    r.verdict = if !crit.is_empty() {
        Verdict::Critical
    } else if !warn.is_empty() {
        Verdict::Warning
    } else {
        Verdict::Ok
    };
    r.critical = crit;
    r.warnings = warn;
}

/// The destination as a whole: work bounds, the MX lookup, the plan's outcome, whether DANE
/// is in effect.
fn destination(r: &CheckReport, soon_unix: u32, f: &mut Findings) {
    // D-19: a bound that cut the work short is said; what was checked is only part.
    for l in &r.plan.limits {
        f.warn.push(format!("work bound reached: {l}"));
    }
    if let Some(mx) = &r.plan.mx {
        match &mx.result {
            Ok(l) if matches!(l.status(), Status::Bogus(_)) => f
                .crit
                .push(format!("the MX lookup is bogus: {}", l.status())),
            Ok(l) => {
                if let Some(e) = l.expires().filter(|e| *e < soon_unix) {
                    f.warn.push(format!(
                        "the MX RRSIG expires at {}",
                        mxdane_dns::rdata::rrsig_time(e)
                    ));
                }
            }
            Err(e) => f.crit.push(format!("the MX lookup failed: {e}")),
        }
    }
    match r.plan.outcome {
        Outcome::NoSuchDomain => f.warn.push("the domain does not exist".into()),
        Outcome::NullMx => f.warn.push("the domain accepts no mail (null MX)".into()),
        _ => {}
    }
    // Mail that cannot be delivered is never ok: no host of the destination can be tried.
    if r.plan.outcome == Outcome::Defer
        && !r.hosts.is_empty()
        && r.hosts.iter().all(|h| h.plan.decision == Decision::Skip)
    {
        f.crit.push(format!(
            "no host can be tried: mail to {} is deferred ({})",
            r.plan.request.destination, r.plan.reason
        ));
    }
    let any_dane = r.hosts.iter().any(|h| h.plan.decision == Decision::Dane);
    if !any_dane && r.plan.outcome == Outcome::Deliverable {
        f.warn
            .push("DANE is not in effect: no host has usable TLSA records".into());
    }
    if any_dane && r.plan.mx_status() == Some("insecure") {
        f.warn.push(
            "the MX lookup is insecure: DANE protects the hosts, but not the list of hosts (RFC 7672 section 2.2.1)"
                .into(),
        );
    }
}

/// One host's records: the next key's, the TLSA lookup's status, the host's reachability in
/// DNS, and each lookup's signature expiry and TTL.
fn records(
    h: &HostCheck,
    options: &Options,
    any_lookup_ok: bool,
    soon_unix: u32,
    f: &mut Findings,
) {
    let name = &h.plan.name;
    if options.require_next && h.plan.decision == Decision::Dane {
        let usable: Vec<&Tlsa> = h
            .plan
            .tlsa
            .iter()
            .filter(|t| {
                matches!(
                    t.usage(),
                    mxdane_tlsa::Usage::DaneEe | mxdane_tlsa::Usage::DaneTa
                )
            })
            .collect();
        if let [only] = usable.as_slice()
            && only.usage() == mxdane_tlsa::Usage::DaneEe
        {
            f.warn.push(format!(
                "{name}: one DANE-EE record and nothing else: no next key's record and no issuer record is published, so a key change breaks DANE unless its record goes out two TTLs ahead (RFC 7671 section 8.1)"
            ));
        }
    }
    match &h.plan.tlsa_status {
        TlsaStatus::Bogus(why) => f
            .crit
            .push(format!("{name}: the TLSA lookup is bogus ({why})")),
        TlsaStatus::Failed(why) if any_lookup_ok => f.crit.push(format!(
            "{name}: the TLSA lookup fails ({why}) while other lookups work: DANE senders defer"
        )),
        TlsaStatus::Indeterminate(why) => f
            .crit
            .push(format!("{name}: the TLSA lookup is indeterminate ({why})")),
        _ => {}
    }
    // A host that cannot be tried (its name does not exist, its address lookups fail or
    // are bogus): mail for it waits or goes elsewhere.
    if h.plan.decision == Decision::Skip && h.plan.addresses.is_empty() {
        f.warn
            .push(format!("{name}: cannot be tried: {}", h.plan.reason));
    }
    for l in &h.plan.lookups {
        if let Ok(look) = &l.result {
            if let Some(e) = look.expires().filter(|e| *e < soon_unix) {
                f.warn.push(format!(
                    "{}: the {} RRSIG expires at {}",
                    l.name,
                    mxdane_dns::rdata::type_name(l.qtype),
                    mxdane_dns::rdata::rrsig_time(e)
                ));
            }
            // Advice, not a fault: it never changes the verdict.
            if l.qtype == rtype::TLSA
                && let Some(ttl) = look.ttl()
                && !(1800..=3600).contains(&ttl)
            {
                f.notes.push(format!(
                    "{}: TLSA TTL {ttl} s is outside the how-to's 1800 to 3600 s (a short TTL costs queries; a long one slows rollovers)",
                    l.name
                ));
            }
        }
    }
}

/// One host's probes: what each address and key algorithm showed, and DANE-TA chains that
/// expire soon.
fn probes(h: &HostCheck, working: bool, soon: OffsetDateTime, f: &mut Findings) {
    let name = &h.plan.name;
    let required = matches!(h.plan.decision, Decision::Dane | Decision::TlsMandatory);
    for p in &h.probes {
        let what = format!("{name} {} {}", p.ip, p.algorithm);
        match p.result {
            ProbeResult::Mismatch | ProbeResult::NoStartTls | ProbeResult::TlsFailed
                if required =>
            {
                f.crit
                    .push(format!("{what}: {} ({})", p.result.name(), p.why()));
            }
            ProbeResult::ConnectFailed if working => {
                f.warn.push(format!("{what}: unreachable ({})", p.why()))
            }
            ProbeResult::ConnectFailed => f.crit.push(format!("{what}: unreachable ({})", p.why())),
            _ => {}
        }
        if let Some(false) = p.at_verifies {
            f.warn
                .push(format!("{what}: would not verify at the --at time"));
        }
        // DANE-TA chain certificates expiring soon.
        if h.plan.decision == Decision::Dane
            && p.matched.as_ref().is_some_and(crate::Matched::is_dane_ta)
        {
            for c in p.chain.iter().skip(1) {
                if c.not_after.is_some_and(|t| t < soon) {
                    f.warn.push(format!(
                        "{what}: chain certificate {} expires {}",
                        c.subject,
                        c.not_after.map(|t| t.to_string()).unwrap_or_default()
                    ));
                }
            }
        }
    }
}

/// One host's authoritative nameservers: the same RRset and serial on every one (M-01), each
/// answer usable, every server asked.
fn nameservers(h: &HostCheck, f: &mut Findings) {
    let name = &h.plan.name;
    // M-01: every authoritative server must publish the same TLSA RRset.
    let sets: Vec<&Vec<Tlsa>> = h
        .nameservers
        .iter()
        .filter_map(|a| a.tlsa.as_ref().ok())
        .collect();
    if sets.windows(2).any(|w| w[0] != w[1]) {
        f.warn.push(format!(
            "{name}: the authoritative servers publish different TLSA RRsets"
        ));
    }
    let serials: BTreeSet<u32> = h.nameservers.iter().filter_map(|a| a.serial).collect();
    if serials.len() > 1 {
        f.warn.push(format!(
            "{name}: the authoritative servers have different SOA serials {serials:?}"
        ));
    }
    for a in &h.nameservers {
        if let Err(e) = &a.tlsa {
            f.crit.push(format!(
                "{name}: nameserver {} ({}) fails the TLSA query: {e}",
                a.name, a.ip
            ));
        }
    }
    match &h.nameserver_gap {
        Some(NsGap::Unavailable(e)) => f.crit.push(format!(
            "{name}: the authoritative servers cannot be checked: {e}"
        )),
        Some(NsGap::Incomplete(e)) => f.warn.push(format!(
            "{name}: not every authoritative server was checked: {e}"
        )),
        None => {}
    }
}
