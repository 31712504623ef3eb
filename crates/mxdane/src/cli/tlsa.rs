//! `mxdane tlsa generate`, `mxdane tlsa lint` and `mxdane tlsa verify` (with the
//! pre-deployment gate, `--host`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use mxdane_tlsa::generate::{self, Inputs, Preset, Variant};
use mxdane_tlsa::lint::{self, Chain, Severity};
use mxdane_tlsa::{Certificate, Material, Name, Tlsa, ZoneRecord, read_material};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{check as check_cmd, dns as dns_cmd};
use crate::{Failure, block_on, printable, say_json};
use mxdane::view;

const GENERATE_EXIT_CODES: &str = "\
Exit status:
  0  the records were printed
  2  bad input or usage (unreadable file, no leaf certificate, a variant that cannot be
     produced, an invalid host name or port, a server that cannot be fetched from)";

const LINT_EXIT_CODES: &str = "\
Exit status:
  0  no error (warnings allowed)
  1  an error: an unusable or malformed record, or a chain some sender cannot
     authenticate
  2  bad input or usage (unreadable file, no TLSA record, an invalid origin)";

const VERIFY_EXIT_CODES: &str = "\
Exit status:
  0  a record authenticates the chain (gate: against what every server publishes)
  1  no record authenticates it (gate: some server's records would not)
  2  bad input or usage (unreadable file, malformed record, certificate or name)
  3  gate only: it cannot tell (a server without an answer, an RRset that does not
     validate, a host without secure TLSA records, the resolver down)";

#[derive(Subcommand, Debug)]
pub(crate) enum TlsaCommand {
    /// Print the TLSA records to publish for a server's certificates and keys, as zone-file lines.
    #[command(after_help = GENERATE_EXIT_CODES)]
    Generate(GenerateArgs),
    /// Check TLSA records (zone-file lines or bare "u s m hex" lines) against RFC 7671/7672 and
    /// operational advice; with the server's chains, check that every sender can authenticate it.
    #[command(after_help = LINT_EXIT_CODES)]
    Lint(LintArgs),
    /// Would this chain, presented by a server, authenticate against these records (RFC 7672)?
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    /// The server's current certificate (PEM or DER; a PEM file may hold the whole chain, in
    /// any order). Repeat for servers with both RSA and ECDSA certificates. Without it (and
    /// without --from-server), --key alone prints the next key's record, the one to publish
    /// first.
    #[arg(long, required_unless_present_any = ["from_server", "key"], value_name = "FILE")]
    cert: Vec<PathBuf>,
    /// Fetch the current chains from a live server instead (STARTTLS; one handshake per key
    /// algorithm, so RSA and ECDSA chains are both found). HOST may be a name or an address.
    #[arg(long, value_name = "HOST[:PORT]")]
    from_server: Option<String>,
    /// Chain file with the issuing CA certificates the server sends.
    #[arg(long, value_name = "FILE")]
    chain: Vec<PathBuf>,
    /// A next key (private or public, PEM or DER) for "current + next" rollover. Repeatable.
    #[arg(long, value_name = "FILE")]
    key: Vec<PathBuf>,
    /// The MX host name the records are for (not the TLSA owner name, not an address).
    #[arg(long, value_name = "NAME")]
    host: String,
    /// The SMTP port (25 for MX delivery).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Which rollover scheme to generate.
    #[arg(long, value_enum, default_value_t = PresetArg::Auto)]
    preset: PresetArg,
    /// Generate exactly these "usage selector type" shapes instead of the preset (usage 3 for the
    /// current and next keys, usage 2 for the issuer), e.g. --variant "3 1 1" --variant "3 1 2".
    #[arg(long, value_name = "U S M", conflicts_with = "preset")]
    variant: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum PresetArg {
    /// current + next if --key is given, else current + issuer if the issuer is known
    Auto,
    /// 3 1 1 for the current key and each next key
    CurrentNext,
    /// 3 1 1 for the current key and 2 1 1 for the issuing CA
    CurrentIssuer,
    /// 3 1 1 for the current key only (no safe rollover)
    Current,
}

#[derive(Args, Debug)]
pub(crate) struct LintArgs {
    /// Zone-file or bare "u s m hex" lines; "-" or nothing for standard input.
    #[arg(value_name = "FILE|-")]
    file: Option<PathBuf>,
    /// Origin for relative owner names.
    #[arg(long, value_name = "NAME")]
    origin: Option<String>,
    /// A certificate the server presents (a PEM file may hold the chain, leaf first). Each use
    /// is one server chain: repeat for dual RSA+ECDSA servers.
    #[arg(long, value_name = "FILE")]
    cert: Vec<PathBuf>,
    /// A chain file as the server sends it, leaf first. Each use is one server chain.
    #[arg(long, value_name = "FILE")]
    chain: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The chain the server presents, leaf first (PEM or DER).
    #[arg(long, value_name = "FILE")]
    chain: PathBuf,
    /// Reference identifiers for DANE-TA name checks: the TLSA base domain first (with --host,
    /// they come from the DNS plan).
    #[arg(long = "name", value_name = "NAME", required_unless_present = "host")]
    names: Vec<String>,
    /// A TLSA record "usage selector type hex". Repeatable.
    #[arg(long, value_name = "U S M HEX")]
    tlsa: Vec<String>,
    /// A file of TLSA records (zone-file or bare lines).
    #[arg(long, value_name = "FILE")]
    tlsa_file: Option<PathBuf>,
    /// Judge at this time (RFC 3339, e.g. 2027-01-31T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339_TIME")]
    at: Option<String>,
    /// The pre-deployment gate: without --tlsa, fetch this MX host's TLSA RRset from every
    /// authoritative server (validated) and judge the chain against each.
    #[arg(long, value_name = "MX_HOST", conflicts_with_all = ["tlsa", "tlsa_file"])]
    host: Option<String>,
    /// The SMTP port of the TLSA owner name (with --host).
    #[arg(long, default_value_t = 25)]
    port: u16,
    #[command(flatten)]
    dns: dns_cmd::ResolverArgs,
    /// Send DNS connections for ADDR:PORT to ADDR2:PORT2 (labs and staging). Repeatable.
    #[arg(long, value_name = "ADDR:PORT=ADDR:PORT")]
    route: Vec<String>,
}

/// The most an input file (certificates, keys, zone text) may hold: far more than any real
/// one, and `/dev/zero` or a mistaken path cannot exhaust memory.
const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Reads at most [`MAX_INPUT`] octets from `r`; more is an error naming the limit.
fn read_capped(label: &str, r: impl io::Read) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(r, MAX_INPUT + 1), &mut buf)
        .map_err(|e| Failure(format!("{label}: cannot read: {e}")))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(Failure(format!(
            "{label}: more than {} MiB: not a certificate, key or zone file",
            MAX_INPUT / (1024 * 1024)
        )));
    }
    Ok(buf)
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    let label = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| Failure(format!("{label}: cannot read: {e}")))?;
    read_capped(&label, file)
}

