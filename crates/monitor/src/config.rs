//! The monitor's configuration (TOML). Unknown keys are errors; `--print-config` writes every
//! default out.
//!
//! ```toml
//! listen = "127.0.0.1:9417"          # /metrics, /status, /api/v1/..., /
//! history = "/var/lib/mxdane/monitor.db" # or postgres://user@host/db, shared by a fleet
//! lease = 600                         # fleet: seconds a claimed target stays claimed
//! interval = 300                      # seconds between checks of a target (60 to 86400)
//! concurrency = 8                     # checks at once
//! per-address = 2                     # SMTP sessions to one IP address at once
//! retention-days = 90                 # history older than this is deleted
//! expiry-days = 7                     # warn about signatures and certificates ending sooner
//! require-next = false               # warn about a host with one DANE-EE record and no other
//! rollover = "/etc/mxdane/rollover.toml" # watch `mxdane rollover`'s lanes too (lookahead)
//! rollover-patience = 3600            # how long due rollover work may wait before a warning
//!
//! [[target]]
//! domain = "example.com"              # every MX host of the domain
//!
//! [[target]]
//! host = "mx.example.net"             # one host (`mxdane check --host`)
//! port = 25
//! interval = 60
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Where the HTTP endpoints listen.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The history: a SQLite file, or a `postgres://` URL that several instances share
    /// (each target is then checked by one of them at a time).
    #[serde(default = "default_history")]
    pub history: PathBuf,
    /// With a shared history: how long an instance holds the targets it claimed; an instance
    /// that dies gives them back after this long. Longer than a check can take.
    #[serde(default = "default_lease")]
    pub lease: u32,
    /// Seconds between checks of a target, unless the target says otherwise.
    #[serde(default = "default_interval")]
    pub interval: u32,
    /// Checks at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// SMTP sessions open to one IP address at once, across all targets (many domains share
    /// a provider's MX hosts; never hammer one).
    #[serde(default = "default_per_address")]
    pub per_address: u32,
    /// Days of history kept.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// Warn about signatures and certificates that end within this many days.
    #[serde(default = "default_expiry")]
    pub expiry_days: u32,
    /// Warn about a host whose TLSA RRset is one DANE-EE record and nothing else (no "next"
    /// key's record, no issuer record): a key change would break DANE.
    #[serde(default)]
    pub require_next: bool,
    /// `mxdane rollover`'s configuration: each of its lanes becomes a target named
    /// `rollover:SERVICE:ALGORITHM`, judged by [`crate::lookahead::rollover`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover: Option<PathBuf>,
    /// Seconds that due rollover work (or a record on its way to every server) may wait
    /// before it is a warning.
    #[serde(default = "default_patience")]
    pub rollover_patience: u32,
    /// What to check.
    #[serde(rename = "target", default)]
    pub targets: Vec<Target>,
    /// Where state changes are sent.
    #[serde(rename = "alert", default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
}

/// A destination for state changes: a webhook that receives a JSON document with a timestamp
/// and a delivery id, signed with HMAC-SHA256 over both and the body (headers
/// `X-Mxdane-Timestamp`, `X-Mxdane-Id`, `X-Mxdane-Signature: sha256=HEX`), or an email address that receives a
/// message through the monitor's own DANE-aware SMTP client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Alert {
    /// The URL: https, or http with `allow-http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// Lets the webhook be a plain http URL (a receiver on this machine or on a network the
    /// operator trusts): the alerts and their signatures then cross it in the clear.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
    /// A file holding the webhook's shared secret (its first line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// An email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The email's sender address (default `mxdane-monitor@` and the machine's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// Whether `a` looks like a mailbox address (`local@domain`, printable, no spaces or brackets).
fn is_address(a: &str) -> bool {
    a.len() <= 254
        && a.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && (d.contains('.') || d == "localhost"))
        && !a
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

fn default_listen() -> String {
    "127.0.0.1:9417".into()
}
fn default_history() -> PathBuf {
    PathBuf::from("/var/lib/mxdane/monitor.db")
}
fn default_patience() -> u32 {
    3600
}
fn default_lease() -> u32 {
    600
}
fn default_interval() -> u32 {
    300
}
fn default_concurrency() -> u32 {
    8
}
fn default_per_address() -> u32 {
    2
}
fn default_retention() -> u32 {
    90
}
fn default_expiry() -> u32 {
    7
}
fn default_port() -> u16 {
    25
}

/// One thing to check: a mail domain (all its MX hosts) or a single host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Target {
    /// A mail domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// A single host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The SMTP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Seconds between checks (the global interval when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
}

