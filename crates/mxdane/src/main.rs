//! The `mxdane` command line. Library crates return errors; this binary prints them.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

// Each command's exit statuses, as its `--help` prints them. README's "Output and exit
// status" table says the same, and `m02_documented_exit_codes_are_the_real_ones` (tests/check.rs)
// compares both with real runs.
const EXIT_CODES: &str = "\
Exit status: each command's --help lists its own. 0 is success, 1 a negative result, 2 bad
input or usage; `check` follows the monitoring-plugin convention (0 ok, 1 warning, 2 critical,
3 unknown or usage error), and the pre-deployment gate (`tlsa verify --host`) exits 3 when it
cannot tell.";

const DNS_EXIT_CODES: &str = "\
Exit status:
  0  the destination is deliverable (a plan with at least one host)
  1  it is not: deferred (a lookup failed or is bogus, no usable host), no such
     domain, or null MX
  2  bad input or usage (an invalid name, a resolver that cannot be used)";

#[cfg(feature = "lab")]
const DEMO_EXIT_CODES: &str = "\
Exit status:
  0  the domains were checked (each verdict is in the output, not in the status)
  2  the lab could not start";

/// DANE for SMTP (RFC 6698, 7671, 7672): TLSA records and DNSSEC-validated delivery plans.
#[derive(Parser, Debug)]
#[command(name = "mxdane", version, after_help = EXIT_CODES)]
struct Cli {
    /// Print JSON instead of text (schemas in docs/json.md).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// TLSA records: generate, lint, verify.
    #[command(subcommand)]
    Tlsa(TlsaCommand),
    /// The RFC 7672 delivery plan for a domain (or --host): MX hosts in order, each with its
    /// addresses, TLSA records, DNSSEC statuses and decision (dane, tls-mandatory,
    /// opportunistic, skip).
    #[command(after_help = DNS_EXIT_CODES)]
    Dns(dns_cmd::DnsArgs),
    /// Check a domain's DANE deployment: every MX host, address, key algorithm and
    /// authoritative nameserver, with a verdict for monitoring.
    #[command(after_help = CHECK_EXIT_CODES)]
    Check(check_cmd::CheckArgs),
    /// Key and certificate rollover that no sender ever sees: current + next (or current +
    /// issuer) records, RFC 2136 updates, the 2 x TTL gate on every authoritative server.
    Rollover(rollover_cmd::RolloverArgs),
    /// Continuous monitoring: every target checked at its interval, a change confirmed by a
    /// second check, the history in SQLite, /metrics, /status and a JSON API over HTTP.
    #[command(after_help = monitor_cmd::MONITOR_EXIT_CODES)]
    Monitor(monitor_cmd::MonitorArgs),
    /// DANE adoption and breakage across many domains: one JSON line per domain, in input
    /// order, one SMTP probe per shared host, a summary and a chart; resumable.
    #[command(after_help = survey_cmd::SURVEY_EXIT_CODES)]
    Survey(survey_cmd::SurveyArgs),
    /// Deliver one message as a DANE sender does (RFC 7672), under Postfix's TLS levels or a
    /// policy table; Postfix-style log lines; sendmail's exit codes.
    #[command(after_help = send_cmd::SEND_EXIT_CODES)]
    Send(send_cmd::SendArgs),
    /// The simulated world, for trying mxdane without the internet.
    #[cfg(feature = "lab")]
    #[command(subcommand)]
    Lab(LabCommand),
    /// Print a shell completion script (e.g. `mxdane completions bash >
    /// /etc/bash_completion.d/mxdane`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page in roff (e.g. `mxdane man > mxdane.1; man ./mxdane.1`).
    Man,
}

#[cfg(feature = "lab")]
#[derive(Subcommand, Debug)]
enum LabCommand {
    /// Start an in-process signed world with mail servers, good and broken, and check a
    /// handful of its domains (seconds, no network beyond loopback).
    #[command(after_help = DEMO_EXIT_CODES)]
    Demo,
    /// Start the same world and keep it up, printing the flags that point `dns`, `check` and
    /// `tlsa verify --host` at it, so any command can be tried on any lab domain.
    Serve {
        /// How long to keep it up, in seconds (it also stops when interrupted).
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        seconds: u64,
        /// Serve a generated world of N domains (d0.signed.test, d8.plain.test, ...: six in ten
        /// DANE-verified, one broken, one signed without TLSA, two unsigned) instead of the demo.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        generated: Option<u64>,
        /// The lab's latency knob: every server answers this many milliseconds late.
        #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
        latency_ms: u64,
        /// Also write the flags, one per line, to this file (for scripts and benchmarks).
        #[arg(long, value_name = "FILE")]
        flags_file: Option<std::path::PathBuf>,
    },
}

const CHECK_EXIT_CODES: &str = "\
Exit status (monitoring-plugin convention, equal to the verdict):
  0  ok
  1  warning (nameservers disagree, expiring signatures or certificates, DANE not in
     effect, a host unreachable or not triable while others work, a work bound reached)
  2  critical (a DANE host fails on any address or algorithm, a bogus TLSA or MX lookup,
     TLSA lookups failing while others work, no host can be tried at all)
  3  unknown (the checker cannot tell: its resolver is unreachable, broken or does not
     validate) or a usage error";

/// An error for the user: one sentence naming the input; exit status 2.
pub(crate) struct Failure(String);