fn read_input(path: &Path) -> Result<Material, Failure> {
    read_material(&read_file(path)?).map_err(|e| Failure(format!("{}: {e}", path.display())))
}

fn read_certificates(path: &Path) -> Result<Vec<Certificate>, Failure> {
    let m = read_input(path)?;
    if m.certificates.is_empty() {
        return Err(Failure(format!(
            "{}: holds a key but no certificate",
            path.display()
        )));
    }
    Ok(m.certificates)
}

/// The host name TLSA records are for: not an address (RFC 7672 section 2.2.3 bases them on
/// names), not a name that already is a TLSA owner.
fn tlsa_host(text: &str) -> Result<Name, Failure> {
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Err(Failure(format!(
            "--host {text}: an IP address; TLSA records belong to the MX host's name"
        )));
    }
    let host = mxdane::input::domain(text).map_err(|e| Failure(format!("--host: {e}")))?;
    if let Some((port, rest)) = host.split_tlsa_owner() {
        return Err(Failure(format!(
            "--host {text}: already a TLSA owner name; give the host ({rest}) and --port {port}"
        )));
    }
    Ok(host)
}

pub(crate) fn generate(a: &GenerateArgs, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let host = tlsa_host(&a.host)?;
    let owner = host.tlsa_owner(a.port)?;
    let mut inputs = Inputs::default();
    if let Some(server) = &a.from_server {
        for (label, chain) in fetch_chains(server, &host)? {
            let mut certs = chain.into_iter();
            if let Some(leaf) = certs.next() {
                inputs.leaves.push((label, leaf));
            }
            inputs.issuers.extend(certs);
        }
    }
    for path in &a.cert {
        let (leaf, issuers) = mxdane_tlsa::generate::split_leaf(read_certificates(path)?)
            .map_err(|e| Failure(format!("{}: {e}", path.display())))?;
        inputs.leaves.push((path.display().to_string(), leaf));
        inputs.issuers.extend(issuers);
    }
    for path in &a.chain {
        inputs.issuers.extend(read_certificates(path)?);
    }
    for path in &a.key {
        let m = read_input(path)?;
        if !m.certificates.is_empty() {
            return Err(Failure(format!(
                "{}: holds a certificate; --key takes the next key (private or public), --cert the certificate",
                path.display()
            )));
        }
        inputs
            .next_keys
            .extend(m.keys.into_iter().map(|k| (path.display().to_string(), k)));
    }
    let variants = a
        .variant
        .iter()
        .map(|v| parse_variant(v))
        .collect::<Result<Vec<_>, _>>()?;
    let preset = match a.preset {
        PresetArg::Auto => Preset::Auto,
        PresetArg::CurrentNext => Preset::CurrentNext,
        PresetArg::CurrentIssuer => Preset::CurrentIssuer,
        PresetArg::Current => Preset::Current,
    };
    // A --chain that issues none of the certificates is a mistake, not something to ignore.
    for path in &a.chain {
        for c in read_certificates(path)? {
            // The server's own certificate repeated in a full chain is harmless.
            if inputs.leaves.iter().any(|(_, l)| l.der() == c.der()) {
                continue;
            }
            let issues_one = inputs
                .leaves
                .iter()
                .map(|(_, l)| l)
                .chain(inputs.issuers.iter())
                .any(|l| l.issuer() == c.subject() && l.spki_der() != c.spki_der());
            if !issues_one && !inputs.leaves.is_empty() {
                return Err(Failure(format!(
                    "{}: \"{}\" issues none of the certificates given: is it the right chain?",
                    path.display(),
                    c.subject()
                )));
            }
        }
    }
    let plan = generate::plan(
        &inputs,
        preset,
        (!variants.is_empty()).then_some(variants.as_slice()),
    )?;
    for note in &plan.notes {
        eprintln!("mxdane: note: {}", printable(note));
    }
    if json {
        let records = plan
            .records
            .iter()
            .map(|g| {
                let (usage, selector, matching_type) = g.record.params();
                view::GeneratedRecord {
                    data: mxdane_tlsa::record::hex(g.record.data()),
                    matching_type,
                    owner: owner.as_str(),
                    pins: &g.pins,
                    rdata: g.record.to_string(),
                    role: g.role.to_string(),
                    selector,
                    usage,
                }
            })
            .collect();
        say_json(
            out,
            &view::Generated {
                notes: &plan.notes,
                records,
            },
        )?;
    } else {
        for g in &plan.records {
            say!(out, "{}", generate::zone_line(&owner, g));
        }
    }
    Ok(0)
}

