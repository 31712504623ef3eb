//! `mxdane lab demo` and `mxdane lab serve` (the `lab` feature, on by default; a packaged
//! binary may leave the lab out).

use std::io::Write;
use std::time::Duration;

use mxdane::check::{self, Options};
use mxdane_dns::Name;
use mxdane_smtp::Settings;

use crate::Failure;
use crate::cli::check::print_text;

/// `mxdane lab serve`: the demo world, up for `seconds`, with the flags that reach it printed
/// at once (not at the end, like other output).
pub(crate) fn serve(
    seconds: u64,
    generated: Option<u64>,
    latency_ms: u64,
    flags_file: Option<&std::path::Path>,
) -> Result<u8, Failure> {
    let latency = Duration::from_millis(latency_ms);
    let lab = match generated {
        Some(n) => mxdane::demo::generated(usize::try_from(n).unwrap_or(usize::MAX), latency),
        None => mxdane::demo::start_with(latency),
    }
    .map_err(Failure)?;
    let anchor = std::env::temp_dir().join(format!("mxdane-lab-{}.anchor", std::process::id()));
    std::fs::write(&anchor, lab.world.trust_anchor_text())
        .map_err(|e| Failure(format!("{}: cannot write: {e}", anchor.display())))?;
    let mut flags = format!(
        "--resolver {} --trust-anchor {}",
        lab.resolver,
        anchor.display()
    );
    for (from, to) in &lab.routes {
        flags.push_str(&format!(" --route {from}={to}"));
    }
    if let Some(path) = flags_file {
        let mut lines = format!(
            "--resolver\n{}\n--trust-anchor\n{}\n",
            lab.resolver,
            anchor.display()
        );
        for (from, to) in &lab.routes {
            lines.push_str(&format!("--route\n{from}={to}\n"));
        }
        std::fs::write(path, lines)
            .map_err(|e| Failure(format!("{}: cannot write: {e}", path.display())))?;
    }
    let domains: Vec<String> = match generated {
        Some(n) => vec![format!(
            "{} ... {} (generated)",
            mxdane::demo::generated_name(0),
            mxdane::demo::generated_name(usize::try_from(n.saturating_sub(1)).unwrap_or(0))
        )],
        None => mxdane::demo::DOMAINS
            .iter()
            .map(|d| format!("{d}.test"))
            .collect(),
    };
    let text = format!(
        "The lab world is up for {seconds} s (or until interrupted). Point mxdane at it with:\n\n  \
         FLAGS=\"{flags}\"\n\nfor example:\n\n  mxdane check ee.test $FLAGS\n  mxdane dns twomx.test \
         $(echo $FLAGS | sed 's/ --route.*//')\n  mxdane tlsa verify --chain NEW.pem --host mx.next.test $FLAGS\n\n\
         domains: {}\n",
        domains.join(" ")
    );
    {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(crate::printable(&text).as_bytes());
        let _ = stdout.flush();
    }
    std::thread::sleep(Duration::from_secs(seconds));
    let _ = std::fs::remove_file(&anchor);
    Ok(0)
}

/// The domains the demo checks, with what each shows.
const DEMO: &[(&str, &str)] = &[
    ("ee", "DANE-EE, verified on IPv4 and IPv6"),
    ("ta", "DANE-TA, verified through the issuing CA"),
    ("mismatch", "a TLSA record for another key"),
    ("twomx", "the second MX host presents the wrong certificate"),
    ("strip", "a man in the middle strips STARTTLS"),
    ("bogus", "the TLSA signature has expired"),
    (
        "nsfail",
        "one authoritative server answers SERVFAIL for TLSA",
    ),
    ("insecure", "an unsigned domain: DANE does not apply"),
];

/// `mxdane lab demo`.
pub(crate) fn demo(json_out: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let started = std::time::Instant::now();
    let lab = mxdane::demo::start().map_err(Failure)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start the async runtime: {e}")))?;
    let options = Options {
        settings: Settings {
            step: Duration::from_secs(5),
            total: Duration::from_secs(30),
            ..Settings::default()
        },
        ..Options::default()
    };
    let mut all = Vec::new();
    if !json_out {
        crate::say!(
            out,
            "A private signed root, {} zones and {} mail servers are running in this process.\n",
            lab.world.zones().len(),
            lab.smtp_routes
                .iter()
                .map(|(_, to)| *to)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
    }
    for (domain, what) in DEMO {
        let name =
            Name::try_parse(&format!("{domain}.test.")).map_err(|e| Failure(e.to_string()))?;
        let report = runtime.block_on(check::check(lab.env.clone(), name, options.clone()));
        if json_out {
            all.push(mxdane::view::check(&report, "lab"));
        } else {
            crate::say!(out, "== mxdane check {domain}.test   ({what})");
            print_text(&report, false, out)?;
            crate::say!(out);
        }
    }
    if json_out {
        crate::say!(
            out,
            "{}",
            serde_json::to_string(&all).map_err(|e| Failure(e.to_string()))?
        );
    } else {
        crate::say!(
            out,
            "{} domains checked in {:.1} s.",
            DEMO.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(0)
}