/// Runs `f` to completion on a runtime of its own (the DNS lookups are asynchronous).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(f))
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    // `--version` names the libunbound it runs with (and says when that one is too old).
    let version: &'static str = Box::leak(
        format!(
            "{} (libunbound {}{})",
            env!("CARGO_PKG_VERSION"),
            mxdane_unbound::version(),
            if mxdane_unbound::version_warning().is_some() {
                ", older than the fixes of 1.19.1"
            } else {
                ""
            }
        )
        .into_boxed_str(),
    );
    let parsed = Cli::command()
        .version(version)
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // The subcommand, as clap reads it (not a scan of the arguments): its convention
            // decides a usage error's status.
            let sub = Cli::command()
                .ignore_errors(true)
                .try_get_matches()
                .ok()
                .and_then(|m| m.subcommand_name().map(str::to_owned));
            let code = e.exit_code();
            if code == 0 {
                // --help and --version.
                let _ = e.print();
            } else {
                // Usage errors read like every other error: "mxdane: ...".
                let text = e.render().to_string();
                let text = text.strip_prefix("error: ").unwrap_or(&text);
                eprint!("mxdane: {}", printable(text));
            }
            return ExitCode::from(match failure_status(sub.as_deref()) {
                Some(status) if code != 0 => status,
                _ => u8::try_from(code).unwrap_or(2),
            });
        }
    };
    let status_on_failure = failure_status(Some(match cli.command {
        Command::Check(_) => "check",
        Command::Send(_) => "send",
        _ => "",
    }))
    .unwrap_or(2);
    // The whole output is made first and written last: the exit status is the verdict's
    // whether or not anyone still reads standard output (`mxdane check ... | head -1`).
    let mut out: Vec<u8> = Vec::new();
    let result = match &cli.command {
        Command::Tlsa(TlsaCommand::Generate(a)) => tlsa_cmd::generate(a, cli.json, &mut out),
        Command::Tlsa(TlsaCommand::Lint(a)) => tlsa_cmd::lint(a, cli.json, &mut out),
        Command::Tlsa(TlsaCommand::Verify(a)) => tlsa_cmd::verify(a, cli.json, &mut out),
        Command::Dns(a) => dns_cmd::run(a, cli.json, &mut out),
        Command::Check(a) => check_cmd::run(a, cli.json, &mut out),
        Command::Rollover(a) => rollover_cmd::run(a, cli.json, &mut out),
        Command::Monitor(a) => monitor_cmd::run(a, cli.json, &mut out),
        Command::Survey(a) => survey_cmd::run(a),
        Command::Send(a) => send_cmd::run(a, cli.json, &mut out),
        #[cfg(feature = "lab")]
        Command::Lab(LabCommand::Demo) => lab_cmd::demo(cli.json, &mut out),
        #[cfg(feature = "lab")]
        Command::Lab(LabCommand::Serve {
            seconds,
            generated,
            latency_ms,
            flags_file,
        }) => lab_cmd::serve(*seconds, *generated, *latency_ms, flags_file.as_deref()),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "mxdane", &mut out);
            Ok(0)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .map(|()| 0)
            .map_err(|e| Failure(format!("cannot render the manual page: {e}"))),
    };
    let written = {
        let mut stdout = io::stdout().lock();
        stdout.write_all(&out).and_then(|()| stdout.flush())
    };
    let failed = |msg: String| {
        eprintln!("mxdane: {}", printable(&msg));
        ExitCode::from(status_on_failure)
    };
    match (result, written) {
        (Err(Failure(msg)), _) => failed(msg),
        (Ok(code), Ok(())) => ExitCode::from(code),
        (Ok(code), Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(code),
        (Ok(_), Err(e)) => failed(format!("cannot write output: {e}")),
    }
}

/// The status of a usage error or a failure of the subcommand `sub`, where its convention is
/// not ours (2): `check` follows the monitoring-plugin convention (unknown, 3), `send`
/// sendmail's (EX_USAGE, 64).
fn failure_status(sub: Option<&str>) -> Option<u8> {
    match sub {
        Some("check") => Some(3),
        Some("send") => Some(send_cmd::EX_USAGE),
        _ => None,
    }
}

impl Failure {
    fn from_io(e: io::Error) -> Self {
        Failure(format!("cannot write output: {e}"))
    }
}

/// Prints a JSON document on one line (docs/json.md).
pub(crate) fn say_json(out: &mut impl Write, v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string(v).map_err(|e| Failure(format!("cannot write JSON: {e}")))?;
    say!(out, "{text}");
    Ok(())
}

/// `text` with control characters (from DNS names, server replies, input files) escaped as
/// `\xNN`, so that nothing a remote party sends can steer the terminal. Line breaks and tabs
/// that the report itself writes stay.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}';
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Writes one line of the report (control characters escaped; see [`printable`]).
macro_rules! say {
    ($out:expr) => {
        writeln!($out).map_err(Failure::from_io)?
    };
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, "{}", $crate::printable(&format!($($arg)*))).map_err(Failure::from_io)?
    };
}
pub(crate) use say;

mod cli;
#[cfg(feature = "lab")]
use cli::lab as lab_cmd;
use cli::tlsa::TlsaCommand;
use cli::{
    check as check_cmd, dns as dns_cmd, monitor as monitor_cmd, rollover as rollover_cmd,
    send as send_cmd, survey as survey_cmd, tlsa as tlsa_cmd,
};

#[cfg(test)]
mod tests {
    use super::printable;

    // Issue 13: control characters from names, replies and files never reach the terminal.
    #[test]
    fn control_characters_are_escaped_and_text_is_left_alone() {
        assert_eq!(printable("mx.example.test."), "mx.example.test.");
        assert_eq!(printable("a\u{1b}[31mb\u{7}"), "a\\x1b[31mb\\x07");
        assert_eq!(printable("del\u{7f} c1\u{9b}"), "del\\x7f c1\\x9b");
        assert_eq!(printable("line\n\tindented é"), "line\n\tindented é");
    }
}