fn parse_variant(text: &str) -> Result<Variant, Failure> {
    // Reuse the record parser for the three fields (mnemonics included).
    let r: Tlsa = format!("{text} 00")
        .parse()
        .map_err(|e| Failure(format!("--variant \"{text}\": {e}")))?;
    if text.split_whitespace().count() != 3 {
        return Err(Failure(format!(
            "--variant \"{text}\": expected three fields \"usage selector type\""
        )));
    }
    Ok((r.usage(), r.selector(), r.matching_type()))
}

fn read_records(
    path: Option<&Path>,
    origin: Option<&Name>,
) -> Result<(String, Vec<ZoneRecord>), Failure> {
    let (label, bytes) = match path {
        None => ("<stdin>".to_owned(), read_stdin()?),
        Some(p) if p == Path::new("-") => ("<stdin>".to_owned(), read_stdin()?),
        Some(p) => (p.display().to_string(), read_file(p)?),
    };
    let text =
        String::from_utf8(bytes).map_err(|_| Failure(format!("{label}: is not UTF-8 text")))?;
    let records =
        mxdane_tlsa::parse_zone(&text, origin).map_err(|e| Failure(format!("{label}: {e}")))?;
    Ok((label, records))
}

fn read_stdin() -> Result<Vec<u8>, Failure> {
    read_capped("<stdin>", io::stdin())
}

/// Records given by hand must have data of the right length for their matching type.
fn check_lengths(label: &str, records: &[ZoneRecord]) -> Result<(), Failure> {
    for zr in records {
        if let Some(problem) = zr.record.length_problem() {
            return Err(Failure(format!(
                "{label}: line {}: \"{}\": {problem}",
                zr.line, zr.record
            )));
        }
    }
    Ok(())
}