impl Target {
    /// The target's name: the domain, or `host:port` for a host.
    pub fn name(&self) -> String {
        match (&self.domain, &self.host) {
            (Some(d), _) => d.trim_end_matches('.').to_ascii_lowercase(),
            (None, Some(h)) => format!(
                "{}:{}",
                h.trim_end_matches('.').to_ascii_lowercase(),
                self.port
            ),
            (None, None) => String::new(),
        }
    }

    /// The DNS name to check (a domain or a host).
    pub fn dns_name(&self) -> &str {
        self.domain
            .as_deref()
            .or(self.host.as_deref())
            .unwrap_or("")
    }

    /// Whether it is a single host.
    pub fn is_host(&self) -> bool {
        self.domain.is_none()
    }
}

/// A configuration that cannot be used, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

const INTERVALS: std::ops::RangeInclusive<u32> = 60..=86_400;

impl Config {
    /// Parses and checks a configuration; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let c: Config =
            toml::from_str(text).map_err(|e| ConfigError(format!("{origin}: {}", e.message())))?;
        c.check()
            .map_err(|e| ConfigError(format!("{origin}: {e}")))?;
        Ok(c)
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The configuration with every default written out.
    pub fn effective(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// The history's location as text (a path or a URL).
    pub fn history_location(&self) -> String {
        self.history.to_string_lossy().into_owned()
    }

    /// Whether the history is a PostgreSQL database shared by a fleet.
    pub fn is_fleet(&self) -> bool {
        crate::db::is_postgres(&self.history_location())
    }

    /// The interval of a target.
    pub fn interval_of(&self, t: &Target) -> u32 {
        t.interval.unwrap_or(self.interval)
    }

    fn check(&self) -> Result<(), String> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "listen \"{}\": an address and port such as 127.0.0.1:9417",
                self.listen
            ));
        }
        if !INTERVALS.contains(&self.interval) {
            return Err(format!(
                "interval {} is outside 60 to 86400 s",
                self.interval
            ));
        }
        if !(60..=7 * 86_400).contains(&self.rollover_patience) {
            return Err(format!(
                "rollover-patience {} is outside 60 s to 7 days",
                self.rollover_patience
            ));
        }
        if self.rollover.is_some() && self.is_fleet() {
            return Err("rollover: the rollover state is on one machine; watch it from a monitor with a SQLite history".into());
        }
        if !(60..=86_400).contains(&self.lease) {
            return Err(format!("lease {} is outside 60 to 86400 s", self.lease));
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err(format!(
                "concurrency {} is outside 1 to 1024",
                self.concurrency
            ));
        }
        if !(1..=64).contains(&self.per_address) {
            return Err(format!(
                "per-address {} is outside 1 to 64",
                self.per_address
            ));
        }
        if self.retention_days == 0 {
            return Err("retention-days 0 would keep no history".into());
        }
        for (i, a) in self.alerts.iter().enumerate() {
            let at = format!("alert {}", i + 1);
            match (&a.webhook, &a.email) {
                (Some(w), None) => {
                    if !(w.starts_with("https://") || w.starts_with("http://")) {
                        return Err(format!("{at}: webhook \"{w}\" is not an http or https URL"));
                    }
                    if w.starts_with("http://") && !a.allow_http {
                        return Err(format!(
                            "{at}: webhook \"{w}\" is plain http: the alerts would cross the network unencrypted and unauthenticated; use https, or set allow-http = true for a receiver on this machine or a network you trust"
                        ));
                    }
                    if a.secret_file.is_none() {
                        return Err(format!("{at}: a webhook needs secret-file"));
                    }
                    if a.from.is_some() {
                        return Err(format!("{at}: from is for email alerts"));
                    }
                }
                (None, Some(e)) => {
                    if !is_address(e) {
                        return Err(format!("{at}: email \"{e}\" is not a mail address"));
                    }
                    if let Some(f) = &a.from
                        && !is_address(f)
                    {
                        return Err(format!("{at}: from \"{f}\" is not a mail address"));
                    }
                    if a.secret_file.is_some() {
                        return Err(format!("{at}: secret-file is for webhooks"));
                    }
                    if a.allow_http {
                        return Err(format!("{at}: allow-http is for webhooks"));
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{at}: webhook and email both given; one alert is one of them"
                    ));
                }
                (None, None) => return Err(format!("{at}: needs webhook or email")),
            }
        }
        let mut names = BTreeSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            let at = format!("target {}", i + 1);
            match (&t.domain, &t.host) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{at}: domain and host both given; one target is one of them"
                    ));
                }
                (None, None) => return Err(format!("{at}: needs domain or host")),
                _ => {}
            }
            let n = t.dns_name();
            if n.is_empty()
                || n.len() > 253
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            {
                return Err(format!(
                    "{at}: \"{n}\" is not a host name (IDN names go in as A-labels, xn--...)"
                ));
            }
            // What the runner parses, parsed here: a name that would not parse is a
            // configuration error, never a target silently left unchecked.
            if let Err(e) = mxdane_tlsa::Name::try_parse(n) {
                return Err(format!("{at}: \"{n}\" is not a host name: {e}"));
            }
            if t.port == 0 {
                return Err(format!("{at}: port 0"));
            }
            if let Some(i) = t.interval
                && !INTERVALS.contains(&i)
            {
                return Err(format!("{at}: interval {i} is outside 60 to 86400 s"));
            }
            if !names.insert(t.name()) {
                return Err(format!("{at}: \"{}\" is listed twice", t.name()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[target]]
domain = "Example.COM."
[[target]]
host = "mx.example.net"
interval = 60
"#;

    #[test]
    fn a_good_file_its_defaults_and_its_names() {
        let c = Config::parse(GOOD, "m.toml").unwrap();
        assert_eq!(c.interval, 300);
        assert_eq!(c.targets[0].name(), "example.com");
        assert_eq!(c.targets[1].name(), "mx.example.net:25");
        assert_eq!(c.interval_of(&c.targets[1]), 60);
        assert_eq!(c.interval_of(&c.targets[0]), 300);
        let eff = c.effective();
        assert!(eff.contains("retention-days = 90"), "{eff}");
        assert_eq!(Config::parse(&eff, "effective").unwrap(), c);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, want) in [
            (
                format!("{GOOD}intervall = 5\n"),
                "unknown field `intervall`",
            ),
            ("interval = 10\n".to_owned(), "outside 60 to 86400"),
            (
                "listen = \"everywhere\"\n".to_owned(),
                "an address and port",
            ),
            (
                "[[target]]\ndomain = \"a.example\"\nhost = \"b.example\"\n".to_owned(),
                "both given",
            ),
            ("[[target]]\nport = 25\n".to_owned(), "needs domain or host"),
            (
                "[[target]]\ndomain = \"bad name\"\n".to_owned(),
                "not a host name",
            ),
            // Characters a host name may hold, in a name that does not parse (an empty label,
            // a label over 63 octets): refused, not left unchecked by the runner.
            (
                "[[target]]\ndomain = \"a..example\"\n".to_owned(),
                "not a host name",
            ),
            (
                format!("[[target]]\ndomain = \"{}.example\"\n", "a".repeat(64)),
                "not a host name",
            ),
            (
                "[[target]]\ndomain = \"a.example\"\n[[target]]\ndomain = \"A.example.\"\n"
                    .to_owned(),
                "listed twice",
            ),
            (
                "[[target]]\nhost = \"a.example\"\ninterval = 5\n".to_owned(),
                "target 1: interval 5",
            ),
            ("retention-days = 0\n".to_owned(), "keep no history"),
            ("lease = 5\n".to_owned(), "lease 5 is outside 60 to 86400"),
            (
                "per-address = 0\n".to_owned(),
                "per-address 0 is outside 1 to 64",
            ),
            (
                "[[alert]]\nwebhook = \"ftp://x\"\nsecret-file = \"/s\"\n".to_owned(),
                "alert 1: webhook",
            ),
            (
                "[[alert]]\nwebhook = \"https://x\"\n".to_owned(),
                "alert 1: a webhook needs secret-file",
            ),
            (
                "[[alert]]\nwebhook = \"http://hooks.example/x\"\nsecret-file = \"/s\"\n"
                    .to_owned(),
                "alert 1: webhook \"http://hooks.example/x\" is plain http",
            ),
            (
                "[[alert]]\nemail = \"ops@example.net\"\nallow-http = true\n".to_owned(),
                "alert 1: allow-http is for webhooks",
            ),
            (
                "[[alert]]\nemail = \"ops at example\"\n".to_owned(),
                "alert 1: email \"ops at example\" is not a mail address",
            ),
            (
                "[[alert]]\nemail = \"ops@example.net\"\nwebhook = \"https://x\"\n".to_owned(),
                "both given",
            ),
            ("[[alert]]\n".to_owned(), "alert 1: needs webhook or email"),
        ] {
            let e = Config::parse(&text, "m.toml").unwrap_err().to_string();
            assert!(e.starts_with("m.toml: ") && e.contains(want), "{want}: {e}");
        }
    }
}
