//! One probe: an SMTP session to one address with one key algorithm, and what it showed.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(crate) use mxdane_smtp::deliver::dane_target as target;

/// One probe of `ip` for host `h` under the plan's policy for it (the survey probes through
/// this too).
pub async fn probe(
    env: &Environment,
    h: &HostPlan,
    ip: IpAddr,
    alg: &'static str,
    filter: KeyFilter,
    options: &Options,
) -> Probe {
    let mut p = Probe {
        ip,
        algorithm: alg,
        result: ProbeResult::TlsFailed,
        reason: None,
        detail: String::new(),
        tls_version: None,
        cipher: None,
        chain: Vec::new(),
        matched: None,
        at_verifies: None,
        duration: std::time::Duration::ZERO,
        transcript: Vec::new(),
    };
    let started = tokio::time::Instant::now();
    let Some(t) = target(h, filter) else {
        p.reason = Some(ProbeReason::UnusableName);
        p.detail = format!("{} is not a usable TLS name", h.name);
        return p;
    };
    let policy = match h.decision {
        Decision::Dane => Policy::Dane(t),
        Decision::TlsMandatory => Policy::Encrypt(t),
        _ => Policy::May(t),
    };
    let s = mxdane_smtp::session(
        &env.connector,
        SocketAddr::new(ip, options.port),
        &policy,
        &options.helo,
        options.settings,
    )
    .await;
    fill(&mut p, &s, h, options);
    p.duration = started.elapsed();
    p
}

fn fill(p: &mut Probe, s: &SessionReport, h: &HostPlan, options: &Options) {
    p.transcript = s.transcript.clone();
    if let Some(tls) = &s.tls {
        if !tls.version.is_empty() {
            p.tls_version = Some(tls.version.clone());
            p.cipher = Some(tls.cipher.clone());
        }
        if let Some(r) = &tls.report {
            p.chain = r.chain().to_vec();
            if let TlsVerdict::Authenticated { record, depth, .. } = r.verdict() {
                p.matched = h.tlsa.get(*record).map(|t| Matched {
                    record: t.clone(),
                    depth: *depth,
                });
            }
            if let Some(at) = options.at {
                let ders: Vec<_> = p.chain.iter().map(|c| c.der.clone().into()).collect();
                let names: Vec<Name> = h.reference_ids.to_vec();
                let later =
                    mxdane_tls::verify_chain(&ders, &h.tlsa, &names, mxdane_tls::unix_time(at));
                p.at_verifies = Some(later.is_authenticated());
            }
        }
    }
    let detail = s
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    use ProbeReason as R;
    let (result, reason, detail) = match (&s.error, s.success, s.security) {
        (None, true, Security::Authenticated) => (ProbeResult::Verified, None, String::new()),
        (None, true, Security::Encrypted) => (ProbeResult::Encrypted, None, String::new()),
        (None, true, Security::Plaintext) => (
            ProbeResult::Plaintext,
            Some(R::StarttlsNotOffered),
            "no STARTTLS, none required".into(),
        ),
        (Some(SmtpError::NoStartTls), ..) => (
            ProbeResult::NoStartTls,
            Some(R::StarttlsNotOffered),
            "STARTTLS is not offered".into(),
        ),
        (Some(SmtpError::Rejected(mxdane_smtp::Stage::StartTls, r)), ..) => (
            ProbeResult::NoStartTls,
            Some(R::StarttlsRefused),
            format!("STARTTLS refused: {}", r.summary()),
        ),
        (Some(SmtpError::Tls(TlsFailure::NotAuthenticated(r))), ..) => {
            let reason = mismatch_reason(r.outcomes());
            (ProbeResult::Mismatch, Some(reason), String::new())
        }
        (Some(SmtpError::Tls(TlsFailure::NoCertificateOfType { .. })), ..) => (
            ProbeResult::NoSuchCertificate,
            Some(R::OtherKeyType),
            detail,
        ),
        (Some(SmtpError::Io(e)), ..) if s.reached == mxdane_smtp::Stage::Connect => {
            let local = matches!(e.raw_os_error(), Some(101 | 99))
                || (p.ip.is_ipv6() && e.kind() == std::io::ErrorKind::AddrNotAvailable);
            if local {
                (
                    ProbeResult::UnreachableLocally,
                    Some(R::NoRoute),
                    e.to_string(),
                )
            } else {
                (
                    ProbeResult::ConnectFailed,
                    Some(R::NetworkError),
                    e.to_string(),
                )
            }
        }
        (Some(SmtpError::Timeout(mxdane_smtp::Stage::Connect)), ..) => (
            ProbeResult::ConnectFailed,
            Some(R::Timeout),
            "connect timed out".into(),
        ),
        (Some(e), ..) => {
            let reason = match e {
                SmtpError::Tls(TlsFailure::Io(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    R::Closed
                }
                SmtpError::Io(_) | SmtpError::Tls(TlsFailure::Io(_)) => R::NetworkError,
                SmtpError::Closed => R::Closed,
                SmtpError::Timeout(_) => R::Timeout,
                SmtpError::Protocol(_) => R::ProtocolError,
                // A probe sends no message: these come only from a mail transaction.
                SmtpError::Rejected(..) | SmtpError::TooBig { .. } | SmtpError::Utf8Unsupported => {
                    R::Rejected
                }
                SmtpError::Injection(_) => R::Injection,
                SmtpError::Tls(_) => R::TlsHandshake,
                SmtpError::NoStartTls => R::StarttlsNotOffered,
            };
            (ProbeResult::TlsFailed, Some(reason), detail)
        }
        (None, ..) => (
            ProbeResult::TlsFailed,
            Some(R::Incomplete),
            "the session ended without success".into(),
        ),
    };
    p.result = result;
    p.reason = reason;
    p.detail = detail;
}

fn mismatch_reason(outcomes: &[RecordOutcome]) -> ProbeReason {
    let mut best = ProbeReason::NoMatch;
    for o in outcomes {
        match o {
            RecordOutcome::NameMismatch { .. } => best = ProbeReason::NameMismatch,
            RecordOutcome::ChainInvalid { problem, .. } if best != ProbeReason::NameMismatch => {
                best = match problem {
                    mxdane_tls::ChainProblem::Expired
                    | mxdane_tls::ChainProblem::NotYetValid
                    | mxdane_tls::ChainProblem::AnchorNotValid => ProbeReason::Expired,
                    _ => ProbeReason::ChainInvalid,
                };
            }
            _ => {}
        }
    }
    best
}