pub(crate) fn lint(a: &LintArgs, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let origin = a
        .origin
        .as_deref()
        .map(|o| mxdane::input::domain(o).map_err(|e| Failure(format!("--origin: {e}"))))
        .transpose()?;
    let (label, records) = read_records(a.file.as_deref(), origin.as_ref())?;
    if records.is_empty() {
        return Err(Failure(format!("{label}: holds no TLSA record")));
    }
    let mut chains = Vec::new();
    for path in a.cert.iter().chain(&a.chain) {
        chains.push(Chain {
            label: path.display().to_string(),
            certificates: read_certificates(path)?,
        });
    }
    let findings = lint::lint(&records, &chains);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if json {
        let items = findings
            .iter()
            .map(|f| view::Finding {
                explanation: f.rule.explanation(),
                line: f.line,
                message: &f.message,
                owner: f.owner.as_ref().map(Name::as_str),
                record: f.record.as_deref(),
                reference: f.rule.reference(),
                rule: f.rule.id(),
                severity: f.severity.to_string(),
            })
            .collect();
        say_json(
            out,
            &view::Lint {
                chains: chains.len(),
                errors,
                findings: items,
                records: records.len(),
                warnings: findings.len() - errors,
            },
        )?;
    } else {
        for f in &findings {
            let owner = f.owner.as_ref().map_or(String::new(), |o| format!("{o}: "));
            say!(
                out,
                "{}: {owner}{} [{}]",
                f.severity,
                f.message,
                f.rule.id()
            );
            say!(
                out,
                "    why: {} ({})",
                f.rule.explanation(),
                f.rule.reference()
            );
        }
        say!(
            out,
            "{} record(s), {} chain(s): {errors} error(s), {} warning(s)",
            records.len(),
            chains.len(),
            findings.len() - errors
        );
    }
    // A digest of the wrong length is a finding (digest-length, an error: exit 1) like any
    // other unusable record; only input that cannot be read at all exits 2.
    Ok(u8::from(errors > 0))
}

pub(crate) fn verify(a: &VerifyArgs, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let chain = read_certificates(&a.chain)?;
    let names = a
        .names
        .iter()
        .map(|n| mxdane::input::domain(n).map_err(|e| Failure(format!("--name: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let at = match &a.at {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).map_err(|e| {
            Failure(format!(
                "--at \"{t}\": not an RFC 3339 time such as 2027-01-31T00:00:00Z ({e})"
            ))
        })?,
        None => OffsetDateTime::now_utc(),
    };
    if let Some(host) = &a.host {
        return gate(a, host, &chain, at, json, out);
    }
    let mut records: Vec<ZoneRecord> = Vec::new();
    for (i, text) in a.tlsa.iter().enumerate() {
        let record: Tlsa = text.parse().map_err(|e| Failure(format!("--tlsa: {e}")))?;
        records.push(ZoneRecord {
            line: i + 1,
            owner: None,
            ttl: None,
            rtype: "TLSA",
            record,
        });
    }
    check_lengths("--tlsa", &records)?;
    if let Some(path) = &a.tlsa_file {
        let (label, from_file) = read_records(Some(path), None)?;
        check_lengths(&label, &from_file)?;
        records.extend(from_file);
    }
    if records.is_empty() {
        return Err(Failure(
            "no TLSA record given: use --tlsa \"U S M HEX\" or --tlsa-file FILE".to_owned(),
        ));
    }
    let tlsa: Vec<Tlsa> = records.iter().map(|z| z.record.clone()).collect();
    let ders: Vec<_> = chain.iter().map(|c| c.der().to_vec().into()).collect();
    let report = mxdane_tls::verify_chain(&ders, &tlsa, &names, mxdane_tls::unix_time(at));
    let (verdict, code, matched) = match report.verdict() {
        mxdane_tls::Verdict::Authenticated { record, depth, .. } => {
            ("authenticated", 0, Some((*record, *depth)))
        }
        _ => ("not-authenticated", 1, None),
    };
    let outcome_text = |o: &mxdane_tls::RecordOutcome| -> (String, String) {
        (o.kind().to_owned(), o.to_string())
    };
    if json {
        say_json(
            out,
            &view::Verify {
                at: view::time(at),
                chain: chain
                    .iter()
                    .enumerate()
                    .map(|(d, c)| view::VerifyCert::new(d, c))
                    .collect(),
                matched: matched.map(|(r, depth)| view::Matched {
                    depth,
                    record: tlsa[r].to_string(),
                }),
                names: names.iter().map(Name::as_str).collect(),
                records: tlsa
                    .iter()
                    .zip(report.outcomes())
                    .map(|(r, o)| view::RecordResult::new(r, o))
                    .collect(),
                verdict,
            },
        )?;
    } else {
        for (d, c) in chain.iter().enumerate() {
            say!(
                out,
                "depth {d}: {} ({}), issuer {}",
                c.subject(),
                c.key_type(),
                c.issuer()
            );
        }
        for (r, o) in tlsa.iter().zip(report.outcomes()) {
            let (result, detail) = outcome_text(o);
            say!(out, "{r}: {result}: {detail}");
        }
        match matched {
            Some((r, d)) => say!(out, "authenticated: \"{}\" matched at depth {d}", tlsa[r]),
            None => say!(
                out,
                "not authenticated: no usable record matches this chain"
            ),
        }
    }
    Ok(code)
}

/// The pre-deployment gate: would `chain` authenticate against the TLSA RRset that every
/// authoritative server of `host`'s zone publishes (each answer validated)?
fn gate(
    a: &VerifyArgs,
    host: &str,
    chain: &[Certificate],
    at: OffsetDateTime,
    json: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let host_name = mxdane::input::domain(host).map_err(|e| Failure(format!("--host: {e}")))?;
    let (env, _) = check_cmd::environment(&a.dns, a.dns.timeout, &a.route)?;
    let request = mxdane_dns::plan::Request {
        destination: host_name,
        port: a.port,
        kind: mxdane_dns::plan::Kind::Host,
    };
    let plan = block_on(mxdane_dns::plan::plan(env.resolver.as_ref(), &request))?;
    let Some(h) = plan.hosts.first() else {
        return Err(Failure(format!("{host}: no plan: {}", plan.reason)));
    };
    let mut names: Vec<Name> = h.reference_ids.to_vec();
    for n in &a.names {
        names.push(mxdane::input::domain(n).map_err(|e| Failure(format!("--name: {e}")))?);
    }
    let (answers, gap) = block_on(mxdane::check::nameserver_answers(&env, h, a.port))?;
    let ders: Vec<_> = chain.iter().map(|c| c.der().to_vec().into()).collect();
    let mut rows = Vec::new();
    // Two kinds of "no": the chain would not authenticate (exit 1), or the gate could not
    // tell (exit 3: a server without an answer, an RRset that does not validate, a host
    // whose TLSA records are not secure, no server at all).
    let mut cannot_tell: Vec<String> = Vec::new();
    if !matches!(
        h.decision,
        mxdane_dns::plan::Decision::Dane | mxdane_dns::plan::Decision::TlsMandatory
    ) {
        cannot_tell.push(format!(
            "{host} has no secure TLSA records to judge against ({})",
            h.reason
        ));
    }
    if let Some(gap) = &gap {
        cannot_tell.push(format!(
            "not every authoritative server could be asked: {}",
            gap.why()
        ));
    }
    if answers.is_empty() {
        cannot_tell.push(format!(
            "no authoritative server answered for {host}'s TLSA RRset ({})",
            h.reason
        ));
    }
    let mut pass = true;
    for ans in &answers {
        let (ok, detail, records) = match (&ans.tlsa, &ans.signed) {
            (Err(e), _) => {
                cannot_tell.push(format!("{} ({}) gives no answer: {e}", ans.name, ans.ip));
                (false, format!("no answer: {e}"), Vec::new())
            }
            (Ok(_), Err(e)) => {
                cannot_tell.push(format!(
                    "{} ({}) serves an RRset that does not validate: {e}",
                    ans.name, ans.ip
                ));
                (
                    false,
                    format!("the RRset does not validate: {e}"),
                    Vec::new(),
                )
            }
            (Ok(t), Ok(())) if t.is_empty() => {
                (false, "publishes no TLSA record".to_owned(), Vec::new())
            }
            (Ok(t), Ok(())) => {
                let records: &[Tlsa] = t;
                let report =
                    mxdane_tls::verify_chain(&ders, records, &names, mxdane_tls::unix_time(at));
                match report.verdict() {
                    mxdane_tls::Verdict::Authenticated { record, depth, .. } => (
                        true,
                        format!("\"{}\" matches at depth {depth}", records[*record]),
                        t.iter().map(ToString::to_string).collect(),
                    ),
                    _ => (
                        false,
                        "no record authenticates the new chain".to_owned(),
                        t.iter().map(ToString::to_string).collect(),
                    ),
                }
            }
        };
        pass &= ok;
        rows.push((ans, ok, detail, records));
    }
    let (result, code) = if !cannot_tell.is_empty() {
        ("unknown", 3)
    } else if pass {
        ("pass", 0)
    } else {
        ("fail", 1)
    };
    if json {
        let servers = rows
            .iter()
            .map(|(ans, ok, detail, records)| view::GateServer {
                detail,
                ip: ans.ip.to_string(),
                name: ans.name.to_string(),
                records,
                result: if *ok { "pass" } else { "fail" },
            })
            .collect();
        say_json(
            out,
            &view::Gate {
                at: view::time(at),
                cannot_tell: &cannot_tell,
                gate: result,
                host,
                owner: answers.first().map(|a| a.owner.to_string()),
                servers,
            },
        )?;
    } else {
        for (ans, ok, detail, _) in &rows {
            say!(
                out,
                "{} {} ({}): {detail}",
                if *ok { "pass" } else { "FAIL" },
                ans.name,
                ans.ip
            );
        }
        for why in &cannot_tell {
            say!(out, "cannot tell: {why}");
        }
        say!(
            out,
            "{}",
            match code {
                0 =>
                    "gate: pass: every authoritative server publishes a record for this chain; deploy it",
                1 => "gate: FAIL: do not deploy this chain yet",
                _ => "gate: UNKNOWN: the gate could not check; do not deploy before it can",
            }
        );
    }
    Ok(code)
}

/// The chains a live server presents, one per key algorithm it has (STARTTLS on port 25 unless
/// `server` names a port), each labelled with where it came from.
fn fetch_chains(server: &str, host: &Name) -> Result<Vec<(String, Vec<Certificate>)>, Failure> {
    use std::net::ToSocketAddrs;
    let with_port = if server.parse::<std::net::SocketAddr>().is_ok()
        || server
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.contains(':') && p.parse::<u16>().is_ok())
    {
        server.to_owned()
    } else if server
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_ipv6())
    {
        format!("[{server}]:25")
    } else {
        format!("{server}:25")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| Failure(format!("--from-server \"{server}\": cannot resolve: {e}")))?
        .next()
        .ok_or_else(|| Failure(format!("--from-server \"{server}\": no address")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start the async runtime: {e}")))?;
    let mut out: Vec<(String, Vec<Certificate>)> = Vec::new();
    let mut errors = Vec::new();
    for (alg, filter) in [
        ("default", mxdane_tls::KeyFilter::Any),
        ("rsa", mxdane_tls::KeyFilter::Rsa),
        ("ecdsa", mxdane_tls::KeyFilter::Ecdsa),
    ] {
        let target = mxdane_tls::DaneTarget::new(Vec::new(), vec![host.clone()])
            .map_err(|e| Failure(e.to_string()))?
            .key_filter(filter);
        let report = runtime.block_on(mxdane_smtp::session(
            &mxdane_smtp::Connector::direct(),
            addr,
            &mxdane_smtp::Policy::Encrypt(target),
            "mxdane.invalid",
            mxdane_smtp::Settings::default(),
        ));
        let chain = report
            .tls
            .as_ref()
            .and_then(|t| t.report.as_ref())
            .map(|r| r.chain().to_vec());
        match chain {
            Some(chain) if report.success => {
                let certs = chain
                    .iter()
                    .map(|c| Certificate::from_der(&c.der))
                    .collect::<Result<Vec<_>, _>>()?;
                if !out.iter().any(|(_, c)| {
                    c.first().map(Certificate::der) == certs.first().map(Certificate::der)
                }) {
                    out.push((format!("server {addr} ({alg})"), certs));
                }
            }
            _ => errors.push(format!(
                "{alg}: {}",
                report
                    .error
                    .map_or_else(|| "no TLS".to_owned(), |e| e.to_string())
            )),
        }
    }
    if out.is_empty() {
        return Err(Failure(format!(
            "--from-server {addr}: no certificate fetched ({})",
            errors.join("; ")
        )));
    }
    Ok(out)
}
